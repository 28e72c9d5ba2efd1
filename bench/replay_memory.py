"""Memory and sampling speed of the frame replay (deepq.data.frames) against the transition buffer, for Atari's
84x84 frames in stacks of 4: the resident memory of a full 1M-transition buffer, measured, not computed.

    python bench/replay_memory.py                      # 1M transitions (needs ~8 GB free)
    python bench/replay_memory.py --capacity 200000    # a smaller check

It fills the frame replay through `add_step` as the collector does (one env, episodes of 1,000 steps), reads the
process's resident memory (VmRSS) before and after, then times sampling batches of 32 (n-step 3) from it and from
the transition buffer (obs and next obs as uint8 stacks, SB3's memory-optimised layout) and from a frame replay,
both holding 50,000 transitions (a full 1M transition buffer would need ~56 GB), and from the full one.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from deepq.data.frames import FrameReplay, PrioritizedFrameReplay
from deepq.data.replay import ReplayBuffer


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def fill(buf: FrameReplay, steps: int, rng: np.random.Generator) -> float:
    """Write `steps` rows of random frames (episodes of 1,000 steps); returns seconds per row."""
    obs = rng.integers(0, 256, size=(1, 4, 84, 84), dtype=np.uint8)
    zeros, real = np.zeros(1, np.int64), np.ones(1, bool)
    start = time.perf_counter()
    for t in range(steps):
        end = np.array([t % 1000 == 999])
        buf.add_step(obs, zeros, np.ones(1, np.float32), end, np.zeros(1, bool), real)
        obs = np.roll(obs, -1, axis=1)
    return (time.perf_counter() - start) / steps


def sample_us(buf, rng: np.random.Generator, batches: int = 300) -> float:
    buf.sample(32, rng)
    start = time.perf_counter()
    for _ in range(batches):
        buf.sample(32, rng)
    return (time.perf_counter() - start) / batches / 32 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--prioritized", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    before = rss_bytes()
    if args.prioritized:
        frames = PrioritizedFrameReplay(args.capacity, (4, 84, 84), 0.99, 1, 3, 4, 0.5, 1e-6, 0.4)
    else:
        frames = FrameReplay(args.capacity, (4, 84, 84), 0.99, 1, 3, 4)
    per_row = fill(frames, frames.rows, rng)
    after = rss_bytes()
    print(f"frame replay, {len(frames):,} transitions ({'prioritized' if args.prioritized else 'uniform'}): "
          f"resident memory +{(after - before) / 1e9:.2f} GB (process total {after / 1e9:.2f} GB; "
          f"frames alone {frames.frames.nbytes / 1e9:.2f} GB); add_step {per_row * 1e6:.1f} us per step")
    pairs = ReplayBuffer(50_000, (4, 84, 84), 0.99, np.uint8)
    for start in range(0, 50_000, 1000):
        batch = rng.integers(0, 256, size=(1000, 4, 84, 84), dtype=np.uint8)
        pairs.add(batch, np.zeros(1000, np.int64), np.ones(1000, np.float32), batch, np.zeros(1000, bool))
    small = FrameReplay(50_000, (4, 84, 84), 0.99, 1, 3, 4)
    fill(small, small.rows, rng)
    print("| buffer | transitions | bytes per transition | sample, us per transition (batch 32) |")
    print("|---|---|---|---|")
    print(f"| frame replay (each frame once, n-step 3) | {len(small):,} | "
          f"{small.frames.nbytes / len(small):,.0f} | {sample_us(small, rng):.2f} |")
    print(f"| transition buffer (uint8 obs + next obs) | {len(pairs):,} | "
          f"{(pairs.obs.nbytes + pairs.next_obs.nbytes) / pairs.capacity:,.0f} | {sample_us(pairs, rng):.2f} |")
    print(f"| frame replay (each frame once, n-step 3) | {len(frames):,} | "
          f"{(after - before) / len(frames):,.0f} (measured) | {sample_us(frames, rng):.2f} |")


if __name__ == "__main__":
    main()
