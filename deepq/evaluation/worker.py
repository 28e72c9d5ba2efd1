"""The in-training evaluation in a second process, while the training goes on (`eval.parallel`).

Why: a check plays greedy episodes in lockstep, as long as its longest one, and an agent near the threshold plays
them to the time limit: a quarter of a CartPole-v1 run (about 0.4 s of 1.7 s) and a tenth of a LunarLander-v3 run
were evaluations, with the training waiting. Here a process forked from the run's own (so it has the config, the
network and the environments' code, nothing to import or pickle but the weights) plays them on another core.

The run stays the same run (deepq.run.session): the training goes on from the checked step X while the worker
plays, holding what it logs; when the outcome arrives and changes nothing the training reads (not solved, or no
new target), the held rows are written after the evaluation's own; when it does (the solve), the whole training
state is put back as it was at X (the snapshot a checkpoint takes) and the run goes on from there, exactly as if
it had waited. Every number is the same as with `eval.parallel=false`; only the waiting is gone.

A confirmation of episodes stepped one environment at a time (LunarLander's Box2D: 100 episodes, ~1 s) is
played in two halves at once: the second by a helper process, forked with the worker, while the run pauses (it
is told so, and waits for the outcome), so that the two halves have both cores. The training would have waited
for most of it anyway (the next check comes ~0.5 s later), and the solving check's confirmation ends the run.

The worker ignores Ctrl-C (the run itself saves and stops) and ends when the run closes its end of the pipe or
dies; the helper likewise with the worker's.
"""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any, Optional

import numpy as np

from deepq.errors import DeepQError
from deepq.machine import fork_unavailable, others_running, usable_cores


def unavailable_reason(cfg, callbacks, device_type: str, env_state_capturable: bool) -> Optional[str]:
    """Why this run evaluates in its own process (`eval.parallel` auto or on): None when the worker may be used."""
    if not cfg.eval.interval:
        return "no evaluations (eval.interval=0)"
    if (reason := fork_unavailable()) is not None:
        return reason
    if callbacks:
        return "callbacks see every evaluation as it happens"
    if device_type != "cpu":
        return f"the network is on {device_type} (a forked process cannot use it)"
    if cfg.train.torch_threads != 1:
        return "train.torch_threads is not 1 (PyTorch's thread pool does not survive a fork)"
    if not env_state_capturable and not (cfg.eval.stop_when_solved and cfg.eval.target is None):
        # going back to the checked step and training on needs the environments' state, which this env hides
        return f"{cfg.env.id}'s state cannot be put back, and the run goes on after its solve"
    return None


def other_cores_busy() -> bool:
    """Whether the other cores this process may use are running other work now (one read of Linux's runnable
    count). With `eval.parallel` left empty a check is then played inline: a worker on a busy core slows both
    (two CartPole-v1 seeds training at once on 2 cores, each with a worker, took 10% longer summed than inline).
    Asked for (`eval.parallel=true`), the worker plays every check."""
    others = others_running()
    return others is not None and others >= usable_cores() - 1


class EvalWorker:
    """One forked process that evaluates the weights it is sent, one check at a time."""

    def __init__(self, cfg, agent, seeds: list[int], threshold: Optional[float]) -> None:
        from deepq.evaluation.evaluate import EpisodeRunner

        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._helper: Optional[multiprocessing.Process] = None
        helper_end = None
        if cfg.eval.confirm_episodes >= 2 and threshold is not None and not EpisodeRunner.plays_arrays(cfg.env):
            helper_end, helper_child = context.Pipe()
            self._helper = context.Process(target=_help, args=(helper_child, (self._conn, child, helper_end), cfg,
                                                               agent), daemon=True, name="deepq-eval-helper")
            self._helper.start()
            helper_child.close()
        self._process = context.Process(target=_serve, args=(child, self._conn, cfg, agent, seeds, threshold,
                                                             helper_end), daemon=True, name="deepq-eval")
        self._process.start()
        child.close()
        if helper_end is not None:
            helper_end.close()

    def submit(self, weights: dict[str, np.ndarray], env_steps: int, level: Optional[float], attempt: int) -> None:
        """Evaluate the online network `weights` (its state_dict as arrays) checked at `env_steps`; confirm it when
        the evaluation reaches `level` (None: never), as the run's `attempt`-th confirmation."""
        self._conn.send((weights, env_steps, level, attempt))

    def ready(self) -> bool:
        return self._conn.poll()

    def outcome(self) -> tuple[Any, Optional[float], list]:
        """(EvalResult, confirmed bound or None, the Confirmations it ran), waiting for it if need be (and once
        the worker says it confirms with its helper: the run pauses for the two of them)."""
        try:
            message = self._conn.recv()
            while message[0] == "confirming":
                message = self._conn.recv()
        except (EOFError, OSError):
            raise DeepQError("the evaluation process ended unexpectedly (out of memory?); run again with "
                             "eval.parallel=false to evaluate in the training process") from None
        if message[0] == "error":
            raise DeepQError(f"the in-training evaluation failed: {message[1]}")
        return message[1:]

    def close(self) -> None:
        """Ends the worker at once, mid-check or not: nothing it holds is the run's."""
        self._conn.close()
        for process in (self._process, self._helper):
            if process is not None:
                process.terminate()
                process.join()


