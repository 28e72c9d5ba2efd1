"""What bench/acrobot_vector.py and bench/cartpole_vector.py share: the same preset trained with Gymnasium's env
and with deepq's arrays, seed by seed in fresh processes, and whether the two made the same run, only sooner."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

ENVS = ("gymnasium", "arrays")


def alternate(worker: str, seeds: list[int], repeats: int) -> list[dict]:
    """Runs `python -c worker SEED ENV` for both envs per seed (and repeat), which goes first alternating so that
    a change in the machine's load hits both; each prints one JSON row last."""
    rows = []
    for i, seed in enumerate(seeds):
        for r in range(repeats):
            for env in (ENVS[::-1] if (i + r) % 2 == 0 else ENVS):
                out = subprocess.run([sys.executable, "-c", worker, str(seed), env], capture_output=True, text=True,
                                     check=True).stdout
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
