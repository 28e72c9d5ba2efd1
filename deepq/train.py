"""The training loop: act, step, store, learn, evaluate; everything else is the run session around it
(deepq.run.session: run directory, lock, resume, checkpoints, metrics, signals, divergence, summary).

Data flow of one iteration (N = num_envs):
    actions (N,) = agent.act(obs (N, *obs_shape), epsilon)
    envs.step(actions) -> next_obs, reward, terminated, truncated
    collector stores only the real transitions (not the reset step that follows an episode end)
    every train_freq env steps: gradient_steps x (sample -> agent.update [-> new priorities, PER / loss_softmax])
    every eval.interval env steps: greedy evaluation on separate seeded environments
    every log.checkpoint_interval env steps, and on SIGINT/SIGTERM: the whole state to checkpoints/latest
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from deepq.algo.agent import DQNAgent
from deepq.machine import blas_threads, usable_cores
from deepq.algo.schedules import epsilon_at, learning_rate
from deepq.config.schema import Config, apply_overrides
from deepq.data.collector import Collector
from deepq.data.priority import beta_at
from deepq.data.frames import make_frame_replay
from deepq.data.replay import ReplayBuffer, make_buffer
from deepq.envs import source as env_source
from deepq.envs.make import make_vec_env
from deepq.envs.pixels import Preprocessing
from deepq.envs.spaces import describe as describe_spaces
from deepq.errors import DeepQError
from deepq.nets.build import NetworkFactory, factory_path
from deepq.run import resuming, runs, snapshot
from deepq.run.callbacks import Callback
from deepq.run.interrupts import StopSignals
from deepq.run.session import EVAL_SEED_BASE, Counters, Rewound, RunSession, TrainResult  # noqa: F401 - public names


def train(cfg: Config, run_dir: str | Path | None = None, *, quiet: bool = False,
          callbacks: Sequence[Callback] = (), resume: bool = False,
          network: Optional[NetworkFactory] = None, env=None, overwrite: bool = False) -> DQNAgent:
    """Train a DQN agent as configured; returns it (with `.result`, a `TrainResult`).

    With `run_dir`, the run directory gets the config, metrics, TensorBoard events, checkpoints and a summary, and
    is locked against other processes while this one trains. `resume=True` continues the run in `run_dir` from
    its latest checkpoint, exactly where it stopped (`deepq.resume` reads the run's config for you).

    SIGINT and SIGTERM finish the current step, save the latest checkpoint and the metrics, and raise
    `Interrupted` (a KeyboardInterrupt). A NaN or inf raises `Diverged` without overwriting the last good
    checkpoint; a full disk raises `WriteError`, the previous checkpoint intact.

    `network` is your own Q-network: `network(observation_space, n_actions) -> torch.nn.Module`. Its import path
    goes into the run's config (`network.factory`) so that `load_agent`, `deepq evaluate`, `play` and `--resume`
    rebuild it; one that cannot be imported back (a lambda, a notebook cell) trains all the same, and loading the
    run then asks for it (`deepq.load_agent(run, network=...)`).

    `env` is the environment: an id (`"CartPole-v1"`, `"mypkg:Maze-v0"`) or a factory, a function or class that
    returns a new `gymnasium.Env` (called with `env.kwargs`); its import path goes into `env.id` (see
    `deepq.envs.source`). `overwrite=True` replaces what `run_dir` holds (a run, or the seeds of one), unless a
    live process trains it.
    """
    cfg = as_config(cfg)
    cfg = env_source.bind(cfg, env, keep_id=resume)
    if network is not None:
        cfg = cfg.replace(**{"network.factory": factory_path(network)})
    if resume and run_dir is None:
        raise DeepQError("resume=True needs the run_dir of the run to continue")
    path = None if run_dir is None else Path(run_dir)
    if resume:  # what is not a run, or a config that would change the run, is refused in one line
        resuming.check_same_run(runs.read_run_config(path), cfg, path)
    envs = make_vec_env(cfg.env, cfg.env.num_envs, cfg.env.max_episode_steps)
    if overwrite and path is not None and not resume:
        runs.clear_run_dir(path)
    try:
        envs = _in_process(cfg, envs)
        with StopSignals() as stop:
            return _train(cfg, envs, path, resume, stop, quiet, callbacks, network)
    finally:
        envs.close()


def resume(run_dir: str | Path, *, total_steps: Optional[int] = None, stop_when_solved: Optional[bool] = None,
           quiet: bool = False, callbacks: Sequence = (), network=None, env=None):
    """Continue the run in `run_dir` from its latest checkpoint; `total_steps` raises its budget. Returns the
    agent, as `deepq.train` does. `network`, `env`: the factories of a run trained with ones that cannot be
    imported back (see `deepq.train`).

    A run that stopped when it solved the task trains on with a larger `total_steps`, to the new budget, unless
    `stop_when_solved=True` asks it to stop again at its next solved evaluation."""
    overrides: dict[str, Any] = {} if total_steps is None else {resuming.GROWS: total_steps}
    if stop_when_solved is not None:
        overrides[resuming.STOP] = stop_when_solved
    return train(resuming.config_for_resume(run_dir, overrides), run_dir, quiet=quiet, callbacks=callbacks,
                 resume=True, network=network, env=env)


def as_config(cfg: Config | dict) -> Config:
    """A Config as given, or built from a dict (nested sections or dotted keys, as in `Config.replace`)."""
    if isinstance(cfg, Config):
        return cfg
    if isinstance(cfg, dict):
        return Config.from_dict(apply_overrides({}, cfg))
    raise DeepQError(f"deepq.train takes a deepq.Config (e.g. deepq.config.resolve(env_id=\"CartPole-v1\")) or a "
                     f"dict of its keys, got {type(cfg).__name__}")


def _train(cfg: Config, envs, path: Optional[Path], resume: bool, stop: StopSignals, quiet: bool,
           callbacks: Sequence[Callback], network: Optional[NetworkFactory]) -> DQNAgent:
    if cfg.train.torch_threads:  # never more threads than cores: oversubscribed, every matmul waits
        torch.set_num_threads(min(cfg.train.torch_threads, usable_cores()))
    torch.manual_seed(cfg.seed)
    act_rng, replay_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    obs_space, n_actions = envs.single_observation_space, int(envs.single_action_space.n)
    spaces = describe_spaces(cfg.env.id, obs_space, n_actions)
    with blas_threads(1), RunSession(cfg, path, spaces, quiet, callbacks) as run:
        saved = run.read_resume_state() if resume else None  # refused in one line before anything is written
        agent, buffer = _build(cfg, obs_space, n_actions, network)
        if not resume:
            run.create_run_dir()
        pixels = Preprocessing.of(cfg.env)
        collector = Collector(envs, buffer, cfg.seed, cfg.replay.n_step, cfg.env.terminal_reward,
                              whole_games=pixels is not None and pixels.reports_games)
        if _evaluates_in_parallel(cfg, callbacks, agent, envs):
            run.start_eval_worker(agent)
        run.start(snapshot.Parts(agent, buffer, collector, act_rng, replay_rng), saved)
        stopped = _loop(cfg, run, stop, agent, buffer, collector, act_rng, replay_rng)
        run.finish(agent, stopped)
    run.after(agent)
    return agent


def _loop(cfg: Config, run: RunSession, stop: StopSignals, agent: DQNAgent, buffer: ReplayBuffer,
          collector: Collector, act_rng: np.random.Generator, replay_rng: np.random.Generator) -> str:
    """DQN (Mnih et al. 2015), one vector step per iteration; returns why it ended: budget, solved, target or
    callback."""
    c, timer = run.counters, run.timer
    refresh_priorities = cfg.replay.kind in ("prioritized", "loss_softmax")
    beta_steps = (cfg.replay.beta_steps or cfg.train.total_steps) if cfg.replay.kind == "prioritized" else 0
    t = time.perf_counter()
    while c.env_steps < cfg.train.total_steps:
        try:
            epsilon = epsilon_at(cfg.exploration, c.env_steps, c.episodes)
            lr = learning_rate(cfg.learner, cfg.train.total_steps, c.env_steps, run.result.solved_at_env_steps)
            if cfg.learner.lr_end is not None:
                agent.set_lr(lr)
            action_N = agent.act(collector.obs_NO, epsilon, act_rng)
            t = timer.add("act", t)
            n_real = collector.begin(action_N)
            c.env_steps += n_real
            t = timer.add("env+store", t)
            if not cfg.train.overlap:
                t = _collect(collector, run, agent, epsilon, lr, timer, t)
            if c.env_steps >= cfg.train.learning_starts and len(buffer):
                if beta_steps:  # prioritized: the importance-sampling exponent rises from beta_start to 1
                    buffer.beta = beta_at(cfg.replay.beta_start, beta_steps, c.env_steps)
                for _ in range(_updates_due(cfg, c, n_real, buffer)):
                    batch = buffer.sample(cfg.replay.batch_size, replay_rng)
                    t = timer.add("sample", t)
                    td_error_B = agent.update(batch)
                    t = timer.add("update", t)
                    if refresh_priorities:  # the sampled transitions get the TD errors just computed
                        buffer.update_priorities(batch.indices, td_error_B.cpu().numpy())
                        t = timer.add("priorities", t)
                c.grad_steps = agent.grad_steps
            if cfg.train.overlap:  # the envs stepped while the updates ran (in their own process, where they can)
                t = _collect(collector, run, agent, epsilon, lr, timer, t)

            run.check_in(agent)  # eval.parallel: the check in flight, applied when it is in or must be
            t = timer.add("eval", t)
            if run.eval_due():
                reached = run.evaluate(agent, epsilon)  # "solved", "target" (eval.target) or ""
                t = timer.add("eval", t)
                if reached and cfg.eval.stop_when_solved:
                    return reached
            if not run.step_done(agent, stop):  # checkpoint when due, Ctrl-C, callbacks' on_step
                return "callback"
            t = timer.add("checkpoint", t)
        except Rewound as back:  # eval.parallel: the state is that of a check's step, the check applied there
            if back.reached and cfg.eval.stop_when_solved:
                return back.reached
            if not run.step_done(agent, stop):  # the rest of that step
                return "callback"
            t = time.perf_counter()
    return "budget"


def _collect(collector: Collector, run: RunSession, agent: DQNAgent, epsilon: float, lr: float, timer,
             t: float) -> float:
    """The vector step `collector.begin` started: its transitions stored (n-step folded), its finished episodes
    logged."""
    finished = collector.finish()
    t = timer.add("env+store", t)
    for episode in finished:
        run.episode_finished(episode, agent, epsilon, lr)
    return timer.add("log", t)


def _in_process(cfg: Config, envs):
    """train.overlap: the envs in a second process where env.process allows (deepq.envs.process), else as they
    are (the same results: only where they step moves). Asked for where it cannot, one line says why."""
    if not cfg.train.overlap or cfg.env.process is False:
        return envs
    from deepq.envs import process

    reason = process.unavailable_reason(envs)
    if reason is None:
        return process.EnvProcess(envs)
    if cfg.env.process:
        print(f"deepq: note: env.process=true, but stepping the envs in the training process: {reason}",
              file=sys.stderr)
    return envs


def _evaluates_in_parallel(cfg: Config, callbacks: Sequence[Callback], agent: DQNAgent, envs) -> bool:
    """eval.parallel: true, false, or empty (auto: wherever deepq.evaluation.worker can, i.e. Linux, 2+ cores, no
    callbacks, the network on the CPU; left empty, each check goes to the worker only while another core is free).
    Where it cannot, a run that asked for it says why and evaluates inline."""
    if cfg.eval.parallel is False:
        return False
    from deepq.envs.state import capture
    from deepq.evaluation.worker import unavailable_reason

    reason = unavailable_reason(cfg, callbacks, agent.device.type, capture(envs) is not None)
    if reason is not None and cfg.eval.parallel:
        print(f"deepq: note: eval.parallel=true, but evaluating in the training process: {reason}", file=sys.stderr)
    return reason is None


def _build(cfg: Config, obs_space, n_actions: int, network: Optional[NetworkFactory]) -> tuple[DQNAgent,
                                                                                              ReplayBuffer]:
    """The agent and the buffer; sizes this machine cannot hold are a one-line error, not a traceback."""
    try:
        return DQNAgent(obs_space, n_actions, cfg, network), _make_replay(cfg, obs_space)
    except (MemoryError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        if not isinstance(exc, MemoryError) and "alloc" not in reason:  # torch reports it as a RuntimeError
            raise
        raise DeepQError(f"the network or the replay buffer does not fit in memory ({reason[:160]}); lower "
                         f"network.hidden_sizes (now {list(cfg.network.hidden_sizes)}) or replay.capacity "
                         f"(now {cfg.replay.capacity})") from None


def _make_replay(cfg: Config, obs_space):
    """The replay `replay.kind` and `replay.storage` ask for: frames stored once for pixel tasks (auto)."""
    pixels = Preprocessing.of(cfg.env)
    storage = cfg.replay.storage
    if storage == "auto":
        storage = "frames" if pixels is not None and cfg.replay.kind in ("uniform", "prioritized") else "transitions"
    if storage == "frames":
        stack = pixels.stacked if pixels is not None else 1
        return make_frame_replay(cfg.replay, obs_space.shape, cfg.learner.gamma, cfg.env.num_envs, stack,
                                 obs_space.dtype)
    return make_buffer(cfg.replay, obs_space.shape, cfg.learner.gamma, cfg.env.num_envs, obs_space.dtype)


def _updates_due(cfg: Config, c: Counters, n_real: int, buffer) -> int:
    """Gradient steps owed after this env step: `gradient_steps` for every `train_freq` env steps collected, or,
    online (replay.kind=none), `gradient_steps` on the transitions this step stored, if it stored any."""
    if cfg.replay.kind == "none":
        return cfg.train.gradient_steps if buffer.take_new() else 0
    c.update_credit += n_real
    due, c.update_credit = divmod(c.update_credit, cfg.train.train_freq)
    return due * cfg.train.gradient_steps
