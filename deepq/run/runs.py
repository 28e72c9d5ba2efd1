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

from deepq.config.schema import Config
from deepq.errors import ConfigError, DeepQError, WriteError
from deepq.run.faults import fault

try:
    import fcntl
except ImportError:  # Windows: no flock, runs are not locked
    fcntl = None

CONFIG = "config.yaml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
LOCK = ".lock"
SEED_PREFIX = "seed-"  # RUN/seed-N/: the runs `deepq train --seeds` writes

# How refusals name the fix: the command line's flags, or the Python API's arguments. `deepq.cli` sets "cli".
WORDING = "python"


def _say(cli: str, python: str) -> str:
    return cli if WORDING == "cli" else python


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
                             f"it to end, stop it (kill -INT {holder}) or choose another "
                             f"{_say('--run-dir', 'run_dir')}") from None
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


def _usable_path(path: str | Path) -> Path:
    """The path, or one line when the file system cannot even look it up (a 300-character name: ENAMETOOLONG)."""
    path = Path(path)
    try:
        path.exists()
    except OSError as exc:
        longest = max((len(part) for part in path.parts), default=0)
        raise DeepQError(f"{str(path)[:80]}...: {exc.strerror} (its longest name has {longest} "
                         f"characters; file systems allow about 255); give a shorter path") from None
    return path


def create_run_dir(path: str | Path) -> RunLock:
    """Make a fresh run directory and lock it, refusing one that already holds a run or other files."""
    path = _usable_path(path)
    if path.exists() and not path.is_dir():
        raise DeepQError(f"run directory {path} is a file; choose a directory path for {_say('--run-dir', 'run_dir')}")
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
    path = _usable_path(path)
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
        raise DeepQError(_say(
            f"run directory {path} already holds a deepq run; continue it with `deepq train --resume {path}`, "
            "replace it with --overwrite, or choose a new --run-dir (or none: runs/ENV_N is numbered for you)",
            f"run directory {path} already holds a deepq run; continue it with deepq.resume({str(path)!r}), replace "
            "it with deepq.train(..., overwrite=True), or choose another run_dir"))
    # What a run that failed before writing its config leaves (a lock, an empty checkpoints/) is still fresh.
    # So is the temp file of a config.yaml whose write was cut short (a kill, a full disk).
    leftovers = {LOCK, CHECKPOINTS, f".{CONFIG}.tmp"} if not any((path / CHECKPOINTS).glob("*")) else {LOCK}
    if any(entry.name not in leftovers for entry in path.iterdir()):
        what = "holds the seeds of a deepq run" if seed_runs(path) else "exists and is not empty"
        fix = _say("--run-dir (or --overwrite to replace a run)", "run_dir (or overwrite=True to replace a run)")
        raise DeepQError(f"run directory {path} {what}; choose a new or empty {fix}")


def seed_runs(path: str | Path) -> list[Path]:
    """The runs in a directory that `deepq train --seeds` wrote (RUN/seed-N/ with a config.yaml), by seed; [] for
    anything else (a single run included)."""
    path = Path(path)
    if not path.is_dir() or (path / CONFIG).exists():
        return []
    found = [d for d in path.glob(f"{SEED_PREFIX}*") if (d / CONFIG).is_file()
             and d.name[len(SEED_PREFIX):].isdigit()]
    return sorted(found, key=lambda d: int(d.name[len(SEED_PREFIX):]))


def expand_runs(path: str | Path, seeds: Optional[list[int]] = None) -> list[Path]:
    """A run directory as itself, a directory of seeds as its runs (only `seeds`, when given); a one-line error
    for what is neither, or for seeds it does not hold."""
    path = _usable_path(path)
    found = seed_runs(path)
    if not found:
        read_run_config(path)  # the one-line error for what is not a run
        if seeds is not None:
            raise DeepQError(f"{path} is a single run, not a directory of seeds; drop --seeds")
        return [path]
    if seeds is None:
        return found
    by_seed = {int(d.name[len(SEED_PREFIX):]): d for d in found}
    missing = [s for s in seeds if s not in by_seed]
    if missing:
        raise DeepQError(f"{path} holds no seed {missing[0]} (it has seeds {', '.join(map(str, sorted(by_seed)))})")
    return [by_seed[s] for s in seeds]


def clear_run_dir(path: str | Path) -> None:
    """Empty a run directory (or a directory of seeds) to train a new run in it: `--overwrite`.

    Refused in one line, touching nothing, when a live process trains it or one of its seeds (their lock is
    held), or when it is not a deepq run at all: a user's folder of other files is never deleted."""
    import shutil

    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise DeepQError(f"run directory {path} is a file; choose a directory path for {_say('--run-dir', 'run_dir')}")
    if not any(path.iterdir()):
        return
    seeds = seed_runs(path)
    if not (path / CONFIG).is_file() and not seeds:
        raise DeepQError(f"{path} is not a deepq run directory (no {CONFIG}, no {SEED_PREFIX}N/ runs), so "
                         f"{_say('--overwrite', 'overwrite=True')} leaves it alone; choose another "
                         f"{_say('--run-dir', 'run_dir')}")
    locks = []
    try:
        for run in seeds or [path]:
            locks.append(RunLock(run))  # a run that a live process trains is refused here, before any deletion
        for entry in path.iterdir():
            if entry.name == LOCK and not seeds:
                continue  # held by us; an empty run directory may keep it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except OSError as exc:
        raise _not_writable(path, exc) from None
    finally:
        for lock in locks:
            lock.release()


