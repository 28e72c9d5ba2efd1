import pytest

from deepq.config.schema import ExplorationConfig, LearnerConfig
from deepq.algo.schedules import epsilon_at, exponential, learning_rate, linear


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


def test_learning_rate_from_the_start_or_from_the_solve_by_hand():
    constant = LearnerConfig(lr=0.004)
    assert learning_rate(constant, 200_000, 150_000, solved_at=100_000) == 0.004
    budget = LearnerConfig(lr=0.004, lr_end=0.0)  # 0.004 * (1 - t / 200k)
    assert learning_rate(budget, 200_000, 150_000, solved_at=None) == pytest.approx(0.001)
    assert learning_rate(budget, 200_000, 150_000, solved_at=100_000) == pytest.approx(0.001)
    solved = LearnerConfig(lr=0.004, lr_end=0.0004, lr_decay_from="solved")
    assert learning_rate(solved, 200_000, 150_000, solved_at=None) == 0.004  # not solved yet: lr
    assert learning_rate(solved, 200_000, 100_000, solved_at=100_000) == 0.004  # at the solve: lr
    # halfway from the solve (100k) to the budget (200k): 0.004 + 0.5 * (0.0004 - 0.004) = 0.0022
    assert learning_rate(solved, 200_000, 150_000, solved_at=100_000) == pytest.approx(0.0022)
    assert learning_rate(solved, 200_000, 200_000, solved_at=100_000) == pytest.approx(0.0004)
