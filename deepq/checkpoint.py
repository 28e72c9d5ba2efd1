"""Checkpoints: one safetensors file holding the tensors, with the JSON state in its header.

One file means one atomic rename: a kill during a write, or a full disk, leaves the previous checkpoint intact
(the new one is written to a temp file, flushed to disk, then renamed over it). Loading goes through
`safetensors`, which parses a JSON header and raw little-endian arrays: nothing is unpickled, so a file from a
stranger cannot run code.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize

from deepq.errors import DeepQError, WriteError
from deepq.run.faults import fault

FORMAT = "deepq-checkpoint/1"


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-serialisable `state` to `path` atomically (temp file + rename)."""
    path = Path(path)
    header = {"format": FORMAT, "state": json.dumps(state)}
    # Serialised in memory, then written by Python: a write error is an OSError with its errno (ENOSPC, ...).
    data = serialize({k: v.contiguous() for k, v in tensors.items()}, metadata=header)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            half = len(data) // 2
            fh.write(memoryview(data)[:half])
            fault(f"checkpoint.{path.stem}")  # tests: a kill or a full disk with the temp file half written
            fh.write(memoryview(data)[half:])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)  # the rename itself survives a power cut
    except OSError as exc:
        raise WriteError.of(path, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory fds: the rename is still atomic, just not yet durable
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by `save_checkpoint`; anything else is refused with a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise DeepQError(f"checkpoint {path} does not exist; train first or point at a run's checkpoints/")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DeepQError(f"checkpoint {path} is not a readable safetensors file ({str(exc).splitlines()[0]}); "
                         "it is corrupt, truncated or not a deepq checkpoint: retrain or restore it") from None
    if header.get("format") != FORMAT:
        raise DeepQError(f"checkpoint {path} is not a deepq checkpoint (format {header.get('format')!r}); "
                         "load only files written by deepq")
    try:
        state = json.loads(header["state"])
    except (KeyError, ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
        raise DeepQError(f"checkpoint {path} has a damaged state header (not JSON); retrain or restore it") from None
    problem = state_problem(state)
    if problem:
        raise DeepQError(f"checkpoint {path} has a damaged state header ({problem}); it was altered or not written "
                         "by deepq: retrain or restore it")
    return tensors, state


# --- the schema of the JSON state --------------------------------------------------------------------------------
# Checked once, here, so that everything that reads a checkpoint (load_agent, evaluate, play, --resume) can trust
# its shape and types; what each part means is checked by its reader (a config by Config.from_dict, the loop's
# state by deepq.run.resuming, the RNG states by NumPy). Sizes are bounded: they become live objects.
MAX_ACTIONS = 1 << 20
MAX_OBS_SIZE = 1 << 28  # elements of one observation
MAX_OBS_DIMS = 8


def state_problem(state: Any) -> str:
    """What is wrong with a checkpoint's JSON state, in a few words; "" when it has the shape deepq writes."""
    if not isinstance(state, dict):
        return f"a JSON {type(state).__name__}, not an object"
    problem = _spaces_problem(state.get("spaces"))
    if problem:
        return problem
    counters = state.get("counters", {})
    if not isinstance(counters, dict) or not all(_is_count(v) for v in counters.values()):
        return "counters is not a mapping of counts"
    if not isinstance(state.get("config", {}), dict):
        return "config is not a mapping"
    resume = state.get("resume")
    if resume is None:
        return ""
    if not isinstance(resume, dict):
        return "resume is not a mapping"
    rng = resume.get("rng")
    if not isinstance(rng, dict) or not all(isinstance(rng.get(k), dict) for k in ("act", "replay")):
        return "resume.rng lacks the act and replay generator states"
    if not isinstance(resume.get("env"), (dict, type(None))):
        return "resume.env is not a mapping"
    if not isinstance(resume.get("loop"), dict):
        return "resume.loop is not a mapping"
    return ""


def _spaces_problem(spaces: Any) -> str:
    if not isinstance(spaces, dict):
        return "no spaces mapping"
    if not isinstance(spaces.get("env_id"), str) or not spaces["env_id"]:
        return "spaces.env_id is not an environment id"
    n = spaces.get("n_actions")
    if not _is_count(n) or not 1 <= n <= MAX_ACTIONS:
        return f"spaces.n_actions is not a number of actions in [1, {MAX_ACTIONS}]"
    shape = spaces.get("obs_shape", [spaces.get("obs_dim")])
    if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_OBS_DIMS or \
            not all(_is_count(d) and d >= 1 for d in shape) or math.prod(shape) > MAX_OBS_SIZE:
        return f"spaces.obs_shape is not a shape of at most {MAX_OBS_DIMS} sizes >= 1 (of {MAX_OBS_SIZE} elements)"
    dtype = spaces.get("obs_dtype", "float32")
    if dtype not in ("float16", "float32", "float64", "uint8", "int8", "uint16", "int16", "int32", "int64"):
        return "spaces.obs_dtype is not a numeric dtype"
    for key in ("obs_low", "obs_high"):
        bound = spaces.get(key)
        values = bound if isinstance(bound, list) else [bound]
        if bound is not None and (not 1 <= len(values) <= MAX_OBS_SIZE or not all(_is_bound(v) for v in values)):
            return f"spaces.{key} is not a bound"
    return ""


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_bound(value: Any) -> bool:
    return value in ("inf", "-inf") or (isinstance(value, (int, float)) and
                                                         not isinstance(value, bool) and not math.isnan(value))
