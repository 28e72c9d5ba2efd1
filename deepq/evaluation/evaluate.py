"""Greedy evaluation over seeded episodes, and the random-policy baseline.

Episode i is reset with seed `seed + i`, exactly as `gym.make(env_id).reset(seed=seed + i)` would, so scores are
comparable with any other library evaluated on the same seeds. All episodes run in lockstep so the policy sees
one batch of observations per step. CartPole's episodes run as arrays in Gymnasium's NumPy vector version of it
(with deepq's leaner step, `deepq.envs.cartpole`), Acrobot's in deepq's (`VectorEpisodes`), with the same start
states and physics, so the same returns (tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, Optional

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from deepq.envs.acrobot import AcrobotVectorEnv, plain_acrobot
from deepq.envs.cartpole import CartPoleArrays, plain_cartpole
from deepq.envs.make import env_spec, make_env
from deepq.envs.source import EnvSource, remember
from deepq.errors import DeepQError

Policy = Callable[[np.ndarray], np.ndarray]  # (N, O) observations -> (N,) actions


@dataclass(frozen=True)
class EvalResult:
    mean: float
    std: float
    min: float
    max: float
    episodes: int
    returns: list[float]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"mean {self.mean:.2f} ± {self.std:.2f} (min {self.min:g}, max {self.max:g}) "
                f"over {self.episodes} episodes")


def bare_step(env: gym.Env) -> tuple[Callable, Optional[int]]:
    """(step function, time limit): the innermost env's `step` and the TimeLimit's steps when every wrapper is one
    of gym.make's standard checks (they check, they do not change a step); the env's own `step` otherwise.
    Skipping them saves ~40% of a CartPole step, which is most of an evaluation's cost."""
    limit, inner = None, env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, TimeLimit):
            limit = inner._max_episode_steps
        elif not isinstance(inner, (OrderEnforcing, PassiveEnvChecker)):
            return env.step, None
        inner = inner.env
    return inner.step, limit


# Gymnasium's NumPy vector environments whose `state` holds one column per environment in the layout of the
# single environment's `state`, and whose step is the single step's arithmetic on arrays (CartPole; Acrobot has
# deepq's own, deepq.envs.acrobot).
STATE_COLUMN_VECTOR_ENVS = ("gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv",)


class VectorEpisodes:
    """Episodes stepped together in Gymnasium's NumPy vector version of the environment: one NumPy call steps all
    of them (CartPole: ~0.2 us per episode-step for 30 episodes against ~5 us for the single env). Episode i
    starts in the state the single environment's `reset(seed=seeds[i])` starts in, and runs the same physics and
    time limit, so every return equals the single environment's (tests compare them episode by episode)."""

    def __init__(self, env_id: str, max_episode_steps: Optional[int], action_repeat: int = 1) -> None:
        self.env_id = env_id
        self.repeat = action_repeat  # env.action_repeat: each action stepped this many times (fewer at an end)
        self.starter = make_env(env_id, max_episode_steps=max_episode_steps)  # its resets give the start states
        self.limit = max_episode_steps or env_spec(env_id).max_episode_steps
        self.vectors: dict[int, gym.vector.VectorEnv] = {}  # by episode count: evaluations reuse theirs

    @staticmethod
    def available(env_id: str) -> bool:
        spec = env_spec(env_id)
        return (spec.vector_entry_point in STATE_COLUMN_VECTOR_ENVS and not spec.kwargs) or plain_acrobot(spec)

    def _vector(self, n: int) -> gym.vector.VectorEnv:
        spec = env_spec(self.env_id)
        if plain_acrobot(spec):
            return AcrobotVectorEnv(n, self.limit)
        if plain_cartpole(spec):
            return CartPoleArrays(n, self.limit)
        return gym.make_vec(self.env_id, num_envs=n, vectorization_mode="vector_entry_point",
                            max_episode_steps=self.limit).unwrapped

    def run(self, policy: Policy, seeds: list[int]) -> np.ndarray:
        n = len(seeds)
        vector = self.vectors.get(n)
        if vector is None:
            vector = self.vectors[n] = self._vector(n)
            vector.reset(seed=0)  # allocates its arrays; the start states are set below
        starts, first = [], []
        for seed in seeds:
            first.append(self.starter.reset(seed=int(seed))[0])
            starts.append(self.starter.unwrapped.state)
        vector.state = np.array(starts, dtype=np.float64).T.copy()
        vector.steps[:] = 0
        vector.prev_done[:] = False
        obs = np.array(first, dtype=np.float32)
        returns = np.zeros(n)
        active = np.ones(n, dtype=bool)
        actions = np.zeros(n, dtype=np.int64)  # an ended episode's env keeps stepping (and autoresets): ignored
        while True:
            idx = np.flatnonzero(active)
            if not len(idx):
                return returns
            actions[idx] = policy(obs[idx])
            for _ in range(self.repeat):  # a repeat stops for the episodes that end inside it (deepq.envs.repeat)
                obs, reward, terminated, truncated, _ = vector.step(actions)
                returns[idx] += reward[idx]
                going = ~(terminated[idx] | truncated[idx])
                active[idx] = going
                idx = idx[going]
                if not len(idx):
                    break

    def close(self) -> None:
        self.starter.close()
        for vector in self.vectors.values():
            vector.close()


