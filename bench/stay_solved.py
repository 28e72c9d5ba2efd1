"""Benchmark: does the default agent stay solved? (DQN is known to collapse after it first solves CartPole.)

    python bench/stay_solved.py                         # default preset, seeds 0-9, 100k env steps
    python bench/stay_solved.py --seeds 0-4 --steps 50000 learner.lr=0.001

Trains with early stopping off for a fixed budget, evaluating greedily every `eval.interval` env steps, then
scores the agent at the *end* on 100 greedy episodes (reset seeds 1000-1099). Per seed it prints when the run
first solved, how many evaluation checks after that stayed >= 475, and the final score.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

WORKER = r"""
import json, sys
import deepq
from deepq.config.schema import parse_override, resolve
from deepq.run.metrics import read_metrics
seed, steps, run_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
overrides = {"eval.stop_when_solved": False, "train.total_steps": steps, "log.tensorboard": False,
             "log.plot": False, **dict(parse_override(o) for o in sys.argv[4:])}
cfg = resolve(env_id="CartPole-v1", overrides=overrides, seed=seed)
agent = deepq.train(cfg, run_dir, quiet=True)
evals = [r for r in read_metrics(f"{run_dir}/metrics.csv") if r["kind"] == "eval"]
first = next((i for i, r in enumerate(evals) if r["eval/mean_return"] >= 475), None)
after = evals[first + 1:] if first is not None else []
final = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "first_solved": evals[first]["env_steps"] if first is not None else None,
                  "checks_after": len(after), "held": sum(r["eval/mean_return"] >= 475 for r in after),
                  "final_mean": final.mean, "final_min": final.min, "train_s": agent.result.train_seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (early stopping off)")
    parser.add_argument("--out", default="runs/stay-solved", help="parent directory for the run directories")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in args.seeds.split(",")]

    print(f"CartPole-v1, default preset, {args.steps} env steps, early stopping off; overrides: {args.overrides}")
    print(f"{'seed':>4} {'first solved':>12} {'checks after':>12} {'held >=475':>10} {'final mean':>10} "
          f"{'final min':>9} {'train s':>8}")
    rows = []
    for seed in seeds:
        out = subprocess.run([sys.executable, "-c", WORKER, str(seed), str(args.steps), f"{args.out}/seed-{seed}",
                              *args.overrides], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{seed:>4} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{seed:>4} {str(r['first_solved']):>12} {r['checks_after']:>12} {r['held']:>10} "
              f"{r['final_mean']:>10.1f} {r['final_min']:>9.0f} {r['train_s']:>8.1f}", flush=True)
    ok = sum(r["final_mean"] >= 475 for r in rows)
    held = sum(r["held"] for r in rows)
    checks = sum(r["checks_after"] for r in rows)
    print(f"\nends >= 475 (100 greedy episodes): {ok}/{len(rows)} seeds; evaluation checks >= 475 after the "
          f"first solve: {held}/{checks}")


if __name__ == "__main__":
    main()
