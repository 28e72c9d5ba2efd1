"""A vector environment stepped in a second process, so that a run's gradient steps go on while its envs step
(`train.overlap`, `env.process`).

Why: LunarLander-v3's four Box2D envs cost ~200 us a vector step, a fifth of its training loop, while the second
core idles. Here a process forked from the run's own (the envs already built and reset: nothing to import or
pickle) steps them: `step_async(actions)` hands the actions over and returns at once, `step_wait()` collects the
result. One process for all the envs, the observations, rewards and flags in shared memory, one short pipe message
each way: Gymnasium's `AsyncVectorEnv` (a process per env, pickled results) cost more than it hid here (4
LunarLander envs: 562 us a vector step alone against 169 us in one process; beside 450 us of other work, 793 us
against 646 us stepped inline), this one ~50 us (beside 450 us of work: 507 us against 701 us).

The envs step exactly as in the training process (the same objects, forked), so the results are the same numbers;
only where they are computed moves. The worker ignores SIGINT and SIGTERM (the run finishes its step and saves)
and ends when the run closes it or dies. An exception in an env reaches the run as a `RuntimeError` with its text.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from typing import Optional

import numpy as np

from deepq import machine

_STEP, _RESET, _QUIT, _INFO = b"S", b"R", b"Q", b"I"


def unavailable_reason(envs) -> Optional[str]:
    """Why `envs` step in the training process: None when a second process may step them."""
    from deepq.envs.state import capture

    reason = machine.fork_unavailable()
    if reason is not None:
        return reason
    if capture(envs) is not None:  # a checkpoint would lose the state it saves exactly now
        return "their state is saved in checkpoints exactly, which the process would hide"
    return None


class EnvProcess:
    """`envs` (a Gymnasium vector env, reset) stepped in a forked process; the same interface for deepq's
    collector: `reset`, `step`, `step_async` + `step_wait`, `close`, and the vector env's spaces."""

    def __init__(self, envs) -> None:
        self.local = envs  # the training process's copy: its spaces and attributes; never stepped here
        self.num_envs = envs.num_envs
        self.single_observation_space = envs.single_observation_space
        self.single_action_space = envs.single_action_space
        self.observation_space, self.action_space = envs.observation_space, envs.action_space
        self.metadata = envs.metadata
        space = envs.single_observation_space
        context = multiprocessing.get_context("fork")
        n = self.num_envs
        # shared results: observations, rewards, and the terminated / truncated flags
        self._obs = _shared(context, (n, *space.shape), space.dtype)
        self._reward = _shared(context, (n,), np.float64)
        self._flags = _shared(context, (2, n), np.bool_)
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn, envs, self._obs, self._reward,
                                                              self._flags), daemon=True, name="deepq-envs")
        self._process.start()
        machine.HELPERS.add(self._process.pid)  # a check played beside it does not count it as other work
        child.close()
        self._pending = False

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        self._conn.send_bytes(_RESET)
        self._conn.send((seed, options))
        info = self._receive()
        return self._obs.copy(), info

    def step_async(self, actions) -> None:
        self._conn.send_bytes(_STEP + np.ascontiguousarray(actions, dtype=np.int64).tobytes())
        self._pending = True

    def step_wait(self):
        self._pending = False
        info = self._receive()
        terminated, truncated = self._flags.copy()
        return self._obs.copy(), self._reward.copy(), terminated, truncated, info

    def step(self, actions):
        self.step_async(actions)
        return self.step_wait()

    def _receive(self) -> dict:
        try:
            message = self._conn.recv_bytes()
        except EOFError:
            raise RuntimeError("the environments' process ended unexpectedly") from None
        if message[:1] == b"E":
            raise RuntimeError(f"the environment raised in its process: {message[1:].decode(errors='replace')}")
        return self._conn.recv() if message == _INFO else {}  # an info dict, rare: sent as the checks' worker sends

    def close(self, **kwargs) -> None:
        if self._process is None:
            return
        if self._pending:  # a step in flight: collect it, so the pipe is quiet when it closes
            try:
                self._receive()
            except RuntimeError:
                pass
        try:
            self._conn.send_bytes(_QUIT)  # not only the pipe's end: a process forked later holds a copy of it
        except OSError:
            pass
        self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        machine.HELPERS.discard(self._process.pid)
        self._process = None
        self.local.close(**kwargs)


def _shared(context, shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype, count = np.dtype(dtype), int(np.prod(shape))
    raw = context.RawArray("b", max(1, count * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


def _serve(conn, parent_end, envs, obs, reward, flags) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):  # the run's to handle: it finishes its step and saves
        signal.signal(signum, signal.SIG_IGN)
    parent_end.close()
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):  # the run closed its end, or ended
            break
        if message[:1] == _QUIT:
            break
        try:
            if message[:1] == _STEP:
                actions = np.frombuffer(message, dtype=np.int64, offset=1)
                obs[...], reward[...], flags[0], flags[1], info = envs.step(actions)
            else:
                seed, options = conn.recv()
                obs[...], info = envs.reset(seed=seed, options=options)
            conn.send_bytes(_INFO if info else b"")
            if info:
                conn.send(info)
        except Exception as exc:  # noqa: BLE001 - any env error goes back to the run, which raises it
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            conn.send_bytes(b"E" + text.encode())
    envs.close()
