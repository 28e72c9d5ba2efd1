"""What bench/acrobot_vector.py and bench/cartpole_vector.py share: the same preset trained with Gymnasium's env
and with deepq's arrays, seed by seed in fresh processes, and whether the two made the same run, only sooner."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from benchinfo import code_line, machine_line

ENVS = ("gymnasium", "arrays")


def arguments(doc: str) -> argparse.Namespace:
    """The scripts' options (--seeds, --repeats), parsed; then the machine and code lines every bench prints."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--repeats", type=int, default=1, help="runs per (seed, env)")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    return args

# One run: the env's preset trained until solved, with deepq's arrays (`deepq.envs.MODULE.ENABLED`) on or off.
WORKER = r"""
import importlib, json, sys
import deepq
from deepq.config.schema import resolve
seed, arrays, env_id, module = int(sys.argv[1]), sys.argv[2] == "arrays", sys.argv[3], sys.argv[4]
importlib.import_module(f"deepq.envs.{module}").ENABLED = arrays
# Until solved: without the preset's eval.target (Acrobot-v1's trains on to -80 since 2026-12-02)
cfg = resolve(env_id=env_id, seed=seed, overrides={"log.tensorboard": False, "log.plot": False, "eval.target": None})
agent = deepq.train(cfg, quiet=True)
r = agent.result
final = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "env": "arrays" if arrays else "gymnasium", "env_steps": r.env_steps,
                  "solved_at": r.solved_at_env_steps, "train_s": r.train_seconds,
                  "env_s": r.time_breakdown_s.get("env+store", 0.0), "eval_s": r.time_breakdown_s.get("eval", 0.0),
                  "final": final.mean, "final_returns": final.returns}))
"""


def alternate(env_id: str, module: str, seeds: list[int], repeats: int) -> list[dict]:
    """Trains `env_id`'s preset with both envs per seed (and repeat), each in a fresh process (`WORKER`), which
    goes first alternating so that a change in the machine's load hits both."""
    rows = []
    for i, seed in enumerate(seeds):
        for r in range(repeats):
            for env in (ENVS[::-1] if (i + r) % 2 == 0 else ENVS):
                out = subprocess.run([sys.executable, "-c", WORKER, str(seed), env, env_id, module],
                                     capture_output=True, text=True, check=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


def same_runs(rows: list[dict], keys: tuple[str, ...]) -> bool:
    """Whether every arrays run of a seed equals every Gymnasium run of it in `keys`."""
    pairs = by_seed(rows)
    return all(all(a[k] == b[k] for k in keys)
               for runs in pairs.values() for a in runs["gymnasium"] for b in runs["arrays"])


def by_seed(rows: list[dict]) -> dict[int, dict[str, list[dict]]]:
    pairs: dict[int, dict[str, list[dict]]] = {}
    for row in rows:
        pairs.setdefault(row["seed"], {}).setdefault(row["env"], []).append(row)
    return pairs


def train_speedup(rows: list[dict]) -> tuple[float, dict[str, float]]:
    """(median over seeds of Gymnasium's / the arrays' training seconds, each env's training seconds summed)."""
    ratios = [statistics.median(r["train_s"] for r in runs["gymnasium"]) /
              statistics.median(r["train_s"] for r in runs["arrays"]) for runs in by_seed(rows).values()]
    return statistics.median(ratios), {env: sum(r["train_s"] for r in rows if r["env"] == env) for env in ENVS}


def report(env_id: str, rows: list[dict]) -> None:
    """Prints each run, whether both envs made the same runs, and how much sooner the arrays trained."""
    print(f"\n{env_id} preset, trained until solved\n"
          "seed  env        env steps  solved at  train s  env+store s  eval s   final")
    for row in rows:
        print(f"{row['seed']:4d}  {row['env']:9s}  {row['env_steps']:9d}  {row['solved_at'] or 0:9d}  "
              f"{row['train_s']:7.2f}  {row['env_s']:11.2f}  {row['eval_s']:6.2f}  {row['final']:6.1f}")
    same = same_runs(rows, ("env_steps", "solved_at", "final_returns"))
    ratio, total = train_speedup(rows)
    env_total = {env: sum(r["env_s"] + r["eval_s"] for r in rows if r["env"] == env) for env in ENVS}
    print(f"\nsame env steps, solve step and final returns (100 episodes each) in every seed: {same}")
    print(f"train s, gymnasium / arrays: median over seeds {ratio:.2f}x, all seeds together "
          f"{total['gymnasium']:.1f} / {total['arrays']:.1f} = {total['gymnasium'] / total['arrays']:.2f}x "
          f"(env+store and eval s together: {env_total['gymnasium']:.2f} / {env_total['arrays']:.2f})")
