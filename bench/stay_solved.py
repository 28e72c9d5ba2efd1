"""Benchmark: does a preset's agent stay solved? (DQN is known to collapse after it first solves CartPole.)

    python bench/stay_solved.py                         # CartPole-v1's preset, seeds 0-9, 100k env steps
    python bench/stay_solved.py --seeds 0-4 --steps 50000 learner.lr=0.001
    python bench/stay_solved.py --env Acrobot-v1 --seeds 100-109 --steps 0     # 0: the preset's own budget

Trains with early stopping off for a fixed budget, evaluating greedily every `eval.interval` env steps, then
scores the agent at the *end* on 100 greedy episodes (reset seeds 1000-1099). Per seed it prints when the run
first reached the task's threshold (the env's reward_threshold) in a check, how many evaluation checks after that
stayed at or above it, and the final score.
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
from deepq.evaluation.solved import solve_threshold
env_id, seed, steps, run_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
overrides = {"eval.stop_when_solved": False, "log.tensorboard": False, "log.plot": False,
             **({"train.total_steps": steps} if steps else {}), **dict(parse_override(o) for o in sys.argv[5:])}
cfg = resolve(env_id=env_id, overrides=overrides, seed=seed)
threshold = solve_threshold(cfg)
agent = deepq.train(cfg, run_dir, quiet=True)
evals = [r for r in read_metrics(f"{run_dir}/metrics.csv") if r["kind"] == "eval"]
first = next((i for i, r in enumerate(evals) if r["eval/mean_return"] >= threshold), None)
after = evals[first + 1:] if first is not None else []
final = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "threshold": threshold, "env_steps": agent.result.env_steps,
                  "first_solved": evals[first]["env_steps"] if first is not None else None,
                  "checks_after": len(after), "held": sum(r["eval/mean_return"] >= threshold for r in after),
                  "final_mean": final.mean, "final_min": final.min, "train_s": agent.result.train_seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="the task; its preset is used (default CartPole-v1)")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--steps", type=int, default=100_000,
                        help="env steps per run (early stopping off); 0: the preset's own budget")
    parser.add_argument("--out", default="runs/stay-solved", help="parent directory for the run directories")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in args.seeds.split(",")]

    budget = f"{args.steps} env steps" if args.steps else "the preset's budget"
    print(f"{args.env}, its preset, {budget}, early stopping off; overrides: {args.overrides}")
    print(f"{'seed':>4} {'first solved':>12} {'checks after':>12} {'held':>10} {'final mean':>10} "
          f"{'final min':>9} {'train s':>8}")
    rows = []
    for seed in seeds:
        out = subprocess.run([sys.executable, "-c", WORKER, args.env, str(seed), str(args.steps),
                              f"{args.out}/{args.env}-seed-{seed}", *args.overrides], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{seed:>4} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{seed:>4} {str(r['first_solved']):>12} {r['checks_after']:>12} {r['held']:>10} "
              f"{r['final_mean']:>10.1f} {r['final_min']:>9.0f} {r['train_s']:>8.1f}", flush=True)
    if not rows:
        return
    threshold = rows[0]["threshold"]
    ok = sum(r["final_mean"] >= threshold for r in rows)
    held = sum(r["held"] for r in rows)
    checks = sum(r["checks_after"] for r in rows)
    print(f"\nends >= {threshold:g} (100 greedy episodes): {ok}/{len(rows)} seeds; evaluation checks >= {threshold:g} "
          f"after the first check at it: {held}/{checks}" + (f" ({100 * held / checks:.0f}%)" if checks else ""))


if __name__ == "__main__":
    main()
