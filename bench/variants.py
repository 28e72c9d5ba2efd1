"""Benchmark: every DQN variant and every notebook preset on CartPole-v1, over seeds, side by side.

    python bench/variants.py                                   # every row, seeds 0-4
    python bench/variants.py --seeds 0-2 --notebook-budget 100000
    python bench/variants.py --rows default,prioritized,n_step=3 --seeds 0-9
    python bench/variants.py --list                            # the rows and what each sets
    python bench/variants.py --rows notebook-003 --own-criteria   # a notebook's own env and solve threshold

Each (row, seed) trains in a fresh process (no warm caches carry over), as bench/solve_cartpole.py does. Every row
runs on CartPole-v1 with its standard 500-step limit and is "solved" at the standard 475, whatever the notebook's
own environment and criterion were (001: CartPole-v0 with 1000 steps and 300; 002: 300-step episodes and 200;
003: 225; 004: 450), so that the rows compare; in-training evaluations follow the default preset's protocol for
every row: every `--eval-interval` (1000) env steps, `--eval-episodes` (30) greedy episodes, of which the last 20
run only if the first `--eval-screen` (10) reach 475. The final agent (the first solved one, else the last one) is scored on
100 greedy episodes with reset seeds 1000-1099. With --own-criteria the notebook rows keep their own environment,
threshold and evaluation (what the notebook itself aimed at); the final score is then on that environment.

Prints one line per run, then the table: solve rate, median env steps and seconds to solve (over the solved
seeds), and the final score (mean over seeds of the 100-episode mean, and the worst seed's mean).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from deepq.config.schema import load_preset

WORKER = r"""
import json, sys
import deepq
from deepq.config.schema import parse_override, resolve
preset, seed = sys.argv[1], int(sys.argv[2])
overrides = dict(parse_override(o) for o in sys.argv[3:])
cfg = resolve(preset=preset, overrides=overrides, seed=seed)
agent = deepq.train(cfg, quiet=True)
r = agent.result
ev = deepq.evaluate(agent, episodes=100, seed=1000)
print(json.dumps({"seed": seed, "env": cfg.env.id, "threshold": r.threshold, "solved": r.solved,
                  "solved_at": r.solved_at_env_steps, "s_to_solve": r.seconds_to_solve, "env_steps": r.env_steps,
                  "grad_steps": r.grad_steps, "episodes": r.episodes, "train_s": r.train_seconds, "final_mean": ev.mean,
                  "final_min": ev.min, "budget": cfg.train.total_steps}))
