"""The one exception type users see (and its kinds).

Anything the user can fix (a bad config value, an unknown environment, a run directory that is not a run, a full
disk, a diverging learning rate) raises `DeepQError` with a one-line message naming the problem and the fix. The
CLI prints it without a traceback and exits with status 2; from Python it is an ordinary exception.

This module imports nothing: every command loads it first, before it knows what else it needs
(tests/test_lazy_imports.py).
"""


class DeepQError(Exception):
    """A problem with the user's input, explained in one line."""


class ConfigError(DeepQError, ValueError):
    """An invalid hyperparameter, config file or override."""


class WriteError(DeepQError):
    """A file of the run could not be written (disk full, quota, read-only filesystem); what was already written
    is intact."""

    @classmethod
    def of(cls, path, exc: OSError) -> "WriteError":
        return cls(f"could not write {path} ({exc.strerror or exc})")


class Diverged(DeepQError):
    """Training produced a NaN or an inf; the message says at which step and what to change."""
