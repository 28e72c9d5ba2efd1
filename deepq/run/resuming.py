"""Continuing a run from its latest checkpoint: `deepq train --resume RUN`, `deepq.resume(RUN)`.

A resume continues *that* run, so its config is the run's own config.yaml. It may raise `train.total_steps` (to
train on after the budget ran out) and change the `log` section (what is written, not what is learned); any
other change is refused in one line, because the result would be neither the old run nor a new one. With the
config unchanged, the resumed run ends bit for bit as if it had never stopped (see `deepq.snapshot`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

from deepq.envs.spaces import shape_text
from deepq.run import runs, snapshot
from deepq.checkpoint import load_checkpoint
from deepq.config.schema import Config
from deepq.errors import ConfigError, DeepQError

GROWS = "train.total_steps"  # may only grow
FREE = "log."  # may change freely
STOP = "eval.stop_when_solved"  # may change: whether the continuation stops at a (next) solved evaluation


def config_for_resume(run_dir: str | Path, overrides: Optional[dict[str, Any]] = None) -> Config:
    """The run's config.yaml with the overrides a resume allows; any other change is a one-line error.

    Raising the budget of a run that stopped when solved means training on past the solve: eval.stop_when_solved
    turns false unless the overrides set it."""
    path = _run_dir(run_dir)
    saved = runs.read_run_config(path)
    overrides = dict(overrides or {})
    if STOP not in overrides and _stopped_solved(path) and saved.replace(**overrides).train.total_steps > \
            saved.train.total_steps:
        overrides[STOP] = False
    cfg = saved.replace(**overrides) if overrides else saved
    check_same_run(saved, cfg, run_dir)
    return cfg


def _stopped_solved(path: Path) -> bool:
    """Whether the run's last session ended because it solved the task or reached eval.target (its summary.json
    says so)."""
    import json

    try:
        return json.loads((path / runs.SUMMARY).read_text()).get("stopped") in ("solved", "target")
    except (OSError, ValueError, AttributeError):
        return False


def check_same_run(saved: Config, cfg: Config, run_dir: str | Path) -> None:
    """Refuse, in one line, a config that differs from the run's saved one other than as a resume may."""
    for key, old, new in _changes(saved.to_dict(), cfg.to_dict()):
        if key.startswith(FREE) or key == STOP:
            continue
        if key == GROWS and new >= old:
            continue
        if key == GROWS:
            raise DeepQError(f"{GROWS} can only grow on a resume ({old} -> {new}); give {GROWS}={old} or more")
        raise DeepQError(f"a resume continues {run_dir} as its config.yaml says, so {key} cannot change "
                         f"({old} -> {new}); to try {key}={new}, start a new run: deepq train --config "
                         f"{Path(run_dir) / runs.CONFIG} {key}={new} --run-dir NEW_DIR")


