"""Fault injection, for the tests that prove a run survives a crash or a full disk at every write (issue 14).

Every writer of a run calls `fault(point)` at the moment of its write; with the environment variable

    DEEPQ_FAULT=POINT[:N[:ACTION]]      e.g. DEEPQ_FAULT=checkpoint.final:1:kill

the N-th call (default 1) at POINT, counted per process, fails as a real fault would: ACTION `kill` (default)
sends the process SIGKILL (no clean-up runs: a power cut, the OOM killer), `enospc` raises
OSError(ENOSPC) (a full disk). Unset, `fault` costs one dictionary lookup.

Points (where in the write each one fails):
    config               RUN/config.yaml: its temp file written, not yet renamed into place
    metrics              a row of RUN/metrics.csv, before it is written
    tensorboard          a row of the TensorBoard events file, before it is written
    checkpoint.<which>   checkpoints/<which>.safetensors (latest, best, final): its temp file half written
    summary              RUN/summary.json: its temp file written, not yet renamed into place
    curve                RUN/curve.png, before it is drawn
    video                a frame of `deepq play --video`, before it is written
"""

from __future__ import annotations

import errno
import os
import signal

VARIABLE = "DEEPQ_FAULT"
ACTIONS = ("kill", "enospc")
_calls: dict[str, int] = {}


def fault(point: str) -> None:
    """Fail here if DEEPQ_FAULT names this point and this is its N-th call; otherwise do nothing."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != point:
        return
    nth, _, action = rest.partition(":")
    _calls[point] = _calls.get(point, 0) + 1
    if _calls[point] != int(nth or 1):
        return
    if (action or "kill") == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{point} (DEEPQ_FAULT)")


def reset() -> None:
    """Forget the calls counted so far (a test that runs several trainings in one process)."""
    _calls.clear()
