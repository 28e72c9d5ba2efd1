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

from deepq.errors import DeepQError, WriteError
from deepq.run.faults import fault

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
            fault("metrics")
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
    """Event files; a resumed run writes a second one (TensorBoard merges them), without the hparams again.

    TensorBoard writes from a background thread; a failed write (a full disk) surfaces at the next call here and
    becomes a `WriteError` naming the events file, like the CSV's. The thread's own traceback is not printed."""

    def __init__(self, logdir: Path, hparams: Optional[dict[str, Any]]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import

        _quiet_tensorboard_thread()
        self.path = logdir / "events.out.tfevents.*"
        try:
            self._writer = SummaryWriter(log_dir=str(logdir))
            self.path = Path(self._writer.file_writer.event_writer._file_name)
            if hparams is not None:
                text = "\n".join(f"| {k} | {v} |" for k, v in hparams.items())
                self._writer.add_text("hyperparameters", "| key | value |\n|---|---|\n" + text, 0)
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None

    def write(self, row: dict[str, Any]) -> None:
        step = row["env_steps"]
        try:
            fault("tensorboard")
            for key in KEYS:
                value = row.get(key)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self._writer.add_scalar(key, value, step)
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None

    def flush(self) -> None:
        try:
            self._writer.flush()
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None

    def close(self) -> None:
        try:
            self._writer.close()
        except OSError as exc:
            raise WriteError.of(self.path, exc) from None


def _quiet_tensorboard_thread() -> None:
    """TensorBoard's writer thread re-raises its write error after storing it for the main thread, and Python
    prints that as a traceback; the main thread reports it as one line instead, so that one is not printed."""
    import threading

    previous = threading.excepthook
    if getattr(previous, "deepq", False):
        return

    def hook(args) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(args.exc_value, OSError):
            return  # raised again, as a WriteError, by the next TensorBoardBackend call
        previous(args)

    hook.deepq = True  # type: ignore[attr-defined]
    threading.excepthook = hook


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
    """Rows of a metrics.csv, numbers as floats and empty cells as None (a column an older deepq did not write
    is None too). A file that is damaged or not a deepq metrics.csv is a one-line `DeepQError`."""
    path = Path(path)

    def damaged(why: str) -> DeepQError:
        return DeepQError(f"{path} is not a readable deepq metrics.csv ({why}): it is damaged or was not written "
                          "by deepq; restore it, or plot another run")

    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None) or []
            missing = [name for name in COUNTERS if name not in header]
            if missing:
                raise damaged(f"no {missing[0]} column")
            for cells in reader:
                if not cells:
                    continue
                raw = dict(zip(header, cells))
                row: dict[str, Any] = {"kind": raw.get("kind", "")}
                for key in COLUMNS[1:]:
                    text = raw.get(key, "")
                    try:
                        row[key] = float(text) if text != "" else None
                    except ValueError:
                        raise damaged(f"line {reader.line_num}: {key} is {text[:20]!r}, not a number") from None
                rows.append(row)
    except UnicodeDecodeError:
        raise damaged("binary, not text") from None
    except csv.Error as exc:
        raise damaged(f"line {reader.line_num}: {str(exc)[:80]}") from None
    except OSError as exc:
        raise DeepQError(f"cannot read {path} ({exc.strerror or exc})") from None
    return rows


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
