"""The GPU check of the pixel tasks, one prepared script for a machine with CUDA (the `device` tool's H200, when a
task is lent one): env steps/s of training on the GPU next to the CPU for MinAtar and Atari, then a short Pong
run on the GPU. Nothing in the tests needs a GPU; without one this script measures the CPU only.

    python bench/gpu_pixels.py                       # ~8 minutes on a GPU machine
    python bench/gpu_pixels.py --pong-steps 500000   # a longer Pong run

Prints a table: task, device, env steps, seconds, env steps/s; and the Pong run's last greedy evaluation.
"""

from __future__ import annotations

import argparse
import time

import torch

import deepq
from deepq.config.schema import resolve

QUIET = {"log.tensorboard": False, "log.plot": False, "log.progress": False, "log.checkpoint_interval": 0}


def sps(env_id: str, device: str, steps: int, learning_starts: int, **overrides) -> tuple[float, float]:
    cfg = resolve(env_id, seed=0, overrides={"train.total_steps": steps, "train.learning_starts": learning_starts,
                                             "train.device": device, "eval.interval": 0, **QUIET, **overrides})
    start = time.perf_counter()
    agent = deepq.train(cfg, quiet=True)
    return time.perf_counter() - start, agent.result.env_steps / agent.result.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minatar-steps", type=int, default=30_000)
    parser.add_argument("--atari-steps", type=int, default=6_000)
    parser.add_argument("--pong-steps", type=int, default=200_000)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, CUDA {'available: ' + torch.cuda.get_device_name(0) if len(devices) > 1 else 'not available'}")
    print("| task | device | env steps | seconds | env steps/s of training |")
    print("|---|---|---|---|---|")
    for env_id, steps, starts, extra in (("MinAtar/Breakout-v1", args.minatar_steps, 5_000, {}),
                                         ("PongNoFrameskip-v4", args.atari_steps, 2_000,
                                          {"replay.capacity": 100_000})):
        for device in devices:
            secs, rate = sps(env_id, device, steps, starts, **extra)
            print(f"| {env_id} | {device} | {steps:,} | {secs:.0f} | {rate:.0f} |", flush=True)
    if "cuda" in devices:
        cfg = resolve("ALE/Pong-v5", seed=0, overrides={
            "train.total_steps": args.pong_steps, "train.learning_starts": 20_000, "train.device": "cuda",
            "replay.capacity": min(args.pong_steps, 1_000_000), "exploration.duration": args.pong_steps // 10,
            "eval.interval": args.pong_steps // 4, "eval.episodes": 5, "env.sticky_actions": 0.0, **QUIET})
        agent = deepq.train(cfg, quiet=True)
        r = agent.result
        print(f"Pong on cuda: {r.env_steps:,} env steps in {r.train_seconds:.0f} s "
              f"({r.env_steps / r.train_seconds:.0f}/s); last greedy evaluation {r.last_eval}")


if __name__ == "__main__":
    main()
