import pytest

from deepq.config.schema import ExplorationConfig
from deepq.algo.schedules import epsilon_at, exponential, linear


def test_linear_schedule_by_hand():
    assert linear(1.0, 0.1, 100, 0) == 1.0
    assert linear(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear(1.0, 0.1, 100, 100) == pytest.approx(0.1)
    assert linear(1.0, 0.1, 100, 10_000) == pytest.approx(0.1)


def test_exponential_schedule_with_floor():
    assert exponential(0.5, 0.01, 0.99, 0) == 0.5
    assert exponential(0.5, 0.01, 0.99, 1) == pytest.approx(0.495)
    assert exponential(0.5, 0.01, 0.99, 2) == pytest.approx(0.5 * 0.9801)
    assert exponential(0.5, 0.01, 0.99, 1000) == 0.01  # 0.5 * 0.99**1000 = 2.2e-5, below the floor


def test_epsilon_at_counts_steps_or_episodes():
    per_step = ExplorationConfig(schedule="linear", unit="step", start=1.0, end=0.0, duration=10)
    assert epsilon_at(per_step, env_steps=5, episodes=999) == pytest.approx(0.5)
    per_episode = ExplorationConfig(schedule="linear", unit="episode", start=1.0, end=0.0, duration=10)
    assert epsilon_at(per_episode, env_steps=999, episodes=2) == pytest.approx(0.8)
    exp_episode = ExplorationConfig(schedule="exponential", unit="episode", start=1.0, end=0.05, decay=0.5)
    assert epsilon_at(exp_episode, env_steps=0, episodes=3) == pytest.approx(0.125)
    constant = ExplorationConfig(schedule="constant", start=0.1)
    assert epsilon_at(constant, env_steps=10**6, episodes=10**4) == 0.1
