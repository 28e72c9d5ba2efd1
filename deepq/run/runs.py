"""The run directory: everything a run leaves behind, and how to load an agent back from it.

    RUN/config.yaml              full resolved config + versions (also a valid --config file)
    RUN/metrics.csv              one row per training episode, per train-metrics record and per evaluation
    RUN/events.out.tfevents.*    TensorBoard
    RUN/checkpoints/final.safetensors   the run's agent: the first solved one, else the last one
    RUN/checkpoints/latest.safetensors  periodic checkpoint during training
    RUN/summary.json             outcome: solved?, steps, seconds, last evaluation
    RUN/.lock                    held (flock) by the process training the run; holds its pid
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Optional

from deepq.config.schema import Config, read_yaml
from deepq.errors import ConfigError, DeepQError, WriteError

try:
    import fcntl
except ImportError:  # Windows: no flock, runs are not locked
    fcntl = None

CONFIG = "config.yaml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
LOCK = ".lock"


def versions() -> dict[str, str]:
    import gymnasium
    import numpy
    import torch

    from deepq import __version__

    return {"deepq": __version__, "python": platform.python_version(), "torch": str(torch.__version__),
            "gymnasium": gymnasium.__version__, "numpy": numpy.__version__, "platform": platform.platform()}


class RunLock:
    """An exclusive `flock` on RUN/.lock, held by the process that trains the run, for as long as it does.

    The kernel drops the lock when that process ends, however it ends (SIGKILL included): a crashed run never
    blocks its own resume, and no stale lock file needs cleaning. The file holds the holder's pid, for the
    message that a second process gets.
    """

    def __init__(self, path: Path) -> None:
        self.fd: Optional[int] = None
        if fcntl is None:
            return
        try:
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _not_writable(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DeepQError(f"run directory {path} is in use by another deepq process (pid {holder}); wait for "
                             f"it to end, stop it (kill -INT {holder}) or choose another --run-dir") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise _not_writable(path, exc) from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file drops the lock
            self.fd = None


def create_run_dir(path: str | Path) -> RunLock:
    """Make a fresh run directory and lock it, refusing one that already holds a run or other files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DeepQError(f"run directory {path} is a file; choose a directory path for --run-dir")
    if path.is_dir() and not (path / LOCK).exists():
        _check_fresh(path)  # before the lock file is created: a user's non-empty folder is never touched
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(path, exc) from None
    lock = RunLock(path)
    try:
        _check_fresh(path)  # again, under the lock: another process may have started a run here meanwhile
        _probe_writable(path)
    except BaseException:
        lock.release()
        raise
    return lock


def lock_run_dir(path: str | Path) -> RunLock:
    """Lock an existing run directory to continue it; refuses one that another process trains or that cannot
    be written (checked now, not at the first checkpoint)."""
    path = Path(path)
    read_run_config(path)  # a one-line error for what is not a run
    lock = RunLock(path)
    try:
        _probe_writable(path)
        for stale in [*path.glob(".*.tmp"), *(path / CHECKPOINTS).glob(".*.tmp")]:
            stale.unlink()  # the temp file of a write that was killed midway; no other writer holds the lock
    except OSError as exc:
        lock.release()
        raise _not_writable(path, exc) from None
    except BaseException:
        lock.release()
        raise
    return lock


def _check_fresh(path: Path) -> None:
    if (path / CONFIG).exists():
        raise DeepQError(f"run directory {path} already holds a deepq run; continue it with "
                         f"`deepq train --resume {path}`, or choose a new --run-dir")
    # What a run that failed before writing its config leaves (a lock, an empty checkpoints/) is still fresh.
    leftovers = {LOCK, CHECKPOINTS} if not any((path / CHECKPOINTS).glob("*")) else {LOCK}
    if any(entry.name not in leftovers for entry in path.iterdir()):
        raise DeepQError(f"run directory {path} exists and is not empty; choose a new or empty --run-dir")


def _probe_writable(path: Path) -> None:
    try:
        (path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        probe = path / CHECKPOINTS / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise _not_writable(path, exc) from None


def _not_writable(path: Path, exc: OSError) -> DeepQError:
    return DeepQError(f"run directory {path} is not writable ({exc.strerror or exc}); "
                      "choose a --run-dir you can write to")


def write_config(path: Path, cfg: Config) -> None:
    """RUN/config.yaml, atomically (a resume that raises train.total_steps rewrites it)."""
    tmp = path / f".{CONFIG}.tmp"
    try:
        cfg.save(tmp, extra={"versions": versions()})
        os.replace(tmp, path / CONFIG)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError.of(path / CONFIG, exc) from None


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    tmp = path / f".{SUMMARY}.tmp"
    try:
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, path / SUMMARY)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError.of(path / SUMMARY, exc) from None


def read_run_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_dir():
        raise DeepQError(f"{path} is not a directory; pass the --run-dir of a `deepq train` run")
    if not (path / CONFIG).is_file():
        raise DeepQError(f"{path} is not a deepq run directory (no {CONFIG}); "
                         "pass the --run-dir of a `deepq train` run")
    data = read_yaml(path / CONFIG)
    data.pop("versions", None)
    try:
        return Config.from_dict(data)
    except ConfigError as exc:
        raise DeepQError(f"{path / CONFIG} is not a valid deepq config ({exc})") from None


def checkpoint_path(path: str | Path, which: str = "final") -> Path:
    return Path(path) / CHECKPOINTS / f"{which}.safetensors"


def load_agent(path: str | Path, which: str | None = None):
    """The agent saved in a run directory (its final agent, else its latest checkpoint)."""
    from deepq.algo.agent import DQNAgent
    from deepq.run.checkpoint import load_checkpoint

    cfg = read_run_config(path)
    if which is None:
        which = "final" if checkpoint_path(path, "final").is_file() else "latest"
    tensors, state = load_checkpoint(checkpoint_path(path, which))
    shape = state.get("spaces", {})
    if shape.get("env_id") != cfg.env.id:
        raise DeepQError(f"checkpoint in {path} was trained on {shape.get('env_id')!r} but the run's config says "
                         f"{cfg.env.id!r}; the run directory is inconsistent")
    agent = DQNAgent(int(shape["obs_dim"]), int(shape["n_actions"]), cfg)
    # Adam's state comes along when it is in this version's form; an older checkpoint still loads for evaluation.
    with_optimizer = "optim.exp_avg" in tensors
    try:
        agent.load_tensors(tensors, with_optimizer=with_optimizer)
    except (RuntimeError, KeyError) as exc:
        raise DeepQError(f"checkpoint in {path} does not fit the network in its config.yaml "
                         f"({str(exc).splitlines()[0][:160]})") from None
    agent.counters = state.get("counters", {})
    return agent
