"""The whole training state in one checkpoint, so that a resumed run continues bit for bit.

RUN/checkpoints/latest.safetensors holds, as tensors named by prefix:
    online.*  target.*  optim.*   the networks and Adam's state (`DQNAgent.tensors`, as in every checkpoint)
    agent.*                       gradient steps, the loss and Q sums not yet written to the metrics, and the
                                  NoisyNet noise generator's state (network.noisy)
    replay.*                      the buffer's stored transitions and position; the sum tree and max priority
                                  (prioritized), the losses and sort counter (loss_softmax), the newest flag (none)
    collector.*                   current observations, pending autoresets, running episode returns and lengths,
                                  the n-step windows
    env.*                         the vector env's physics state (`deepq.envstate`), where it can be captured
    rng.torch                     PyTorch's CPU generator
and in its JSON header, under "resume": the two NumPy generators' `bit_generator.state`, the env's JSON state and
what the training loop adds (its counters, the result so far, the metrics.csv length). Nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepq.envs import state as envstate


@dataclass
class Parts:
    """The live objects whose state a checkpoint captures; the training loop owns them."""

    agent: Any  # DQNAgent
    buffer: Any  # ReplayBuffer or a subclass
    collector: Any  # Collector (it holds the vector env)
    act_rng: np.random.Generator
    replay_rng: np.random.Generator


def capture(parts: Parts) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON) for a resumable checkpoint. The buffer's arrays are not copied: write them right away."""
    tensors = parts.agent.tensors()
    tensors.update(_as_tensors("agent.", parts.agent.state_arrays()))
    tensors.update(_as_tensors("replay.", parts.buffer.state_arrays()))
    tensors.update(_as_tensors("collector.", parts.collector.state_arrays()))
    env = envstate.capture(parts.collector.envs)
    if env is not None:
        tensors.update(_as_tensors("env.", env[0]))
    tensors["rng.torch"] = torch.get_rng_state()
    state = {"rng": {"act": parts.act_rng.bit_generator.state, "replay": parts.replay_rng.bit_generator.state},
             "env": None if env is None else env[1]}
    return tensors, state


def restore(parts: Parts, tensors: dict[str, torch.Tensor], state: dict[str, Any], restart_seed: int) -> bool:
    """Put a captured state back into freshly built parts. Returns False when the env's state was not in the
    checkpoint: its episodes were then restarted with `restart_seed` (the training continues, not exactly).

    Raises KeyError, ValueError or RuntimeError when the checkpoint does not fit the parts."""
    parts.agent.load_tensors(tensors)
    parts.agent.load_state_arrays(_as_arrays("agent.", tensors))
    parts.buffer.load_state_arrays(_as_arrays("replay.", tensors))
    parts.act_rng.bit_generator.state = state["rng"]["act"]
    parts.replay_rng.bit_generator.state = state["rng"]["replay"]
    torch.set_rng_state(tensors["rng.torch"])
    if state["env"] is None:
        parts.collector.restart_episodes(restart_seed)
        return False
    parts.collector.load_state_arrays(_as_arrays("collector.", tensors))
    envstate.restore(parts.collector.envs, _as_arrays("env.", tensors), state["env"])
    return True


def restart_seed(seed: int, env_steps: int) -> int:
    """The reset seed of a resume that cannot restore the env: fixed by the run's seed and the checkpoint's env
    step count, so that resuming the same checkpoint twice gives the same run."""
    return int(np.random.SeedSequence([seed, env_steps]).generate_state(1)[0])


def _as_tensors(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {prefix + name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}


def _as_arrays(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: t.numpy() for name, t in tensors.items() if name.startswith(prefix)}
