"""Tuning helper: one config on many seeds, each seed's final agent scored on 100 fresh greedy episodes.

    python bench/tune.py --env Acrobot-v1 --seeds 0-9 [--preset NAME | --preset none] [key=value ...]
    python bench/tune.py --env LunarLander-v3 --seeds 100-109 --workers 2 --json out.jsonl

`--preset none` trains on the code defaults alone (no tuned preset); without --preset the env's own preset is
used when one ships, as `deepq train` does. Each seed trains in a fresh process (`nice -n 10` it when the machine
is shared), stops when solved (the config's own check) or at the end of its budget, and its final agent is then
scored on 100 greedy episodes reset with seeds 1000-1099 (never used in training or its evaluations; with
env.action_repeat > 1, also choosing an action at every env step of the plain task: "every step"). Prints a
row per seed and the solve rate, the rate of final agents at or above the threshold, and medians. With
`--population 2000`, each final agent also plays 2,000 more episodes: a pass or fail on one 100-episode test is a
coin flip for an agent near the threshold, while the chance it fails such a test (the 100-episode means resampled
from its 2,000 returns), summed over seeds, compares two configs with far fewer seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
import deepq
from deepq.config.schema import Config, parse_override, resolve
from deepq.evaluation.solved import solve_threshold
job = json.loads(sys.argv[1])
preset = job["preset"]
overrides = dict(parse_override(o) for o in job["overrides"])
overrides.setdefault("log.tensorboard", False)
overrides.setdefault("log.plot", False)
if preset == "none":
    cfg = Config().replace(**{"env.id": job["env"], "seed": job["seed"], **overrides})
else:
    cfg = resolve(env_id=job["env"], preset=preset, overrides=overrides, seed=job["seed"])
t1 = time.perf_counter()
agent = deepq.train(cfg, quiet=True)
r = agent.result
t2 = time.perf_counter()
ev = deepq.evaluate(agent, episodes=100, seed=1000)
every_step = None
if cfg.env.action_repeat > 1:  # the same agent choosing at every env step of the plain task, seeds 1000-1099
    from deepq.evaluation.evaluate import EpisodeRunner
    every_step = float(EpisodeRunner(cfg.env.id, 100).run(agent.greedy, list(range(1000, 1100))).mean())
p_fail = None
if job.get("population"):  # the final agent on many more episodes: how likely is a 100-episode test to fail?
    import numpy as np
    pop = np.asarray(deepq.evaluate(agent, episodes=job["population"], seed=100_000).returns)
    tests = np.random.default_rng(0).choice(pop, size=(10_000, 100)).mean(axis=1)
    p_fail = float((tests < solve_threshold(cfg)).mean())
print(json.dumps({"seed": job["seed"], "solved": r.solved, "env_steps": r.env_steps, "grad_steps": r.grad_steps,
                  "steps_to_solve": r.solved_at_env_steps, "seconds_to_solve": r.seconds_to_solve,
                  "train_s": r.train_seconds, "eval_s": r.time_breakdown_s.get("eval", 0.0),
                  "threshold": solve_threshold(cfg), "final_mean": ev.mean, "final_min": ev.min,
                  "best_eval": r.best_eval_mean, "import_s": t1 - t0, "wall_s": time.perf_counter() - t0,
                  "target_at": getattr(r, "target_at_env_steps", None),
                  "final_from": getattr(r, "final_from_env_steps", None), "p_test_fail": p_fail,
                  "final_every_step": every_step,
                  "skipped": getattr(r, "skipped_evaluations", 0), "confirmations": getattr(r, "confirmations", [])}))
"""


def run(job: dict) -> dict:
    proc = subprocess.run(["nice", "-n", "10", sys.executable, "-c", WORKER, json.dumps(job)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"seed": job["seed"], "failed": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True)
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--preset", default=None, help="a preset name, or none for the code defaults")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", help="append each row to this JSON-lines file")
    p.add_argument("--label", default="")
    p.add_argument("--population", type=int, default=0, metavar="N",
                   help="also score each final agent on N more episodes (reset seeds 100000+) and estimate the "
                        "chance that a 100-episode test of it falls below the threshold (resampling those N "
                        "returns); the sum over seeds is the expected number of seeds that fail such a test")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    from deepq.experiments.multiseed import parse_seeds

    seeds = parse_seeds(a.seeds)
    jobs = [{"env": a.env, "seed": s, "preset": a.preset, "overrides": a.overrides, "population": a.population}
            for s in seeds]
    print(f"tune {a.env} preset={a.preset} seeds={a.seeds} {' '.join(a.overrides)}", flush=True)
    rows = []
    with ThreadPoolExecutor(a.workers) as pool:
        for row in pool.map(run, jobs):
            rows.append(row)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps({"env": a.env, "preset": a.preset, "label": a.label,
                                        "overrides": a.overrides, **row}) + "\n")
            if row.get("failed"):
                print(f"seed {row['seed']:>4} FAILED {row['failed']}", flush=True)
                continue
            print(f"seed {row['seed']:>4} solved={str(row['solved']):<5} steps={row['steps_to_solve'] or row['env_steps']:>7} "
                  f"t={row['seconds_to_solve'] or row['train_s']:7.1f}s train={row['train_s']:6.1f}s "
                  f"final={row['final_mean']:8.1f} min={row['final_min']:7.1f}"
                  + ("" if row.get("p_test_fail") is None else f" P(test fails)={row['p_test_fail']:.3f}")
                  + ("" if row.get("final_every_step") is None else f" every step={row['final_every_step']:.1f}"),
                  flush=True)
    ok = [r for r in rows if not r.get("failed")]
    if not ok:
        return
    thr = ok[0]["threshold"]
    solved = sum(r["solved"] for r in ok)
    good = sum(r["final_mean"] >= thr for r in ok)
    t = statistics.median((r["seconds_to_solve"] if r["solved"] else r["train_s"]) for r in ok)
    st = statistics.median((r["steps_to_solve"] if r["solved"] else r["env_steps"]) for r in ok)
    fin = statistics.median(r["final_mean"] for r in ok)
    print(f"SUMMARY {a.env} {a.label} preset={a.preset} {' '.join(a.overrides)}: solved {solved}/{len(ok)}, "
          f"final >= {thr:g} {good}/{len(ok)}, median time to solve {t:.1f} s, median env steps {st:,.0f}, "
          f"median final {fin:.1f}, mean final {statistics.mean(r['final_mean'] for r in ok):.1f}"
          + ("" if not a.population else
             f", expected seeds failing a 100-episode test {sum(r['p_test_fail'] for r in ok):.2f}"), flush=True)


if __name__ == "__main__":
    main()
