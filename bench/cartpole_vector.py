"""CartPole's vector step: Gymnasium's `CartPoleVectorEnv` against deepq's leaner subclass (deepq.envs.cartpole).

    python bench/cartpole_vector.py                    # step costs, then the CartPole-v1 preset on seeds 100-104
    python bench/cartpole_vector.py --seeds 100-109 --repeats 2

First the cost of one vector step for 1, 8, 10, 30 and 100 copies (the same seed and the same random actions for
both, timed alternately in blocks of 200 steps; the fastest block of 40 for each, as the machine may be shared).
Then the CartPole-v1 preset trained until solved on each seed twice, once with each env (each run in a fresh
process, alternating which goes first from seed to seed), with the run's own time split: both make the same
transitions, so the same env steps and the same final agent (the table checks it), and only the seconds differ.
"""

from __future__ import annotations

import argparse
import time
import warnings

import gymnasium as gym
import numpy as np

from benchinfo import code_line, machine_line, preset_lines
from side_by_side import alternate, same_runs, train_speedup
from deepq.envs.cartpole import CartPoleArrays
from deepq.experiments.multiseed import parse_seeds

WORKER = r"""
import json, sys
import deepq
from deepq.config.schema import resolve
from deepq.envs import cartpole
seed, arrays = int(sys.argv[1]), sys.argv[2] == "arrays"
cartpole.ENABLED = arrays
cfg = resolve(env_id="CartPole-v1", seed=seed, overrides={"log.tensorboard": False, "log.plot": False})
agent = deepq.train(cfg, quiet=True)
r = agent.result
final = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "env": "arrays" if arrays else "gymnasium", "env_steps": r.env_steps,
                  "solved_at": r.solved_at_env_steps, "train_s": r.train_seconds,
                  "env_s": r.time_breakdown_s.get("env+store", 0.0), "eval_s": r.time_breakdown_s.get("eval", 0.0),
                  "final": final.mean, "final_returns": final.returns}))
"""


def step_costs(n: int, blocks: int = 40, block: int = 200) -> tuple[float, float]:
    """(Gymnasium's, deepq's) seconds a vector step: the fastest of `blocks` blocks of `block` steps each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point").unwrapped
    ours = CartPoleArrays(n)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 2, n) for _ in range(block)]
    times = {id(theirs): [], id(ours): []}
    for env in (theirs, ours):
        env.reset(seed=0)
    for _ in range(blocks):
        for env in (theirs, ours):
            start = time.perf_counter()
            for a in actions:
                env.step(a)
            times[id(env)].append((time.perf_counter() - start) / block)
    return min(times[id(theirs)]), min(times[id(ours)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--repeats", type=int, default=1, help="runs per (seed, env)")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    print("\n".join(preset_lines("CartPole-v1")))
    print("\none vector step (us), random actions (episodes of ~20 steps: an autoreset in most steps from 10 copies)"
          "\ncopies  gymnasium  deepq  saved  speed-up")
    for n in (1, 8, 10, 30, 100):
        a, b = (t * 1e6 for t in step_costs(n))
        print(f"{n:6d}  {a:9.1f}  {b:5.1f}  {a - b:5.1f}  {a / b:7.2f}x")

    rows = alternate(WORKER, parse_seeds(args.seeds), args.repeats)
    print("\nCartPole-v1 preset, trained until solved\n"
          "seed  env        env steps  solved at  train s  env+store s  eval s   final")
    for row in rows:
        print(f"{row['seed']:4d}  {row['env']:9s}  {row['env_steps']:9d}  {row['solved_at'] or 0:9d}  "
              f"{row['train_s']:7.2f}  {row['env_s']:11.2f}  {row['eval_s']:6.2f}  {row['final']:6.1f}")
    same = same_runs(rows, ("env_steps", "solved_at", "final_returns"))
    ratio, total = train_speedup(rows)
    env_total = {env: sum(r["env_s"] + r["eval_s"] for r in rows if r["env"] == env) for env in ("gymnasium", "arrays")}
    print(f"\nsame env steps, solve step and final returns (100 episodes each) in every seed: {same}")
    print(f"train s, gymnasium / deepq: median over seeds {ratio:.2f}x, "
          f"all seeds together {total['gymnasium']:.1f} / {total['arrays']:.1f} = "
          f"{total['gymnasium'] / total['arrays']:.2f}x "
          f"(env+store and eval s together: {env_total['gymnasium']:.2f} / {env_total['arrays']:.2f})")

if __name__ == "__main__":
    main()
