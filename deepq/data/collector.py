"""The collector moves data: it steps the vector environment with the agent's actions and stores the real
transitions in the replay buffer, keeping `terminated` and `truncated` apart.

Gymnasium 1.x vector envs autoreset on the *next* step: after sub-env i reports terminated or truncated, the next
`step` ignores the action for i and returns the first observation of a new episode with reward 0. That step is a
reset, not a transition, and is never stored. A truncated episode's last transition keeps its true final
observation and done=0, so the TD target bootstraps through the time limit; only termination stops bootstrapping.

An Atari game trains on lives and clipped rewards; with `whole_games`, the episodes reported are the whole games
with their raw scores, which the env's GameScore wrapper (deepq.envs.pixels) puts in the info of a game's last step.

Two options change what is stored (never what is logged: episode returns are the environment's own rewards):
`terminal_reward` replaces the reward of a terminating step (notebook 000's -100; a truncation keeps its reward), and
`n_step` > 1 folds each sub-env's last n transitions into one n-step transition (`NStepFolder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from deepq.data.replay import ReplayBuffer


@dataclass(frozen=True)
class Episode:
    """A finished training episode."""

    env_index: int
    ret: float  # undiscounted return (of the environment's own rewards)
    length: int
    terminated: bool  # False: cut by the time limit


def games_ended(info: dict, terminated_N: np.ndarray) -> list[Episode]:
    """The whole games that ended on this vector step (GameScore's `game_score` and `game_length`)."""
    mask_N = info.get("_game_score")
    if mask_N is None:
        return []
    return [Episode(int(i), float(info["game_score"][i]), int(info["game_length"][i]), bool(terminated_N[i]))
            for i in np.flatnonzero(mask_N)]


class NStepFolder:
    """Folds each sub-env's stream of transitions into n-step transitions, vectorised over sub-envs.

    For the transition (s_t, a_t) it emits R = r_t + g r_{t+1} + ... + g^{k-1} r_{t+k-1}, the observation
    s_{t+k}, done and discount g^k, where k = n, or fewer when the episode ends first:
      - termination within the window: done=1, no bootstrap (discount is then unused);
      - truncation within the window: done=0, bootstrap with g^k from the true final observation.
    At an episode end every pending transition of that sub-env is flushed; nothing crosses into the next episode.

    Each sub-env keeps a window of its last n transitions, newest at position n-1 (N = sub-envs, W = n, O = obs
    dims): every step shifts the windows left by one and adds g^(n-1-p) r to the running return at position p,
    so the return of the transition at position p covers the rewards from p to the newest.
    """

    def __init__(self, n: int, gamma: float, num_envs: int, obs_shape: tuple[int, ...] | int,
                 obs_dtype=np.float32) -> None:
        self.n = n
        self.gamma_pow = gamma ** np.arange(n + 1, dtype=np.float64)  # g^0 .. g^n
        self.weight_W = self.gamma_pow[n - 1::-1].copy()  # g^(n-1-p) for window position p
        shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        self.obs_NWO = np.zeros((num_envs, n, *shape), dtype=obs_dtype)
        self.action_NW = np.zeros((num_envs, n), dtype=np.int64)
        self.ret_NW = np.zeros((num_envs, n), dtype=np.float64)
        self.length_N = np.zeros(num_envs, dtype=np.int64)  # pending transitions per sub-env (0 .. n)
        self.pos_W = np.arange(n)

    def fold(self, obs_NO, action_N, reward_N, next_obs_NO, terminated_N, truncated_N, real_N):
        """Take one vector step; return the n-step transitions that are complete, as the arrays
        (obs, action, reward, next_obs, done, discount) for `ReplayBuffer.add`. `real_N` is False for the
        autoreset step that follows an episode end (no transition; its window is empty)."""
        n = self.n
        self.obs_NWO[:, :-1] = self.obs_NWO[:, 1:]
        self.obs_NWO[:, -1] = obs_NO
        self.action_NW[:, :-1] = self.action_NW[:, 1:]
        self.action_NW[:, -1] = action_N
        self.ret_NW[:, :-1] = self.ret_NW[:, 1:]
        self.ret_NW[:, -1] = 0.0
        self.ret_NW += self.weight_W * np.where(real_N, reward_N, 0.0)[:, None]
        self.length_N += real_N
        ended_N = (terminated_N | truncated_N) & real_N
        if not ended_N.any() and np.equal(self.length_N, n).all():
            # Most steps: no episode ended and every window is full, so each sub-env emits its oldest transition
            # (what the general case below computes, in the same order, in far fewer operations).
            self.length_N -= 1
            return (self.obs_NWO[:, 0].copy(), self.action_NW[:, 0].copy(), self.ret_NW[:, 0].copy(), next_obs_NO,
                    terminated_N, np.full(len(terminated_N), self.gamma_pow[n]))
        full_N = (self.length_N == n) & ~ended_N
        # episode end: flush the valid positions p >= n - length; full window: emit the oldest (p = 0)
        emit_NW = (self.pos_W >= n - self.length_N[:, None]) & \
            (ended_N[:, None] | (full_N[:, None] & (self.pos_W == 0)))
        rows, cols = np.nonzero(emit_NW)
        out = (self.obs_NWO[rows, cols], self.action_NW[rows, cols], self.ret_NW[rows, cols], next_obs_NO[rows],
               terminated_N[rows], self.gamma_pow[n - cols])
        self.length_N[ended_N] = 0
        self.length_N[full_N] -= 1
        return out

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The pending windows, for a checkpoint."""
        return {"obs": self.obs_NWO, "action": self.action_NW, "ret": self.ret_NW, "length": self.length_N}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in (("obs", self.obs_NWO), ("action", self.action_NW), ("ret", self.ret_NW),
                            ("length", self.length_N)):
            array[...] = arrays[name]


class Collector:
    def __init__(self, envs, buffer: ReplayBuffer, seed: int, n_step: int = 1,
                 terminal_reward: Optional[float] = None, whole_games: bool = False) -> None:
        self.envs = envs
        self.whole_games = whole_games
        self.buffer = buffer
        self.num_envs = envs.num_envs
        self.terminal_reward = terminal_reward
        self.obs_NO, _ = envs.reset(seed=seed)
        self._async = hasattr(envs, "step_async")  # deepq.envs.process (Gymnasium's AsyncVectorEnv too)
        self._action_N: Optional[np.ndarray] = None  # the vector step begun: its actions and real transitions
        self._n_real = 0
        self.folder = None
        self.streams = bool(getattr(buffer, "streams", False))  # a frame replay builds n-step returns itself
        if n_step > 1 and not self.streams:
            self.folder = NStepFolder(n_step, buffer.gamma, self.num_envs, self.obs_NO.shape[1:],
                                      self.obs_NO.dtype)
        self.prev_done_N = np.zeros(self.num_envs, dtype=bool)
        self.ep_return_N = np.zeros(self.num_envs, dtype=np.float64)
        self.ep_length_N = np.zeros(self.num_envs, dtype=np.int64)

    def step(self, action_N: np.ndarray) -> tuple[int, list[Episode]]:
        """Step every sub-env once; returns (real transitions collected, episodes that just finished)."""
        n_real = self.begin(action_N)
        return n_real, self.finish()

    def begin(self, action_N: np.ndarray) -> int:
        """Start a vector step: where the envs step in their own process (deepq.envs.process), they step while
        the caller works; returns the real transitions the step will collect (known now: the sub-envs that
        ended on the last step only reset on this one)."""
        self._action_N = action_N
        if self._async:
            self.envs.step_async(action_N)
        self._n_real = int(self.num_envs - self.prev_done_N.sum())
        return self._n_real

    def finish(self) -> list[Episode]:
        """End the vector step `begin` started: store its transitions; returns the episodes that just finished."""
        action_N = self._action_N
        if self._async:
            next_obs_NO, reward_N, terminated_N, truncated_N, info = self.envs.step_wait()
        else:
            next_obs_NO, reward_N, terminated_N, truncated_N, info = self.envs.step(action_N)
        real_N = ~self.prev_done_N  # the step after an episode end is a reset, not a transition
        n_real = self._n_real
        stored_reward_N = reward_N
        if self.terminal_reward is not None:  # shaping on termination only, never on a time-limit truncation
            stored_reward_N = np.where(terminated_N, self.terminal_reward, reward_N)
        if self.streams:
            self.buffer.add_step(self.obs_NO, action_N, stored_reward_N, terminated_N, truncated_N, real_N)
        elif self.folder is not None:
            self.buffer.add(*self.folder.fold(self.obs_NO, action_N, stored_reward_N, next_obs_NO, terminated_N,
                                              truncated_N, real_N))
        elif n_real == self.num_envs:
            self.buffer.add(self.obs_NO, action_N, stored_reward_N, next_obs_NO, terminated_N)
        elif n_real:
            self.buffer.add(self.obs_NO[real_N], action_N[real_N], stored_reward_N[real_N], next_obs_NO[real_N],
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
        if self.whole_games:
            finished = games_ended(info, terminated_N)
        self.prev_done_N = done_N
        self.obs_NO = next_obs_NO
        return finished

    def state_arrays(self) -> dict[str, np.ndarray]:
        """What the next step depends on besides the env and the buffer: the current observations, which sub-envs
        reset next, the running episodes' returns and lengths, and the n-step windows."""
        arrays = {"obs": self.obs_NO, "prev_done": self.prev_done_N, "ep_return": self.ep_return_N,
                  "ep_length": self.ep_length_N}
        if self.folder is not None:
            arrays.update({f"nstep.{k}": v for k, v in self.folder.state_arrays().items()})
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if arrays["obs"].shape != self.obs_NO.shape:
            raise ValueError(f"observations of shape {arrays['obs'].shape}, expected {self.obs_NO.shape}")
        self.obs_NO = arrays["obs"].copy()
        self.prev_done_N[:] = arrays["prev_done"]
        self.ep_return_N[:] = arrays["ep_return"]
        self.ep_length_N[:] = arrays["ep_length"]
        if self.folder is not None:
            self.folder.load_state_arrays({k[len("nstep."):]: v for k, v in arrays.items() if k.startswith("nstep.")})

    def restart_episodes(self, seed: int) -> None:
        """Reset every sub-env with `seed` and drop the running episodes (and their pending n-step transitions):
        how a resume continues where the environment's own state could not be saved."""
        self.obs_NO, _ = self.envs.reset(seed=seed)
        self.prev_done_N[:] = False
        self.ep_return_N[:] = 0.0
        self.ep_length_N[:] = 0
        if self.folder is not None:
            self.folder.length_N[:] = 0
        if self.streams:
            self.buffer.restart()
