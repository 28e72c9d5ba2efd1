"""Acrobot as arrays (deepq.envs.acrobot) against Gymnasium's own AcrobotEnv in a synchronous vector.

    python bench/acrobot_vector.py                    # step costs, then the Acrobot-v1 preset on seeds 100-104
    python bench/acrobot_vector.py --seeds 100-109 --repeats 2

First the cost of one vector step for 1, 4, 10 and 100 copies (random actions, median of 5 timings). Then the
Acrobot-v1 preset trained until solved on each seed twice, once with each env (each run in a fresh process,
alternating which goes first from seed to seed), with the run's own time split: both make the same transitions, so
the same env steps and the same final agent (the table checks it), and only the seconds differ.
"""

from __future__ import annotations

import statistics
import time

import gymnasium as gym
import numpy as np

from side_by_side import alternate, arguments, report
from deepq.envs.acrobot import AcrobotVectorEnv
from deepq.experiments.multiseed import parse_seeds


def step_cost(envs, n: int, steps: int) -> float:
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 3, n) for _ in range(steps)]
    envs.reset(seed=0)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for a in actions:
            envs.step(a)
        timings.append((time.perf_counter() - start) / steps)
    return statistics.median(timings)


def main() -> None:
    args = arguments(__doc__)
    print("\none vector step (us)\ncopies  gymnasium sync  arrays  speed-up")
    for n in (1, 4, 10, 100):
        sync = gym.make_vec("Acrobot-v1", num_envs=n, vectorization_mode="sync")
        steps = max(20, 2000 // n)
        a, b = step_cost(sync, n, steps) * 1e6, step_cost(AcrobotVectorEnv(n), n, steps) * 1e6
        print(f"{n:6d}  {a:14.0f}  {b:6.0f}  {a / b:7.1f}x")

    rows = alternate("Acrobot-v1", "acrobot", parse_seeds(args.seeds), args.repeats)
    report("Acrobot-v1", rows)

if __name__ == "__main__":
    main()