"""

TUNED = "CartPole-v1"
# name -> (preset, overrides). Variants change one thing (or a few) on the tuned default preset.
ROWS: dict[str, tuple[str, list[str]]] = {
    "default": (TUNED, []),
    "prioritized": (TUNED, ["replay.kind=prioritized"]),
    "loss_softmax": (TUNED, ["replay.kind=loss_softmax"]),
    "n_step=3": (TUNED, ["replay.n_step=3"]),
    "dueling": (TUNED, ["network.dueling=true"]),
    "per+n3+dueling": (TUNED, ["replay.kind=prioritized", "replay.n_step=3", "network.dueling=true"]),
    "q_reg=0.1": (TUNED, ["learner.q_regularization=0.1"]),
    "terminal=-100": (TUNED, ["env.terminal_reward=-100"]),
    "online (none)": (TUNED, ["replay.kind=none", "train.train_freq=1"]),
    "notebook-000": ("notebook-000-replay-no-target", []),
    "notebook-001": ("notebook-001-online-q", []),
    "notebook-002a": ("notebook-002a-online-q-reg", []),
    "notebook-002b": ("notebook-002b-replay", []),
    "notebook-002c": ("notebook-002c-loss-softmax", []),
    "notebook-003": ("notebook-003-one-layer-soft-target", []),
    "notebook-004": ("notebook-004-soft-target", []),
}
# every row on the same task, solved at the same bar
COMMON = ["env.id=CartPole-v1", "env.max_episode_steps=", "eval.threshold=", "eval.stop_when_solved=true",
          "log.tensorboard=false"]


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def run(preset: str, seed: int, overrides: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, preset, str(seed), *overrides], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"{preset} seed {seed} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--rows", help="comma-separated row names (default: all; see --list)")
    parser.add_argument("--budget", type=int, help="train.total_steps for every row (default: each preset's own)")
    parser.add_argument("--notebook-budget", type=int, default=100_000,
                        help="cap on train.total_steps for the notebook rows, whose own budgets reach "
                             "1,000,000 (default 100000; 0 = the preset's own)")
    parser.add_argument("--eval-interval", type=int, default=1000,
                        help="env steps between evaluations (1000, as the tuned preset and solve_cartpole.py)")
    parser.add_argument("--eval-episodes", type=int, default=30, help="greedy episodes per evaluation (30)")
    parser.add_argument("--eval-screen", type=int, default=10,
                        help="eval.screen_episodes: the rest run only if these reach the bar (10; 0 = off)")
    parser.add_argument("--own-criteria", action="store_true",
                        help="notebook rows keep their own env, time limit, threshold and evaluation settings")
    parser.add_argument("--json", help="also append one JSON line per run to this file")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    parser.add_argument("overrides", nargs="*", help="key=value applied to every row")
    args = parser.parse_args()

    if args.list:
        for name, (preset, overrides) in ROWS.items():
            print(f"{name:<16} --preset {preset} {' '.join(overrides)}")
        return
    names = args.rows.split(",") if args.rows else list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; see --list")
    seeds = parse_seeds(args.seeds)

    table = []
    for name in names:
        preset, overrides = ROWS[name]
        extra = [*COMMON, f"eval.interval={args.eval_interval}", f"eval.episodes={args.eval_episodes}",
                 f"eval.screen_episodes={args.eval_screen or ''}"]
        if args.own_criteria and name.startswith("notebook-"):
            extra = ["log.tensorboard=false"]
        if args.budget:
            extra.append(f"train.total_steps={args.budget}")
        elif name.startswith("notebook-") and args.notebook_budget:
            own = load_preset(preset)["train"]["total_steps"]
            extra.append(f"train.total_steps={min(own, args.notebook_budget)}")
        runs = []
        for seed in seeds:
            row = run(preset, seed, [*overrides, *extra, *args.overrides])
            row["name"] = name
            runs.append(row)
            print(f"{name:<16} seed {seed}: solved={row['solved']!s:<5} at {row['solved_at']} env steps, "
                  f"{row['train_s']:.1f} s, final {row['final_mean']:.1f} (min {row['final_min']:.0f})", flush=True)
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
        table.append((name, runs))

    bar = "the preset's own threshold" if args.own_criteria else "475"
    print(f"\nseeds {args.seeds}; solved = greedy evaluation mean >= {bar} during training; "
          "final = the run's final agent on 100 greedy episodes (seeds 1000-1099)")
    print(f"| {'row':<16} | solved | env steps to solve | s to solve | final mean | worst final |  budget |")
    print(f"|{'-' * 18}|--------|--------------------|------------|------------|-------------|---------|")
    for name, runs in table:
        solved = [r for r in runs if r["solved"]]
        steps = f"{statistics.median(r['solved_at'] for r in solved):,.0f}" if solved else "-"
        secs = f"{statistics.median(r['s_to_solve'] for r in solved):.1f}" if solved else "-"
        final = statistics.mean(r["final_mean"] for r in runs)
        worst = min(r["final_mean"] for r in runs)
        print(f"| {name:<16} | {len(solved)}/{len(runs):<4} | {steps:>18} | {secs:>10} | {final:>10.1f} | "
              f"{worst:>11.1f} | {runs[0]['budget']:>7,} |")


if __name__ == "__main__":
    main()
