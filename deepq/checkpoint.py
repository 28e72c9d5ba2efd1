"""Checkpoints: one safetensors file holding the tensors, with the JSON state in its header.

One file means one atomic rename: a kill during a write leaves the previous checkpoint intact. Loading goes
through `safetensors`, which parses a JSON header and raw little-endian arrays: nothing is unpickled, so a file
from a stranger cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from deepq.errors import DeepQError

FORMAT = "deepq-checkpoint/1"


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-serialisable `state` to `path` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "state": json.dumps(state)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=header)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
