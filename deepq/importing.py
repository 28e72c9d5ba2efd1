"""Import what a config names by path (`module:name`): env factories and wrappers, network factories. The
current directory is searched for `module` too, as `python -m` does, so a file next to where deepq runs needs no
PYTHONPATH (the fresh processes of `--seeds` find it the same way)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from deepq.errors import DeepQError


def import_module(module: str):
    """Import `module`, also from the current directory, without PYTHONPATH=."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        cwd = str(Path.cwd())
        if exc.name != module.split(".")[0] or cwd in sys.path:
            raise
    sys.path.append(str(Path.cwd()))
    return importlib.import_module(module)


def import_callable(path: str, what: str, hint: str = "") -> Callable:
    """The callable at `module:name` (`name` may be dotted: `Class.method`); one DeepQError line naming `what`
    (e.g. "env.wrappers") when it is malformed, cannot be imported or is not callable."""
    module, _, name = path.rpartition(":")
    if not module or not name:
        raise DeepQError(f"{what}: {path!r} is not of the form module:name{hint}")
    try:
        obj: Any = import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise DeepQError(f"{what}: cannot import {path} ({exc}){hint}") from None
    if not callable(obj):
        raise DeepQError(f"{what}: {path} is not a class or function{hint}")
    return obj
