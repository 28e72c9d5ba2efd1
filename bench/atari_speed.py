"""Training speed on Atari, deepq next to Stable-Baselines3 with the RL Zoo's atari block, in one run on this
machine: the same game (PongNoFrameskip-v4), the same preprocessing (no-op reset, frame skip 4 with max-pooling,
84x84 grayscale, 4 stacked frames, life loss and reward clipping for training), the same Nature CNN and
hyperparameters (Adam 1e-4, batch 32, one update every 4 steps, target copy every 1,000 env steps), a buffer of
--capacity, --steps env steps of which the first --learning-starts only collect.

    python bench/atari_speed.py --steps 10000 --learning-starts 2000

Prints env steps per second of training (collection + updates, no evaluation) for each, and their ratio.
A full 10M-step run is out of reach on a 2-core CPU (see docs/pixels.md for the GPU script).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def deepq_sps(steps: int, learning_starts: int, capacity: int, seed: int) -> float:
    import deepq
    from deepq.config.schema import resolve

    cfg = resolve("PongNoFrameskip-v4", seed=seed, overrides={
        "train.total_steps": steps, "train.learning_starts": learning_starts, "replay.capacity": capacity,
        "eval.interval": 0, "log.tensorboard": False, "log.plot": False, "log.checkpoint_interval": 0,
        "log.progress": False})
    agent = deepq.train(cfg, quiet=True)
    return agent.result.env_steps / agent.result.train_seconds


def sb3_sps(steps: int, learning_starts: int, capacity: int, seed: int) -> float:
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=seed), n_stack=4)
    # the RL Zoo's atari block (hyperparams/dqn.yml), with the buffer and budget of this benchmark
    model = DQN("CnnPolicy", env, learning_rate=1e-4, buffer_size=capacity, learning_starts=learning_starts,
                batch_size=32, train_freq=4, gradient_steps=1, target_update_interval=1000,
                exploration_fraction=0.1, exploration_final_eps=0.01, optimize_memory_usage=False, seed=seed,
                device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--learning-starts", type=int, default=2_000)
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, fn in (("deepq", deepq_sps), ("SB3 + RL Zoo atari", sb3_sps)):
        torch.set_num_threads(1)
        rows.append((name, fn(args.steps, args.learning_starts, args.capacity, args.seed)))
    print(f"PongNoFrameskip-v4, {args.steps:,} env steps ({args.learning_starts:,} before learning), buffer "
          f"{args.capacity:,}, torch threads 1")
    print("| library | env steps/s of training |")
    print("|---|---|")
    for name, sps in rows:
        print(f"| {name} | {sps:.0f} |")
    print(f"deepq / SB3: {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
