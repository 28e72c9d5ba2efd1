"""deepq: Deep Q-Networks for Gymnasium tasks with discrete actions.

The public names are imported on first use (PEP 562): `import deepq` and the command line's `--help` do not pay
for PyTorch, Gymnasium or matplotlib (about a second) until a name that needs them is touched.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from deepq.errors import DeepQError

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {"Config": "deepq.config.schema", "EvalResult": "deepq.evaluation.evaluate",
         "evaluate": "deepq.evaluation.evaluate", "random_baseline": "deepq.evaluation.evaluate",
         "train_seeds": "deepq.experiments.multiseed", "load_agent": "deepq.run.runs", "resume": "deepq.train",
         "train": "deepq.train"}

__all__ = ["Config", "DeepQError", "EvalResult", "evaluate", "load_agent", "random_baseline", "resume", "train",
           "train_seeds", "__version__"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports them on first use
    from deepq.config.schema import Config
    from deepq.evaluation.evaluate import EvalResult, evaluate, random_baseline
    from deepq.experiments.multiseed import train_seeds
    from deepq.run.runs import load_agent
    from deepq.train import resume, train


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once: later lookups do not come here again
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # a subpackage, e.g. deepq.config.resolve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """`deepq.train` is the function even after the submodule `deepq/train.py` is imported (which binds the
    package's attribute to the module): the eager `from deepq.train import train` used to rebind it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "train" and isinstance(value, types.ModuleType):
            value = value.train
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