def numbered_run_dir(name: str, root: str | Path = "runs") -> Path:
    """A new, empty directory ROOT/NAME_N, N one more than the largest there (as the RL Zoo numbers its runs);
    created here, so two processes starting at once never get the same one."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"
    root = Path(root)
    taken = [int(d.name[len(safe) + 1:]) for d in (root.glob(f"{safe}_*") if root.is_dir() else [])
             if d.name[len(safe) + 1:].isdigit()]
    number = max(taken, default=0) + 1
    while True:
        candidate = root / f"{safe}_{number}"
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1
        except OSError as exc:
            raise _not_writable(root, exc) from None


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
                      f"choose a {_say('--run-dir', 'run_dir')} you can write to")


def write_config(path: Path, cfg: Config) -> None:
    """RUN/config.yaml, atomically (a resume that raises train.total_steps rewrites it)."""
    tmp = path / f".{CONFIG}.tmp"
    try:
        cfg.save(tmp, extra={"versions": versions()})
        fault("config")
        os.replace(tmp, path / CONFIG)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError.of(path / CONFIG, exc) from None


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    tmp = path / f".{SUMMARY}.tmp"
    try:
        tmp.write_text(json.dumps(summary, indent=2))
        fault("summary")
        os.replace(tmp, path / SUMMARY)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError.of(path / SUMMARY, exc) from None


def read_run_config(path: str | Path) -> Config:
    path = _usable_path(path)
    if not path.is_dir():
        raise DeepQError(f"{path} is not a directory; pass the --run-dir of a `deepq train` run")
    if not (path / CONFIG).is_file():
        seeds = seed_runs(path)
        if seeds:
            raise DeepQError(f"{path} holds the runs of {len(seeds)} seeds ({SEED_PREFIX}N/); pass one of them, "
                             f"e.g. {seeds[0]}")
        if (path / f".{CONFIG}.tmp").is_file():
            raise DeepQError(f"run {path} was stopped while writing its {CONFIG}, before training began: nothing "
                             "was trained; start it again with the same command")
        raise DeepQError(f"{path} is not a deepq run directory (no {CONFIG}); "
                         "pass the --run-dir of a `deepq train` run")
    from deepq.config.sources import read_yaml_file  # bounded: aliases, depth, size (issue 14)

    data = read_yaml_file(path / CONFIG)
    data.pop("versions", None)
    try:
        return Config.from_dict(data)
    except ConfigError as exc:
        raise DeepQError(f"{path / CONFIG} is not a valid deepq config ({exc})") from None


def checkpoint_path(path: str | Path, which: str = "final") -> Path:
    return Path(path) / CHECKPOINTS / f"{which}.safetensors"


def load_agent(path: str | Path, which: str | None = None, *, network=None):
    """The agent saved in a run directory (its final agent, else its latest checkpoint), or in one checkpoint
    file (`agent.save(path)`, or a run's `checkpoints/*.safetensors`). `network`: the factory of a run trained
    with a network that cannot be imported back (see `deepq.train`)."""
    from deepq.checkpoint import load_checkpoint

    if _usable_path(path).is_file():
        return _agent_from_file(Path(path), network)
    cfg = read_run_config(path)
    if which is None:
        which = "final" if checkpoint_path(path, "final").is_file() else "latest"
    tensors, state = load_checkpoint(checkpoint_path(path, which))
    return _agent_from(tensors, state, cfg, f"checkpoint in {path}", network)


def _agent_from_file(path: Path, network):
    from deepq.checkpoint import load_checkpoint

    tensors, state = load_checkpoint(path)
    if isinstance(state.get("config"), dict):
        try:
            cfg = Config.from_dict(state["config"])
        except ConfigError as exc:
            raise DeepQError(f"{path} holds an invalid config ({exc})") from None
    elif path.parent.name == CHECKPOINTS and (path.parent.parent / CONFIG).is_file():
        cfg = read_run_config(path.parent.parent)  # a run's checkpoint from an older deepq: its run's config
    else:
        raise DeepQError(f"{path} holds no config: not an agent saved by deepq (agent.save) or a run's checkpoint")
    return _agent_from(tensors, state, cfg, str(path), network)


def _agent_from(tensors: dict, state: dict, cfg: Config, where: str, network):
    from deepq.algo.agent import DQNAgent
    from deepq.envs.spaces import observation_space

    shape = state.get("spaces", {})
    if shape.get("env_id") != cfg.env.id:
        raise DeepQError(f"{where} was trained on {shape.get('env_id')!r} but its config says {cfg.env.id!r}; "
                         "the run directory is inconsistent")
    try:
        space = observation_space(shape)
    except (ValueError, TypeError) as exc:  # bounds that make no Box (low above high, say)
        raise DeepQError(f"{where} describes an impossible observation space ({str(exc).splitlines()[0][:120]}); "
                         "it was altered or not written by deepq") from None
    agent = DQNAgent(space, int(shape["n_actions"]), cfg, network)
    try:  # the weights only: Adam's state matters to a resume (deepq.run.resuming), not to an agent that acts
        agent.load_tensors(tensors, with_optimizer=False)
    except (RuntimeError, KeyError) as exc:
        raise DeepQError(f"{where} does not fit the network of its config "
                         f"({str(exc).splitlines()[0][:160]})") from None
    if not agent.learner.is_finite():
        raise DeepQError(f"{where} holds NaN or infinite weights: its agent cannot act (deepq never writes such a "
                         "checkpoint itself)")
    agent.counters = state.get("counters", {})
    return agent
