import pytest

from tiny import tiny_cfg as _tiny_cfg


@pytest.fixture
def tiny_cfg():
    """The CartPole preset shrunk to a budget that runs in about a second (tests/tiny.py), curve.png on."""
    return _tiny_cfg(**{"log.plot": True})
