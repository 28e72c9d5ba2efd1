"""Benchmark: did the code get slower? The same training, side by side, on an older commit and on this checkout.

    python bench/old_vs_new.py                          # seeds 0-9, against commit 3eb784b (before the learner seam)
    python bench/old_vs_new.py --base HEAD~3 --seeds 0-4

The older commit is checked out into a temporary git worktree. Both trees train the same config, the base
commit's own CartPole-v1 preset (so only the code differs, not the preset), each seed in a fresh process with
its tree on PYTHONPATH, old and new alternating seed by seed so that a change in the machine's load hits both
(the newer tree's confirmation of a solve, `eval.confirm_episodes`, is turned off: the same work in both; with
`--confirm`, for a base commit that confirms too, both keep the preset's, and the seconds spent confirming are
shown).
Prints per seed the env steps and training seconds of both (the same seed and config should take the same env
steps unless the numbers changed), then the median training time of each and their ratio, and the time of one
gradient step of the default network on each back-end of this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchinfo import code_line, machine_line  # noqa: E402
from solve_cartpole import parse_seeds  # noqa: E402

WORKER = r"""
import json, sys
import deepq
from deepq.config import Config
import yaml
data = yaml.safe_load(open(sys.argv[2]))
data.pop("description", None)
data["seed"] = int(sys.argv[1])
data.setdefault("log", {}).update({"tensorboard": False, "progress": False, "plot": False})
import dataclasses
from deepq.config import EvalConfig
if "confirm_episodes" in {f.name for f in dataclasses.fields(EvalConfig)} and sys.argv[3] == "off":
    data["eval"]["confirm_episodes"] = 0  # the same work in both trees: the base commit has no confirmation
agent = deepq.train(Config.from_dict(data), quiet=True)
r = agent.result
print(json.dumps({"solved": r.solved, "env_steps": r.env_steps, "train_s": r.train_seconds,
                  "confirm_s": sum(c["seconds"] for c in getattr(r, "confirmations", []))}))
"""

UPDATE = r"""
import time, numpy as np, torch
torch.set_num_threads(1)  # as training does (train.torch_threads=1)
from deepq.algo.agent import DQNAgent
from deepq.config import resolve
from deepq.data.replay import Batch
cfg = resolve(env_id="CartPole-v1")
rng = np.random.default_rng(0)
b = cfg.replay.batch_size
batches = [Batch(rng.normal(size=(b, 4)).astype(np.float32), rng.integers(0, 2, b), rng.normal(size=b).astype(np.float32),
                 rng.normal(size=(b, 4)).astype(np.float32), np.zeros(b, np.float32), np.full(b, 0.98, np.float32))
           for _ in range(16)]
for backend in ("flat", "autograd"):
    torch.manual_seed(0)
    agent = DQNAgent(4, 2, cfg.replace(**{"learner.backend": backend}))
    for i in range(200):
        agent.update(batches[i % 16])
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for i in range(500):
            agent.update(batches[i % 16])
        runs.append((time.perf_counter() - t) / 500 * 1e6)
    print(f"{backend} {sorted(runs)[2]:.0f}")
"""


def run_seed(tree: Path, preset: Path, seed: int, confirm: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", WORKER, str(seed), str(preset), "on" if confirm else "off"],
                         capture_output=True, text=True,
                         env=env, cwd=tree, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="3eb784b", help="the older commit (default: before the learner seam)")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--confirm", action="store_true",
                        help="keep the preset's confirmation in both trees (a base commit that has one)")
    args = parser.parse_args()
    print(machine_line())
    print(code_line())
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            preset = base / "deepq" / "presets" / "CartPole-v1.yaml"
            if not preset.is_file():
                preset = base / "deepq" / "config" / "presets" / "CartPole-v1.yaml"
            print(f"config: {args.base}'s {preset.relative_to(base)} in both trees; base {args.base} vs this "
                  "checkout")
            print(f"{'seed':>4} {'old env steps':>13} {'new env steps':>13} {'old train s':>11} {'new train s':>11}"
                  + (f" {'old confirm s':>13} {'new confirm s':>13}" if args.confirm else ""))
            old, new = [], []
            for seed in parse_seeds(args.seeds):
                a, b = run_seed(base, preset, seed, args.confirm), run_seed(ROOT, preset, seed, args.confirm)
                old.append(a)
                new.append(b)
                print(f"{seed:>4} {a['env_steps']:>13} {b['env_steps']:>13} {a['train_s']:>11.2f} "
                      f"{b['train_s']:>11.2f}" + (f" {a['confirm_s']:>13.2f} {b['confirm_s']:>13.2f}"
                                                 if args.confirm else ""), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    mo, mn = (statistics.median(r["train_s"] for r in rows) for rows in (old, new))
    print(f"median train s: old {mo:.2f}, new {mn:.2f} (new/old {mn / mo:.3f}); solved old "
          f"{sum(r['solved'] for r in old)}/{len(old)}, new {sum(r['solved'] for r in new)}/{len(new)}")
    out = subprocess.run([sys.executable, "-c", UPDATE], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    times = dict(line.split() for line in out.stdout.strip().splitlines())
    print(f"one gradient step of the default network (median of 5 x 500): flat back-end {times['flat']} us, "
          f"autograd back-end {times['autograd']} us ({int(times['autograd']) / int(times['flat']):.1f}x)")


if __name__ == "__main__":
    main()
