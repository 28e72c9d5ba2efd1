"""Checkpoints: one safetensors file holding the tensors, with the JSON state in its header.

One file means one atomic rename: a kill during a write, or a full disk, leaves the previous checkpoint intact
(the new one is written to a temp file, flushed to disk, then renamed over it). Loading goes through
`safetensors`, which parses a JSON header and raw little-endian arrays: nothing is unpickled, so a file from a
stranger cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize

from deepq.errors import DeepQError, WriteError

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
            fh.write(data)
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
    except (KeyError, json.JSONDecodeError):
        raise DeepQError(f"checkpoint {path} has a damaged state header; retrain or restore it") from None
    return tensors, state
