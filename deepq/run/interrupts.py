"""Ctrl-C (SIGINT), SIGTERM and SIGHUP during training: finish the step, save, then stop.

While `StopSignals` is active the two signals only record themselves; the training loop looks at
`requested` once per step (one attribute read), writes the latest checkpoint and the metrics, and raises
`Interrupted`. Stopping between steps is what makes the saved state consistent, so a resume continues exactly.
A second signal is ignored rather than cutting that save short (a terminal's Ctrl-C reaches every process of
the group, and `--seeds` passes it on once more); SIGKILL remains the way to stop at once.

Python delivers signals to the main thread only: elsewhere (a Ray Tune trial thread) the handlers are not
installed and the signals keep their usual effect.
"""

from __future__ import annotations

import signal
import threading

# SIGHUP: the terminal was closed (an ssh session dropped); stopping with a checkpoint beats dying without one.
SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())

# Set by the command line, whose process ends after a stop: signals arriving after the stop are then ignored (a
# second Ctrl-C a few milliseconds after the first printed a KeyboardInterrupt traceback over the clean message).
# Python callers (a notebook) get their handlers back, so that Ctrl-C works there afterwards.
IGNORE_AFTER_STOP = False


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving; `exit_status` is the shell's 128 + signal number."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_status = 128 + signum


class StopSignals:
    """Context manager: SIGINT and SIGTERM set `requested` (the signal number) instead of stopping at once."""

    def __init__(self) -> None:
        self.requested = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:  # a process told to ignore Ctrl-C (nohup, &) keeps ignoring it
                    self._previous[signum] = previous
                    signal.signal(signum, self._record)
        return self

    def _record(self, signum, frame) -> None:
        if not self.requested:
            self.requested = signum

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            if self.requested and IGNORE_AFTER_STOP:
                previous = signal.SIG_IGN
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    @staticmethod
    def name(signum: int) -> str:
        return signal.Signals(signum).name
