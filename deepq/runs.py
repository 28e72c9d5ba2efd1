"""The run directory: everything a run leaves behind, and how to load an agent back from it.

    RUN/config.yaml              full resolved config + versions (also a valid --config file)
    RUN/metrics.csv              one row per training episode, per train-metrics record and per evaluation
    RUN/events.out.tfevents.*    TensorBoard
    RUN/checkpoints/final.safetensors   the run's agent: the first solved one, else the last one
    RUN/checkpoints/latest.safetensors  periodic checkpoint during training
    RUN/summary.json             outcome: solved?, steps, seconds, last evaluation
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from deepq.config import Config, read_yaml
from deepq.errors import ConfigError, DeepQError

CONFIG = "config.yaml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"


def versions() -> dict[str, str]:
    import gymnasium
    import numpy
    import torch

    from deepq import __version__

    return {"deepq": __version__, "python": platform.python_version(), "torch": str(torch.__version__),
            "gymnasium": gymnasium.__version__, "numpy": numpy.__version__, "platform": platform.platform()}


def create_run_dir(path: str | Path) -> Path:
    """Make a fresh run directory, refusing one that already holds a run or other files."""
    path = Path(path)
    if (path / CONFIG).exists():
        raise DeepQError(f"run directory {path} already holds a deepq run; choose a new --run-dir "
                         "or delete the old one")
    if path.exists() and not path.is_dir():
        raise DeepQError(f"run directory {path} is a file; choose a directory path for --run-dir")
    if path.is_dir() and any(path.iterdir()):
        raise DeepQError(f"run directory {path} exists and is not empty; choose a new or empty --run-dir")
    try:
        (path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DeepQError(f"run directory {path} is not writable ({exc.strerror}); "
                         "choose a --run-dir you can write to") from None
    return path


def write_config(path: Path, cfg: Config) -> None:
    cfg.save(path / CONFIG, extra={"versions": versions()})


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    tmp = path / f".{SUMMARY}.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, path / SUMMARY)


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
    from deepq.agent import DQNAgent
    from deepq.checkpoint import load_checkpoint

    cfg = read_run_config(path)
    if which is None:
        which = "final" if checkpoint_path(path, "final").is_file() else "latest"
    tensors, state = load_checkpoint(checkpoint_path(path, which))
    shape = state.get("spaces", {})
    if shape.get("env_id") != cfg.env.id:
        raise DeepQError(f"checkpoint in {path} was trained on {shape.get('env_id')!r} but the run's config says "
                         f"{cfg.env.id!r}; the run directory is inconsistent")
    agent = DQNAgent(int(shape["obs_dim"]), int(shape["n_actions"]), cfg)
    try:
        agent.load_tensors(tensors)
    except (RuntimeError, KeyError) as exc:
        raise DeepQError(f"checkpoint in {path} does not fit the network in its config.yaml "
                         f"({str(exc).splitlines()[0][:160]})") from None
    agent.counters = state.get("counters", {})
    return agent
