"""Benchmark: the in-training checks played inline (`eval.parallel=false`) against a forked worker (the default
where it can run: Linux, 2+ cores), the same preset and seeds, side by side.

    python bench/parallel_eval.py                                  # CartPole-v1, seeds 2470-2489
    python bench/parallel_eval.py --env LunarLander-v3 --seeds 2500-2504

Each seed trains twice in fresh processes (`deepq.train`, no run directory, quiet), inline and worker alternating
which goes first so that a change in the machine's load hits both. Both must stop at the same env step with the
same final agent (the worker changes when a check is played, never what it finds); the table gives each one's
seconds to the confirmed solve (summary's seconds_to_solve), the seconds the inline run spent in its checks, and
the worker's saving. Then the medians and the load average before and after (2 cores here: the worker takes the
second one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from benchinfo import code_line, machine_line  # noqa: E402
from solve_cartpole import parse_seeds  # noqa: E402

RUN = r"""
import hashlib, json, sys
import deepq
from deepq.config import resolve
env_id, seed, parallel = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "worker"
cfg = resolve(env_id=env_id, seed=seed, overrides={"eval.parallel": parallel, "log.tensorboard": False,
                                                   "log.progress": False, "log.plot": False})
agent = deepq.train(cfg, quiet=True)
r = agent.result
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for _, t in sorted(agent.tensors().items()))).hexdigest()
print(json.dumps({"solved": r.solved, "env_steps": r.env_steps, "to_solve_s": r.seconds_to_solve,
                  "train_s": r.train_seconds, "eval_s": r.time_breakdown_s.get("eval", 0.0),
                  "parallel": r.eval_parallel, "agent": digest[:16]}))
"""


def run(env_id: str, seed: int, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN, env_id, str(seed), mode], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} ({mode}) failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", default="2470-2489")
    parser.add_argument("--out", help="append one JSON line per seed to this file")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    print(f"{args.env}, its preset; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'seed':>6} {'env steps':>9} {'inline s':>9} {'in checks':>9} {'worker s':>9} {'saved':>6} same")
    rows = []
    for i, seed in enumerate(parse_seeds(args.seeds)):
        order = ("inline", "worker") if i % 2 == 0 else ("worker", "inline")
        got = {mode: run(args.env, seed, mode) for mode in order}
        inline, worker = got["inline"], got["worker"]
        if inline["parallel"] or not worker["parallel"]:
            raise SystemExit(f"seed {seed}: the worker was {'used inline' if inline['parallel'] else 'not used'}")
        same = inline["env_steps"] == worker["env_steps"] and inline["agent"] == worker["agent"]
        t_in = inline["to_solve_s"] or inline["train_s"]
        t_w = worker["to_solve_s"] or worker["train_s"]
        rows.append({"seed": seed, "env_steps": inline["env_steps"], "inline_s": t_in, "worker_s": t_w,
                     "inline_eval_s": inline["eval_s"], "solved": inline["solved"], "same": same})
        print(f"{seed:>6} {inline['env_steps']:>9} {t_in:>9.2f} {inline['eval_s']:>9.2f} {t_w:>9.2f} "
              f"{1 - t_w / t_in:>6.0%} {'yes' if same else 'NO'}", flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps({"env": args.env, **rows[-1]}) + "\n")
    med = {key: statistics.median(r[key] for r in rows) for key in ("inline_s", "worker_s", "inline_eval_s")}
    saved = statistics.median(1 - r["worker_s"] / r["inline_s"] for r in rows)  # per seed, not of the medians
    print(f"{'median':>6} {'':>9} {med['inline_s']:>9.2f} {med['inline_eval_s']:>9.2f} {med['worker_s']:>9.2f} "
          f"{saved:>6.0%} {sum(r['same'] for r in rows)}/{len(rows)}")
    inline_sum, worker_sum = sum(r["inline_s"] for r in rows), sum(r["worker_s"] for r in rows)
    print(f"summed: inline {inline_sum:.1f} s, worker {worker_sum:.1f} s ({1 - worker_sum / inline_sum:.0%} saved);"
          f" solved {sum(r['solved'] for r in rows)}/{len(rows)}; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