def read_latest(path: Path, cfg: Config, spaces: dict[str, Any]) -> tuple[dict, dict]:
    """The run's latest checkpoint as (tensors, state), refused in one line unless this config can continue it."""
    ckpt = runs.checkpoint_path(path, "latest")
    if not ckpt.is_file():
        raise DeepQError(f"run {path} has no {ckpt.relative_to(path)} to resume from: it stopped before its first "
                         f"checkpoint (every log.checkpoint_interval={cfg.log.checkpoint_interval} env steps); "
                         f"start it again: deepq train --config {path / runs.CONFIG} --run-dir NEW_DIR")
    tensors, state = load_checkpoint(ckpt)
    resume_state = state.get("resume")
    if not isinstance(resume_state, dict):
        raise DeepQError(f"checkpoint {ckpt} holds an agent only, not a training state to resume from (copied "
                         "from a best/final checkpoint, or written by an older deepq); start a new run")
    theirs, ours = state.get("spaces") or {}, spaces
    if (theirs.get("env_id"), shape_text(theirs)) != (ours["env_id"], shape_text(ours)):
        raise DeepQError(f"checkpoint {ckpt} was trained on {_describe(theirs)} but this run is {_describe(ours)}; "
                         "resume a run with its own checkpoint")
    loop = resume_state["loop"]
    problem = _loop_problem(loop)
    if problem:
        raise DeepQError(f"checkpoint {ckpt} has a damaged training state ({problem}); it was altered or not "
                         "written by deepq: restore it, or start a new run")
    for key, old, new in _changes(_with_defaults(loop.get("config") or {}), cfg.to_dict()):
        if not key.startswith(FREE) and key not in (GROWS, STOP):
            raise DeepQError(f"checkpoint {ckpt} was written with {key}={old} but the run's config.yaml says "
                             f"{new}: the run directory is inconsistent; restore its config.yaml or start anew")
    counters, result = loop.get("counters") or {}, loop.get("result") or {}
    steps, budget = counters.get("env_steps", 0), cfg.train.total_steps
    more = max(2 * budget, steps + budget)
    raised = budget > int((loop.get("config") or {}).get("train", {}).get("total_steps", budget))
    if result.get("solved") and cfg.eval.stop_when_solved and not raised:
        # Stopping again needs a larger budget to stop within; training on needs either.
        raise DeepQError(f"run {path} stopped when it solved the task (at {result.get('solved_at_env_steps')} env "
                         f"steps); its agent is {runs.checkpoint_path(path, 'final')}; to train on past the solve, "
                         "raise the budget: " + runs._say(f"deepq train --resume {path} {GROWS}={more}",
                                                         f"deepq.resume({str(path)!r}, total_steps={more})"))
    if steps >= budget and _complete_on_disk(path, cfg):
        raise DeepQError(f"run {path} already finished its {budget} env steps; to train on, raise the budget: "
                         + runs._say(f"deepq train --resume {path} {GROWS}={more}",
                                     f"deepq.resume({str(path)!r}, total_steps={more})"))
    return tensors, state


# The JSON types of the training loop's saved fields (deepq.run.session's Counters and TrainResult), by annotation.
_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "dict": (dict,), "list": (list,),
          "Optional[int]": (int, type(None)), "Optional[float]": (int, float, type(None)),
          "Optional[dict]": (dict, type(None))}


def _loop_problem(loop: Any) -> str:
    """What is wrong with the loop's part of a checkpoint's state; "" when it can be put back as it is."""
    from dataclasses import fields

    from deepq.run.session import Counters, TrainResult

    if not isinstance(loop, dict):
        return "the loop state is not a mapping"
    for key, kind in (("counters", Counters), ("result", TrainResult)):
        part = loop.get(key)
        if not isinstance(part, dict):
            return f"no {key} mapping"
        types = {f.name: _TYPES.get(str(f.type), (object,)) for f in fields(kind)}
        for name, value in part.items():
            if name not in types:
                return f"unknown field {key}.{str(name)[:40]}"
            if not isinstance(value, types[name]) or (isinstance(value, bool) and bool not in types[name]):
                return f"{key}.{name} is a {type(value).__name__}"
            if key == "counters" and isinstance(value, list):  # recent_returns: finite numbers
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in value):
                    return f"{key}.{name} holds something other than finite numbers"
            elif key == "counters" and value < 0:
                return f"{key}.{name} is negative"
    if "env_steps" not in loop["counters"]:
        return "no counters.env_steps"
    try:
        Config.from_dict(loop.get("config"))
    except (ConfigError, TypeError, AttributeError, ValueError):
        return "its config is not a valid deepq config"
    if not isinstance(loop.get("elapsed_s", 0.0), (int, float)) or not isinstance(loop.get("time_s", {}), dict) \
            or not all(isinstance(v, (int, float)) for v in loop.get("time_s", {}).values()):
        return "its clocks are not numbers"
    metrics_bytes = loop.get("metrics_bytes")
    if metrics_bytes is not None and (not isinstance(metrics_bytes, int) or metrics_bytes < 0):
        return "metrics_bytes is not a file length"
    return ""


