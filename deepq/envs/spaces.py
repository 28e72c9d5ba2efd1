"""The environment's spaces as JSON (in checkpoints and summaries) and back: what an agent needs to be rebuilt
without the environment (the observation shape, dtype and bounds, the number of actions)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

MAX_BOUNDS = 4096  # per-element bounds are kept up to this many elements; larger spaces keep min and max only


def describe(env_id: str, observation_space: spaces.Box, n_actions: int) -> dict[str, Any]:
    """{"env_id", "obs_shape", "obs_dtype", "obs_low", "obs_high", "n_actions"} (JSON-safe)."""
    return {"env_id": env_id, "obs_shape": [int(d) for d in observation_space.shape],
            "obs_dtype": np.dtype(observation_space.dtype).name,
            "obs_low": _bounds(observation_space.low), "obs_high": _bounds(observation_space.high),
            "n_actions": int(n_actions)}


def observation_space(described: dict[str, Any]) -> spaces.Box:
    """The Box that `describe` wrote (a checkpoint of an older deepq has only `obs_dim`: a float32 vector)."""
    if "obs_shape" not in described:
        return spaces.Box(-np.inf, np.inf, (int(described["obs_dim"]),), np.float32)
    shape = tuple(int(d) for d in described["obs_shape"])
    dtype = np.dtype(described.get("obs_dtype", "float32"))
    low, high = (_unbounds(described.get(key), shape, default) for key, default in
                 (("obs_low", -np.inf), ("obs_high", np.inf)))
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = np.clip(low, info.min, info.max), np.clip(high, info.min, info.max)
    return spaces.Box(low.astype(dtype), high.astype(dtype), shape, dtype)


def shape_text(described: dict[str, Any]) -> str:
    """`obs 4, actions 2` (an image: `obs 84x84x4`), for messages."""
    shape = described.get("obs_shape") or [described.get("obs_dim")]
    return f"obs {'x'.join(map(str, shape))}, actions {described.get('n_actions')}"


def _bounds(values: np.ndarray) -> Any:
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size and flat.min() == flat.max():
        return _number(flat[0])
    if flat.size > MAX_BOUNDS:
        return [_number(flat.min()), _number(flat.max())]
    return [_number(v) for v in flat]


def _number(value: float) -> float | str:
    return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _unbounds(stored: Any, shape: tuple[int, ...], default: float) -> np.ndarray:
    if stored is None:
        return np.full(shape, default)
    values = np.asarray(stored if isinstance(stored, list) else [stored], dtype=np.float64)
    size = int(np.prod(shape))
    if values.size == size:
        return values.reshape(shape)
    return np.full(shape, values.min() if default < 0 else values.max())
