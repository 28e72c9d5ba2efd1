"""Benchmark: one gradient step of each preset's network on each path the learner has, side by side.

    python bench/update_paths.py                              # CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3
    python bench/update_paths.py --envs CartPole-v1 --rounds 40

For each environment, three agents of its preset (same weights) take gradient steps on the same 64 random batches
of the preset's batch size: the NumPy path (deepq/fast/numpy_step.py, what a run on one thread takes), the flat
back-end's PyTorch path (deepq/fast/learner.py's batched kernels) and the autograd learner. All on one thread
(torch and NumPy's BLAS), as `deepq train` runs. The paths take turns, `--rounds` times 50 steps each, so that
a change in the machine's load hits all of them; prints the median microseconds per step and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchinfo import code_line, machine_line  # noqa: E402

ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    import gymnasium as gym
    import numpy as np
    import torch

    from deepq.algo.agent import DQNAgent
    from deepq.config.schema import resolve
    from deepq.data.replay import Batch
    from deepq.machine import blas_threads

    torch.set_num_threads(1)
    print(machine_line())
    print(code_line())
    print(f"\n{'env':<16} {'network':<24} {'batch':>5} {'NumPy us':>9} {'PyTorch flat':>12} {'autograd':>9} "
          f"{'flat/NumPy':>10} {'autograd/NumPy':>14}")
    for env_id in args.envs.split(","):
        cfg = resolve(env_id=env_id, seed=0)
        env = gym.make(env_id)
        obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)
        env.close()
        torch.manual_seed(0)
        numpy_path = DQNAgent(obs_dim, n_actions, cfg)
        flat_torch = DQNAgent(obs_dim, n_actions, cfg)
        flat_torch.load_tensors(numpy_path.tensors())
        flat_torch.learner.numpy_step = None  # the batched PyTorch kernels
        autograd = DQNAgent(obs_dim, n_actions, cfg.replace(**{"learner.backend": "autograd"}))
        autograd.load_tensors(numpy_path.tensors(), with_optimizer=False)
        assert numpy_path.learner.numpy_step is not None, f"{env_id}'s preset does not take the NumPy path"
        rng = np.random.default_rng(0)
        size = cfg.replay.batch_size
        batches = [Batch(rng.normal(size=(size, obs_dim)).astype(np.float32),
                         rng.integers(0, n_actions, size), rng.normal(size=size).astype(np.float32),
                         rng.normal(size=(size, obs_dim)).astype(np.float32),
                         (rng.random(size) < 0.05).astype(np.float32),
                         np.full(size, cfg.learner.gamma ** cfg.replay.n_step, np.float32)) for _ in range(64)]
        times: dict[str, list[float]] = {"numpy": [], "flat": [], "autograd": []}
        with blas_threads(1):
            for _ in range(args.rounds):
                for name, agent in (("numpy", numpy_path), ("flat", flat_torch), ("autograd", autograd)):
                    update = agent.update
                    start = time.perf_counter()
                    for i in range(50):
                        update(batches[i & 63])
                    times[name].append((time.perf_counter() - start) / 50 * 1e6)
        us = {name: statistics.median(v) for name, v in times.items()}
        net = f"{'-'.join(map(str, cfg.network.hidden_sizes))} {'dueling ' if cfg.network.dueling else ''}" \
              f"{cfg.learner.objective}"
        print(f"{env_id:<16} {net:<24} {size:>5} {us['numpy']:>9.0f} {us['flat']:>12.0f} {us['autograd']:>9.0f} "
              f"{us['flat'] / us['numpy']:>10.2f} {us['autograd'] / us['numpy']:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