def _complete_on_disk(path: Path, cfg: Config) -> bool:
    """Whether a run whose latest checkpoint is at its budget has its final agent, the summary of that end and its
    curve. Not when it was stopped after that checkpoint but before them (a kill or a full disk after the periodic
    checkpoint at the budget, or between an older deepq's end state and them): the resume then only writes them,
    the loop having no step left to take."""
    import json

    try:
        ended = json.loads((path / runs.SUMMARY).read_text()).get("stopped") in ("budget", "solved", "callback")
    except (OSError, ValueError, AttributeError):
        ended = False
    return ended and runs.checkpoint_path(path, "final").is_file() and (
        not cfg.log.plot or (path / "curve.png").is_file())


def restore(saved: tuple[dict, dict], parts: snapshot.Parts, cfg: Config, path: Path, quiet: bool) -> dict:
    """Put the checkpoint back into freshly built parts; returns the training loop's own saved state."""
    tensors, state = saved
    loop = state["resume"]["loop"]
    env_steps = int(loop["counters"]["env_steps"])
    seed = snapshot.restart_seed(cfg.seed, env_steps)
    try:
        exact = snapshot.restore(parts, tensors, state["resume"], seed)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError, OverflowError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise DeepQError(f"checkpoint {runs.checkpoint_path(path, 'latest')} does not fit this run's config "
                         f"({reason}); resume a run with its own checkpoint") from None
    if not parts.agent.learner.is_finite():
        raise DeepQError(f"checkpoint {runs.checkpoint_path(path, 'latest')} holds NaN or infinite weights: it "
                         "cannot continue; start a new run (deepq never writes such a checkpoint itself)")
    if not exact:
        print(f"deepq: note: the state of {cfg.env.id} cannot be saved, so its episodes restart on resume (reset "
              f"with seed {seed}, from the run's seed and env step {env_steps}): the run goes on, but not bit for "
              "bit as an uninterrupted one would", file=sys.stderr)
    result = loop["result"]
    past = ""
    if result.get("solved"):
        past = f", past its solve at env step {result.get('solved_at_env_steps')}"
        if cfg.eval.target is not None:  # the solve stays; a run that reached its target stops at the next one
            if result.get("target_at_env_steps") is not None and cfg.eval.stop_when_solved:
                result.update(target_at_env_steps=None)
                past += f" and its target (stopping at the next confirmed check >= {cfg.eval.target:g})"
        elif cfg.eval.stop_when_solved:  # asked to stop again: at the next evaluation that reaches the threshold
            result.update(solved=False, solved_at_env_steps=None, seconds_to_solve=None)
            past += " (stopping at the next solved evaluation)"
    if not quiet and env_steps >= cfg.train.total_steps:
        print(f"deepq: finishing {path}: its training ended at env step {env_steps}; writing its final agent and "
              "summary", file=sys.stderr)
    elif not quiet:
        print(f"deepq: resuming {path} at env step {env_steps} of {cfg.train.total_steps}{past}", file=sys.stderr)
    return loop


def _run_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if path.is_dir() and not (path / runs.CONFIG).exists() and any(path.glob("seed-*/" + runs.CONFIG)):
        raise DeepQError(f"{path} holds several seeds (--seeds); resume one of them: deepq train --resume "
                         f"{path / 'seed-N'}")
    return path


def _with_defaults(config: dict) -> dict:
    """A checkpoint's config with the keys a newer deepq added at their defaults (as the run's config.yaml is
    read), so that only real differences count."""
    try:
        return Config.from_dict(config).to_dict()
    except (ConfigError, TypeError):
        return config


def _describe(spaces: dict[str, Any]) -> str:
    return f"{spaces.get('env_id')} ({shape_text(spaces)})"


def _changes(old: dict, new: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf that differs."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_changes(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out
