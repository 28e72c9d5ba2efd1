"""Benchmark: the default preset on CartPole-v1 over seeds; time to a solved agent and its final score.

    python bench/solve_cartpole.py                      # seeds 0-9, default preset
    python bench/solve_cartpole.py --seeds 0-4 learner.lr=0.001   # any override, to compare set-ups

Each seed trains in a fresh process (so no warm caches carry over between seeds), stops when its in-training
evaluation is solved, and its final agent is then scored on 100 greedy episodes with reset seeds 1000-1099.
Prints one row per seed, then the median and the worst seed, and where the training time went.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
import deepq
from deepq.config.schema import parse_override, resolve
seed = int(sys.argv[1]); overrides = dict(parse_override(o) for o in sys.argv[3:])
cfg = resolve(env_id=sys.argv[2], overrides=overrides, seed=seed)
t1 = time.perf_counter()
agent = deepq.train(cfg, quiet=True)
r = agent.result
ev = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "solved": r.solved, "env_steps": r.env_steps, "grad_steps": r.grad_steps,
                  "train_s": r.train_seconds, "import_s": t1 - t0, "final_mean": ev.mean, "final_min": ev.min,
                  "breakdown": r.time_breakdown_s}))
"""


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    rows = []
    print(f"{'seed':>4} {'solved':>6} {'env steps':>9} {'grad steps':>10} {'train s':>8} {'final mean':>10} "
          f"{'final min':>9}")
    for seed in parse_seeds(args.seeds):
        out = subprocess.run([sys.executable, "-c", WORKER, str(seed), args.env, *args.overrides],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{seed:>4} {str(row['solved']):>6} {row['env_steps']:>9} {row['grad_steps']:>10} "
              f"{row['train_s']:>8.2f} {row['final_mean']:>10.1f} {row['final_min']:>9.0f}", flush=True)

    times = [r["train_s"] for r in rows]
    worst = max(rows, key=lambda r: r["train_s"])
    ok = sum(r["final_mean"] >= 475 for r in rows)
    print(f"\nfinal agent >= 475 on 100 episodes: {ok}/{len(rows)} seeds; "
          f"final mean over seeds {statistics.mean(r['final_mean'] for r in rows):.1f}")
    print(f"train seconds: median {statistics.median(times):.2f}, worst {worst['train_s']:.2f} (seed {worst['seed']}); "
          f"env steps median {statistics.median(r['env_steps'] for r in rows):.0f}")
    print(f"interpreter + import seconds (not in train time): median "
          f"{statistics.median(r['import_s'] for r in rows):.2f}")
    phases = sorted({k for r in rows for k in r["breakdown"]})
    total = sum(times)
    print("where the training time goes (sum over seeds):")
    for phase in phases:
        s = sum(r["breakdown"].get(phase, 0.0) for r in rows)
        print(f"  {phase:<10} {s:7.2f} s  {100 * s / total:5.1f}%")
    rest = total - sum(sum(r["breakdown"].values()) for r in rows)
    print(f"  {'other':<10} {rest:7.2f} s  {100 * rest / total:5.1f}%  (env/agent construction, logging, loop)")


if __name__ == "__main__":
    main()
