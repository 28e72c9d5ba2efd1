"""The one tiny training config the tests share: the CartPole preset shrunk to a budget that trains in about a
second, with evaluation kept short and every side output (TensorBoard, progress, curve.png) off.

Tests import it as `from tiny import ...` (pytest puts tests/ on sys.path). A test that needs something else (a
shorter budget, checkpoints, progress output) passes it as `extra` overrides, which win over the shared ones."""

from typing import Any

from deepq.config import Config, resolve

TINY: dict[str, Any] = {
    "train.total_steps": 1500, "train.learning_starts": 200,
    "eval.interval": 500, "eval.episodes": 3, "eval.stop_when_solved": False,
    "log.tensorboard": False, "log.progress": False, "log.plot": False,
}


def tiny_overrides(**extra: Any) -> dict[str, Any]:
    """The shared overrides with `extra` on top (dotted keys need `**{"train.total_steps": 400}`)."""
    return {**TINY, **extra}


def cli_value(value: Any) -> str:
    """A value as `deepq train key=value` reads it back: booleans as true/false, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def tiny_cli(**extra: Any) -> list[str]:
    """The same overrides as `key=value` arguments for the command line."""
    return [f"{key}={cli_value(value)}" for key, value in tiny_overrides(**extra).items()]


def tiny_cfg(env_id: str = "CartPole-v1", seed: int | None = 0, **extra: Any) -> Config:
    """A resolved Config: the env's preset under the shared overrides and `extra` (seed=None keeps the config's)."""
    return resolve(env_id=env_id, seed=seed, overrides=tiny_overrides(**extra))