class EpisodeRunner:
    """Keeps `n` environments alive between evaluations (creating them costs more than a short episode); runs
    CartPole's and Acrobot's episodes as arrays (`VectorEpisodes`)."""

    def __init__(self, env, n: int, max_episode_steps: Optional[int] = None, vectorize: bool = True) -> None:
        self.env = EnvSource.of(env)  # an id, or a run's cfg.env (with its kwargs and wrappers)
        self.env_id = self.env.id
        self.max_episode_steps = max_episode_steps
        self.envs: list[gym.Env] = []
        self.steppers: list[tuple[Callable, Optional[int]]] = []
        self.vector = VectorEpisodes(self.env_id, max_episode_steps, self.env.action_repeat) \
            if vectorize and self.plays_arrays(self.env) else None
        if self.vector is None:
            self._grow(n)
        self.action_space = (self.envs[0] if self.vector is None else self.vector.starter).action_space

    @staticmethod
    def plays_arrays(env) -> bool:
        """Whether the episodes of `env` (an id or a run's cfg.env) run as arrays (`VectorEpisodes`): a registered
        id as it is, with or without an action repeat (the arrays play it themselves)."""
        env = EnvSource.of(env)
        return replace(env, action_repeat=1).plain and VectorEpisodes.available(env.id)

    def _grow(self, n: int) -> None:
        while len(self.envs) < n:
            self.envs.append(make_env(self.env, max_episode_steps=self.max_episode_steps))
            self.steppers.append(bare_step(self.envs[-1]))

    def run(self, policy: Policy, seeds: list[int]) -> np.ndarray:
        """Undiscounted return of one episode per seed."""
        if self.vector is not None:
            return self.vector.run(policy, seeds)
        n = len(seeds)
        self._grow(n)
        obs = np.stack([np.asarray(env.reset(seed=int(s))[0])  # (n, *obs_shape), the env's own dtype
                        for env, s in zip(self.envs, seeds)])
        returns = [0.0] * n
        steps = [0] * n
        active = list(range(n))
        while active:
            actions = policy(obs[active]).tolist()
            still = []
            for i, action in zip(active, actions):
                step, limit = self.steppers[i]
                next_obs, reward, terminated, truncated, _ = step(action)
                returns[i] += float(reward)
                steps[i] += 1
                obs[i] = next_obs
                if not (terminated or truncated or steps[i] == limit):
                    still.append(i)
            active = still
        return np.asarray(returns, dtype=np.float64)

    def close(self) -> None:
        for env in self.envs:
            env.close()
        if self.vector is not None:
            self.vector.close()


