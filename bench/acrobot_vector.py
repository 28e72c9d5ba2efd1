"""Acrobot as arrays (deepq.envs.acrobot) against Gymnasium's own AcrobotEnv in a synchronous vector.

    python bench/acrobot_vector.py                    # step costs, then the Acrobot-v1 preset on seeds 100-104
    python bench/acrobot_vector.py --seeds 100-109 --repeats 2

First the cost of one vector step for 1, 4, 10 and 100 copies (random actions, median of 5 timings). Then the
Acrobot-v1 preset trained until solved on each seed twice, once with each env (each run in a fresh process,
alternating which goes first from seed to seed), with the run's own time split: both make the same transitions, so
the same env steps and the same final agent (the table checks it), and only the seconds differ.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

from benchinfo import code_line, machine_line
from side_by_side import alternate, same_runs, train_speedup
from deepq.envs.acrobot import AcrobotVectorEnv
from deepq.experiments.multiseed import parse_seeds

WORKER = r"""
import json, sys
import deepq
from deepq.config.schema import resolve
from deepq.envs import acrobot
seed, arrays = int(sys.argv[1]), sys.argv[2] == "arrays"
acrobot.ENABLED = arrays
cfg = resolve(env_id="Acrobot-v1", seed=seed, overrides={"log.tensorboard": False, "log.plot": False})
agent = deepq.train(cfg, quiet=True)
r = agent.result
print(json.dumps({"seed": seed, "env": "arrays" if arrays else "gymnasium", "env_steps": r.env_steps,
                  "train_s": r.train_seconds, "env_s": r.time_breakdown_s.get("env+store", 0.0),
                  "eval_s": r.time_breakdown_s.get("eval", 0.0),
                  "final": deepq.evaluate(agent, episodes=100, seed=1000).mean}))
"""


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--repeats", type=int, default=1, help="runs per (seed, env)")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    print("\none vector step (us)\ncopies  gymnasium sync  arrays  speed-up")
    for n in (1, 4, 10, 100):
        sync = gym.make_vec("Acrobot-v1", num_envs=n, vectorization_mode="sync")
        steps = max(20, 2000 // n)
        a, b = step_cost(sync, n, steps) * 1e6, step_cost(AcrobotVectorEnv(n), n, steps) * 1e6
        print(f"{n:6d}  {a:14.0f}  {b:6.0f}  {a / b:7.1f}x")

    rows = alternate(WORKER, parse_seeds(args.seeds), args.repeats)
    print("\nAcrobot-v1 preset, trained until solved\n"
          "seed  env        env steps  train s  env+store s  eval s   final")
    for row in rows:
        print(f"{row['seed']:4d}  {row['env']:9s}  {row['env_steps']:9d}  {row['train_s']:7.2f}  "
              f"{row['env_s']:11.2f}  {row['eval_s']:6.2f}  {row['final']:6.1f}")
    ratio, total = train_speedup(rows)
    print(f"\nsame env steps and final scores in every seed: {same_runs(rows, ('env_steps', 'final'))}")
    print(f"train s, gymnasium / arrays: median over seeds {ratio:.2f}x, "
          f"all seeds together {total['gymnasium']:.1f} / {total['arrays']:.1f} = "
          f"{total['gymnasium'] / total['arrays']:.2f}x")


if __name__ == "__main__":
    main()
