"""Metrics under namespaced keys, written through small backends (CSV always, TensorBoard optionally).

Keys (also listed in the README):
  rollout/episode_return, rollout/episode_length   one per finished training episode
  rollout/epsilon                                  exploration rate at that moment
  train/loss, train/q_mean                         means over the gradient steps since the last record
  eval/mean_return, eval/std_return, eval/min_return, eval/max_return   greedy evaluation
  time/sps                                         env steps per second of training wall-clock
  time/elapsed_s                                   seconds since training started
Every row also carries the counters env_steps, episodes and grad_steps.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Optional

COUNTERS = ("kind", "env_steps", "episodes", "grad_steps")
KEYS = ("rollout/episode_return", "rollout/episode_length", "rollout/epsilon", "train/loss", "train/q_mean",
        "eval/mean_return", "eval/std_return", "eval/min_return", "eval/max_return", "time/sps", "time/elapsed_s")
COLUMNS = COUNTERS + KEYS


class CSVBackend:
    def __init__(self, path: Path, append: bool = False) -> None:
        exists = append and path.is_file()
        self._fh = open(path, "a" if exists else "w", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS, extrasaction="ignore")
        if not exists:
            self._writer.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _fmt(v) for k, v in row.items()})

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class TensorBoardBackend:
    def __init__(self, logdir: Path, hparams: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import

        self._writer = SummaryWriter(log_dir=str(logdir))
        text = "\n".join(f"| {k} | {v} |" for k, v in hparams.items())
        self._writer.add_text("hyperparameters", "| key | value |\n|---|---|\n" + text, 0)

    def write(self, row: dict[str, Any]) -> None:
        step = row["env_steps"]
        for key in KEYS:
            value = row.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self._writer.add_scalar(key, value, step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class MetricsLogger:
    """Fans each row out to the backends. `kind` is "episode", "train" or "eval"."""

    def __init__(self, backends: list) -> None:
        self.backends = backends

    def log(self, kind: str, counters: dict[str, int], values: dict[str, Any]) -> None:
        row = {"kind": kind, **counters, **values}
        for backend in self.backends:
            backend.write(row)

    def flush(self) -> None:
        for backend in self.backends:
            backend.flush()

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


def read_metrics(path: str | Path) -> list[dict[str, Optional[float]]]:
    """Rows of a metrics.csv, numbers as floats and empty cells as None."""
    rows = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {"kind": raw.pop("kind")}
            row.update({k: (float(v) if v not in ("", None) else None) for k, v in raw.items()})
            rows.append(row)
    return rows


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