def screened_returns(runner: EpisodeRunner, policy, seeds: list[int], screen: Optional[int],
                     threshold: Optional[float]) -> np.ndarray:
    """With `screen` = k, the first k episodes run first and the others only if their mean reaches the threshold:
    a full evaluation's result is the same as without screening (same seeds, same greedy policy), but a clearly
    unsolved agent costs k episodes, not all."""
    if not screen or screen >= len(seeds) or threshold is None:
        return runner.run(policy, seeds)
    first = runner.run(policy, seeds[:screen])
    if first.mean() < threshold:
        return first
    return np.concatenate([first, runner.run(policy, seeds[screen:])])


def summarize(returns: np.ndarray) -> EvalResult:
    returns = np.asarray(returns, dtype=np.float64)
    return EvalResult(mean=float(returns.mean()), std=float(returns.std()), min=float(returns.min()),
                      max=float(returns.max()), episodes=int(len(returns)), returns=[float(r) for r in returns])


MAX_EPISODES = 1_000_000  # per call: more is a typo, and its returns array alone would not fit comfortably


def check_episodes(episodes: int, seed: int) -> None:
    """One line for an episode count or a reset seed Gymnasium cannot take (seeds are in [0, 2**32))."""
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or \
            not 1 <= episodes <= MAX_EPISODES:
        raise DeepQError(f"episodes must be a whole number in [1, {MAX_EPISODES:,}], got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**32 - episodes:
        raise DeepQError(f"seed must be a whole number in [0, 2**32 - episodes] (episode i resets with seed + i), "
                         f"got {seed!r}")


def evaluate(agent_or_run, episodes: int = 100, seed: int = 1000, env_id: Optional[str] = None, *,
             env=None) -> EvalResult:
    """Greedy return of an agent (or a run directory) over `episodes` episodes seeded `seed`, `seed + 1`, ...

    `env_id` evaluates on another registered environment; `env` is the factory of a run trained with one that
    cannot be imported back (a lambda, a function of a script's __main__ or a notebook)."""
    from deepq.run.runs import load_agent

    check_episodes(episodes, seed)
    agent = load_agent(agent_or_run) if not hasattr(agent_or_run, "greedy") else agent_or_run
    remember(agent.cfg.env.id, env)
    same_env = env_id in (None, agent.cfg.env.id)
    runner = EpisodeRunner(agent.cfg.env if same_env else env_id, episodes,
                           agent.cfg.env.max_episode_steps if same_env else None)
    if not same_env:
        _check_fits(agent, runner, env_id)
    try:
        return summarize(runner.run(agent.greedy, list(range(seed, seed + episodes))))
    finally:
        runner.close()


def _check_fits(agent, runner: EpisodeRunner, env_id: str) -> None:
    """One line, not a traceback from inside the network, when the agent cannot act in `env_id`."""
    space = runner.envs[0].observation_space if runner.vector is None else runner.vector.starter.observation_space
    shape, n = tuple(space.shape), int(runner.action_space.n)
    if shape != tuple(agent.obs_shape) or n != agent.n_actions:
        runner.close()
        raise DeepQError(f"the agent was trained on {agent.cfg.env.id} (observations {tuple(agent.obs_shape)}, "
                         f"{agent.n_actions} actions) and cannot act in {env_id} (observations {shape}, {n} "
                         "actions); evaluate it on its own environment")


def random_baseline(env_id, episodes: int = 100, seed: int = 1000) -> EvalResult:
    """The uniform-random policy on the same seeded episodes (its own RNG seeded with `seed`); `env_id` may also
    be a run's cfg.env (with its kwargs and wrappers)."""
    check_episodes(episodes, seed)
    runner = EpisodeRunner(env_id, episodes)
    n_actions = runner.action_space.n
    rng = np.random.default_rng(seed)
    try:
        return summarize(runner.run(lambda obs: rng.integers(0, n_actions, size=len(obs)),
                                    list(range(seed, seed + episodes))))
    finally:
        runner.close()