class _Helping:
    """The helper as deepq.evaluation.solved.play_confirmation sees it: `begin` tells the run to pause and hands
    the helper these weights and seeds; `returns` waits for its returns."""

    def __init__(self, run_conn, helper_conn, weights: dict[str, np.ndarray]) -> None:
        self.run_conn, self.helper_conn, self.weights = run_conn, helper_conn, weights

    def begin(self, seeds: list[int]) -> None:
        self.run_conn.send(("confirming",))
        self.helper_conn.send((self.weights, seeds))

    def returns(self) -> np.ndarray:
        try:
            message = self.helper_conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("the evaluation's helper process ended unexpectedly") from None
        if isinstance(message, str):
            raise RuntimeError(message)
        return message


def _load(agent, weights: dict[str, np.ndarray]) -> None:
    import torch

    with torch.no_grad():
        agent.online.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})


def _serve(conn, run_end, cfg, agent, seeds: list[int], threshold: Optional[float], helper_conn) -> None:
    """The worker: the run's own evaluation code on the weights it receives."""
    from deepq.evaluation.evaluate import EpisodeRunner, screened_returns, summarize
    from deepq.evaluation.solved import confirmed_level

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the run handles it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run_end.close()  # the run's end, forked along: closed here, so that the run's end ends `recv` below
    runner = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        weights, env_steps, level, attempt = request
        try:
            _load(agent, weights)
            if runner is None:
                runner = EpisodeRunner(cfg.env, cfg.eval.episodes, cfg.env.max_episode_steps)
            ev = summarize(screened_returns(runner, agent.greedy, seeds, cfg.eval.screen_episodes, threshold))
            confirmations: list = []
            helper = None if helper_conn is None else _Helping(conn, helper_conn, weights)
            bound = confirmed_level(cfg, ev.mean, level, threshold, agent.greedy, env_steps, confirmations.append,
                                    attempt=attempt, helper=helper)
            reply = ("ok", ev, bound, confirmations)
        except Exception as exc:  # noqa: BLE001 - reported in the run, which stops with it
            reply = ("error", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
        try:
            conn.send(reply)
        except OSError:  # the run has ended
            break
    if runner is not None:
        runner.close()


def _help(conn, run_ends: tuple, cfg, agent) -> None:
    """The helper: plays the episodes of the seeds it is sent with the weights sent along, returns their returns."""
    from deepq.evaluation.evaluate import EpisodeRunner

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in run_ends:  # the run's and the worker's ends, forked along: only the worker talks to the helper
        end.close()
    runner = None
    while True:
        try:
            weights, seeds = conn.recv()
        except (EOFError, OSError):
            break
        try:
            _load(agent, weights)
            if runner is None:
                runner = EpisodeRunner(cfg.env, len(seeds), cfg.env.max_episode_steps)
            reply: Any = runner.run(agent.greedy, seeds)
        except Exception as exc:  # noqa: BLE001 - reported by the worker, then by the run
            reply = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        try:
            conn.send(reply)
        except OSError:
            break
    if runner is not None:
        runner.close()
