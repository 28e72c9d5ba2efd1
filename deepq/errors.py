"""The one exception type users see.

Anything the user can fix (a bad config value, an unknown environment, a run directory that is not a run)
raises `DeepQError` with a one-line message naming the problem and the fix. The CLI prints it without a
traceback and exits with status 2; from Python it is an ordinary exception.
"""


class DeepQError(Exception):
    """A problem with the user's input, explained in one line."""


class ConfigError(DeepQError, ValueError):
    """An invalid hyperparameter, config file or override."""
