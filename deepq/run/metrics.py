"""Metrics under namespaced keys, written through small backends (CSV always, TensorBoard optionally).

Keys (also listed in the README):
  rollout/episode_return, rollout/episode_length   one per finished training episode
  rollout/epsilon                                  exploration rate at that moment
  train/loss, train/q_mean                         means over the gradient steps since the last record
  train/lr                                         Adam's learning rate at that moment (learner.lr_end decays it)
  eval/mean_return, eval/std_return, eval/min_return, eval/max_return   greedy evaluation
  eval/episodes                                    its episodes (fewer when eval.screen_episodes cut it short)
  time/sps                                         env steps per second of training wall-clock
  time/elapsed_s                                   seconds since training started
Every row also carries the counters env_steps, episodes and grad_steps.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Optional

from deepq.errors import WriteError

COUNTERS = ("kind", "env_steps", "episodes", "grad_steps")
KEYS = ("rollout/episode_return", "rollout/episode_length", "rollout/epsilon", "train/loss", "train/q_mean",
        "train/lr", "eval/mean_return", "eval/std_return", "eval/min_return", "eval/max_return", "eval/episodes", "time/sps",
        "time/elapsed_s")
COLUMNS = COUNTERS + KEYS


class CSVBackend:
    """metrics.csv; a failed write (a full disk) raises `WriteError` naming the file."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        exists = append and path.is_file()
        try:
            self._fh = open(path, "a" if exists else "w", newline="")
            self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS, extrasaction="ignore")
            if not exists:
                self._writer.writeheader()
        except OSError as exc:
            raise WriteError.of(path, exc) from None

    def write(self, row: dict[str, Any]) -> None:
        try:
            self._writer.writerow({k: _fmt(v) for k, v in row.items()})
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None

    def sync(self) -> int:
        """Flush the rows to disk; returns the file's length in bytes. A checkpoint records it, so that a resume
        cuts the rows written after the checkpoint (`truncate_rows`) and the file ends as if never interrupted."""
        self.flush()
        try:
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None
        return os.fstat(self._fh.fileno()).st_size

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None


class TensorBoardBackend:
    """Event files; a resumed run writes a second one (TensorBoard merges them), without the hparams again."""

    def __init__(self, logdir: Path, hparams: Optional[dict[str, Any]]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import

        self._writer = SummaryWriter(log_dir=str(logdir))
        if hparams is not None:
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


def truncate_rows(path: Path, length: int) -> bool:
    """Cut metrics.csv back to `length` bytes, its length at a checkpoint: the rows after it are written again by
    the resumed run. False when the file is shorter than that (it was cut or replaced since); it is left as is."""
    if not path.is_file() or path.stat().st_size < length:
        return False
    try:
        os.truncate(path, length)
    except OSError as exc:
        raise WriteError.of(path, exc) from None
    return True


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
