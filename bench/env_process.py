"""Benchmark: LunarLander-v3's envs stepped in the training process against a second process (`train.overlap`,
`env.process`), and deepq's one-process stepper against Gymnasium's `AsyncVectorEnv`, side by side.

    python bench/env_process.py                          # seeds 2610-2614, 60k env steps each
    python bench/env_process.py --seeds 2610-2611 --steps 20000 --vector-steps 2000

1. Vector steps beside other work (the library against deepq's own): 4 LunarLander-v3 envs stepped with random
   actions, each step beside W microseconds of busy work in this process (the updates a run does meanwhile; W =
   0, 300, 600): stepped inline (`SyncVectorEnv.step`, then the work), in Gymnasium's `AsyncVectorEnv` (a process
   per env, shared memory; `step_async`, the work, `step_wait`) and in deepq's `EnvProcess` (one process for
   all, the same calls). Microseconds per vector step, the median of 5 rounds taking turns.
2. Whole runs: the LunarLander-v3 preset with `train.overlap=true` for `--steps` env steps, no checks
   (`eval.interval=0`: the checks' own worker would share the second core), each seed in fresh processes with
   `env.process=false` and `true`, alternating which goes first. Both must end with the same agent (the envs step
   alike wherever they run); the table gives each one's training seconds, the env phase (`env+store`: with the
   process, handing the actions over, collecting the result and storing it) and the saving.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from benchinfo import code_line, machine_line  # noqa: E402
from solve_cartpole import parse_seeds  # noqa: E402

RUN = r"""
import hashlib, json, sys
import deepq
from deepq.config import resolve
seed, steps, process = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "process"
cfg = resolve(env_id="LunarLander-v3", seed=seed, overrides={
    "train.overlap": True, "env.process": process, "train.total_steps": steps, "eval.interval": 0,
    "log.tensorboard": False, "log.progress": False, "log.plot": False})
agent = deepq.train(cfg, quiet=True)
r = agent.result
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for _, t in sorted(agent.tensors().items()))).hexdigest()
print(json.dumps({"env_steps": r.env_steps, "train_s": r.train_seconds,
                  "env_s": r.time_breakdown_s.get("env+store", 0.0), "agent": digest[:16]}))
"""


def busy(us: float) -> None:
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def vector_steps(n_steps: int, rounds: int = 5) -> None:
    import gymnasium as gym
    import numpy as np

    from deepq.envs.make import make_vec_env
    from deepq.envs.process import EnvProcess

    def per_step(envs, work_us: float, overlapped: bool) -> float:
        envs.reset(seed=0)
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(n_steps):
            actions = rng.integers(4, size=4)
            if overlapped:
                envs.step_async(actions)
                busy(work_us)
                envs.step_wait()
            else:
                envs.step(actions)
                busy(work_us)
        return (time.perf_counter() - start) / n_steps * 1e6

    kinds = {"inline (SyncVectorEnv)": (make_vec_env("LunarLander-v3", 4), False),
             "Gymnasium AsyncVectorEnv": (gym.vector.AsyncVectorEnv([lambda: gym.make("LunarLander-v3")] * 4,
                                                                    shared_memory=True, context="fork"), True),
             "deepq EnvProcess": (EnvProcess(make_vec_env("LunarLander-v3", 4)), True)}
    works = (0, 300, 600)
    print(f"\n1. 4 LunarLander-v3 envs, a vector step beside W us of other work: us per vector step "
          f"({n_steps} steps, median of {rounds} rounds)")
    print(f"{'':<26}" + "".join(f"{f'W = {w}':>10}" for w in works))
    times = {(k, w): [] for k in kinds for w in works}
    for _ in range(rounds):
        for w in works:
            for name, (envs, overlapped) in kinds.items():
                times[name, w].append(per_step(envs, w, overlapped))
    for name, (envs, _) in kinds.items():
        print(f"{name:<26}" + "".join(f"{statistics.median(times[name, w]):>10.0f}" for w in works))
        envs.close()


def run(seed: int, steps: int, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN, str(seed), str(steps), mode], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} ({mode}) failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="2610-2614")
    parser.add_argument("--steps", type=int, default=60_000, help="env steps per training run")
    parser.add_argument("--vector-steps", type=int, default=3000, help="vector steps per round in part 1")
    parser.add_argument("--out", help="append one JSON line per seed to this file")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    vector_steps(args.vector_steps)
    print(f"\n2. LunarLander-v3 preset, train.overlap=true, {args.steps:,} env steps, no checks; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'seed':>6} {'inline s':>9} {'env phase':>9} {'process s':>9} {'env phase':>9} {'saved':>6} same")
    rows = []
    for i, seed in enumerate(parse_seeds(args.seeds)):
        order = ("inline", "process") if i % 2 == 0 else ("process", "inline")
        got = {mode: run(seed, args.steps, mode) for mode in order}
        a, b = got["inline"], got["process"]
        same = a["env_steps"] == b["env_steps"] and a["agent"] == b["agent"]
        rows.append({"seed": seed, "steps": args.steps, "inline_s": a["train_s"], "process_s": b["train_s"],
                     "inline_env_s": a["env_s"], "process_env_s": b["env_s"], "same": same})
        print(f"{seed:>6} {a['train_s']:>9.2f} {a['env_s']:>9.2f} {b['train_s']:>9.2f} {b['env_s']:>9.2f} "
              f"{1 - b['train_s'] / a['train_s']:>6.0%} {'yes' if same else 'NO'}", flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(rows[-1]) + "\n")
    t_in = statistics.median(r["inline_s"] for r in rows)
    t_pr = statistics.median(r["process_s"] for r in rows)
    saved = statistics.median(1 - r["process_s"] / r["inline_s"] for r in rows)
    print(f"median {t_in:>9.2f} {'':>9} {t_pr:>9.2f} {'':>9} {saved:>6.0%} "
          f"{sum(r['same'] for r in rows)}/{len(rows)} same; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not all(r["same"] for r in rows):
        raise SystemExit("a seed ended differently with its envs in the second process")


if __name__ == "__main__":
    main()
