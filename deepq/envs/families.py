"""Environment families whose ids exist only once a package registers them, registered on demand so that
`deepq train --env ALE/Pong-v5` or `--env MinAtar/Breakout-v1` works without the user importing anything; a
missing package is one line naming deepq's extra that installs it."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym

from deepq.errors import DeepQError


def _register_ale() -> None:
    import ale_py

    gym.register_envs(ale_py)


def _register_minatar() -> None:
    from minatar import gym as minatar_gym  # Gymnasium 1.x does not run its registration on import

    minatar_gym.register_envs()


def _is_atari_name(name: str) -> bool:
    return name.startswith("ALE/") or name.endswith(("NoFrameskip-v4", "Deterministic-v4", "-v4", "-v5"))


# (does the name belong to it, package to import, how it registers, deepq extra, what it is)
FAMILIES = (
    (lambda name: name.startswith("MinAtar/"), "minatar", _register_minatar, "minatar", "MinAtar"),
    (_is_atari_name, "ale_py", _register_ale, "atari", "the Arcade Learning Environment (Atari)"),
)


def ensure_registered(env_id: str) -> None:
    """Register the family an unknown id belongs to (ALE/..., MinAtar/...); a no-op for a known id."""
    name = env_id.rpartition(":")[2]
    if name in gym.registry:
        return
    for belongs, package, register, extra, what in FAMILIES:
        if not belongs(name):
            continue
        try:
            importlib.import_module(package)
        except ImportError:
            if name.startswith(("ALE/", "MinAtar/")):
                raise DeepQError(f"{env_id} needs {what} ({package}), which is not installed; install deepq's "
                                 f'{extra} extra: pip install -c constraints.txt -e ".[{extra}]"') from None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            register()
        if name in gym.registry:
            return
