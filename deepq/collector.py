"""The collector moves data: it steps the vector environment with the agent's actions and stores the real
transitions in the replay buffer, keeping `terminated` and `truncated` apart.

Gymnasium 1.x vector envs autoreset on the *next* step: after sub-env i reports terminated or truncated, the next
`step` ignores the action for i and returns the first observation of a new episode with reward 0. That step is a
reset, not a transition, and is never stored. A truncated episode's last transition keeps its true final
observation and done=0, so the TD target bootstraps through the time limit; only termination stops bootstrapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepq.replay import ReplayBuffer


@dataclass(frozen=True)
class Episode:
    """A finished training episode."""

    env_index: int
    ret: float  # undiscounted return (of the environment's own rewards)
    length: int
    terminated: bool  # False: cut by the time limit


class Collector:
    def __init__(self, envs, buffer: ReplayBuffer, seed: int) -> None:
        self.envs = envs
        self.buffer = buffer
        self.num_envs = envs.num_envs
        self.obs_NO, _ = envs.reset(seed=seed)
        self.prev_done_N = np.zeros(self.num_envs, dtype=bool)
        self.ep_return_N = np.zeros(self.num_envs, dtype=np.float64)
        self.ep_length_N = np.zeros(self.num_envs, dtype=np.int64)

    def step(self, action_N: np.ndarray) -> tuple[int, list[Episode]]:
        """Step every sub-env once; returns (real transitions stored, episodes that just finished)."""
        next_obs_NO, reward_N, terminated_N, truncated_N, _ = self.envs.step(action_N)
        real_N = ~self.prev_done_N  # the step after an episode end is a reset, not a transition
        n_real = int(real_N.sum())
        if n_real == self.num_envs:
            self.buffer.add(self.obs_NO, action_N, reward_N, next_obs_NO, terminated_N)
        elif n_real:
            self.buffer.add(self.obs_NO[real_N], action_N[real_N], reward_N[real_N], next_obs_NO[real_N],
                            terminated_N[real_N])
        self.ep_return_N += np.where(real_N, reward_N, 0.0)
        self.ep_length_N += real_N
        done_N = terminated_N | truncated_N
        finished = []
        for i in np.flatnonzero(done_N & real_N):
            finished.append(Episode(int(i), float(self.ep_return_N[i]), int(self.ep_length_N[i]),
                                    bool(terminated_N[i])))
            self.ep_return_N[i] = 0.0
            self.ep_length_N[i] = 0
        self.prev_done_N = done_N
        self.obs_NO = next_obs_NO
        return n_real, finished
