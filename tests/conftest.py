import pytest

from deepq.config.schema import resolve


@pytest.fixture
def tiny_cfg():
    """The CartPole preset shrunk to a budget that runs in about a second."""
    return resolve(env_id="CartPole-v1", overrides={
        "train.total_steps": 1500, "train.learning_starts": 200, "eval.interval": 500, "eval.episodes": 3,
        "eval.stop_when_solved": False, "log.tensorboard": False, "log.progress": False}, seed=0)
