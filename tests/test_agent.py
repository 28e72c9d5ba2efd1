import numpy as np
import pytest
import torch

from deepq.algo.agent import DQNAgent
from deepq.config.schema import Config
from deepq.data.replay import Batch


def fixed_agent(q_row, **overrides):
    """An agent whose network returns the same Q-values for every observation."""
    cfg = Config().replace(**{"network.dueling": False, **overrides})
    agent = DQNAgent(observation=3, n_actions=len(q_row), cfg=cfg)
    with torch.no_grad():
        for p in agent.online.parameters():
            p.zero_()
        agent.online.head.bias.copy_(torch.tensor(q_row))
    return agent


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_epsilon_greedy_frequencies(eps):
    # As notebook 001 checks: greedy action with frequency 1 - eps + eps/|A|, each other with eps/|A|.
    agent = fixed_agent([0.0, 2.0, 1.0])
    rng = np.random.default_rng(42)
    actions = agent.act(np.zeros((10_000, 3), dtype=np.float32), eps, rng)
    freq = np.bincount(actions, minlength=3)
    assert abs(freq[1] - 10_000 * (1 - eps + eps / 3)) < 200
    for other in (0, 2):
        assert abs(freq[other] - 10_000 * eps / 3) < 200


def test_act_uses_the_same_random_stream_whatever_epsilon():
    agent = fixed_agent([0.0, 1.0])
    rngs = [np.random.default_rng(0), np.random.default_rng(0)]
    agent.act(np.zeros((5, 3), np.float32), 0.0, rngs[0])
    agent.act(np.zeros((5, 3), np.float32), 1.0, rngs[1])
    assert rngs[0].random() == rngs[1].random()


def make_batch(n=4):
    rng = np.random.default_rng(0)
    return Batch(obs=rng.normal(size=(n, 3)).astype(np.float32), action=rng.integers(0, 2, n),
                 reward=np.ones(n, np.float32), next_obs=rng.normal(size=(n, 3)).astype(np.float32),
                 done=np.zeros(n, np.float32), discount=np.full(n, 0.99, np.float32))


def test_hard_target_sync_every_interval():
    cfg = Config().replace(**{"network.dueling": False, "target.kind": "hard", "target.update_interval": 3,
                              "learner.lr": 0.1})
    agent = DQNAgent(3, 2, cfg)
    before = agent.target.head.weight.clone()
    for step in range(1, 7):
        agent.update(make_batch())
        synced = torch.equal(agent.target.head.weight, agent.online.head.weight)
        assert synced == (step % 3 == 0), step
        if step < 3:
            assert torch.equal(agent.target.head.weight, before)


def test_soft_target_moves_by_tau_each_step():
    cfg = Config().replace(**{"network.dueling": False, "target.kind": "soft", "target.tau": 0.5,
                              "learner.lr": 0.1})
    agent = DQNAgent(3, 2, cfg)
    target_before = agent.target.head.bias.clone()
    agent.update(make_batch())
    expected = 0.5 * agent.online.head.bias + 0.5 * target_before
    assert torch.allclose(agent.target.head.bias, expected)


@pytest.mark.parametrize("backend", ["flat", "autograd"])
def test_no_target_network_bootstraps_from_online(backend):
    # Q(s, .) = (0, 2) for every s (fixed network): y = r + 0.99 * max_a' Q_online(s', a') = 1 + 0.99 * 2 = 2.98,
    # so the TD error q(s, a) - y is 0 - 2.98 for action 0 and 2 - 2.98 for action 1.
    agent = fixed_agent([0.0, 2.0], **{"target.kind": "none", "learner.backend": backend})
    assert agent.target is None
    batch = make_batch()
    td_error = agent.update(batch)
    expected = np.where(batch.action == 0, -2.98, 2.0 - 2.98)
    assert np.allclose(td_error.numpy(), expected, atol=1e-6)
    assert agent.grad_steps == 1


def test_update_reports_metrics_once_read():
    agent = DQNAgent(3, 2, Config())
    agent.update(make_batch())
    agent.update(make_batch())
    metrics = agent.pop_metrics()
    assert set(metrics) == {"train/loss", "train/q_mean"} and metrics["train/loss"] > 0
    assert agent.pop_metrics() == {}


def test_tensors_round_trip_gives_identical_actions_and_optimizer():
    cfg = Config().replace(**{"learner.lr": 0.01})
    agent = DQNAgent(3, 2, cfg)
    for _ in range(3):
        agent.update(make_batch())
    clone = DQNAgent(3, 2, cfg.replace(seed=5))
    clone.load_tensors(agent.tensors())
    obs = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    assert np.array_equal(agent.q_values(obs), clone.q_values(obs))
    # same optimizer state: one more identical update keeps them identical
    agent.update(make_batch())
    clone.update(make_batch())
    assert np.array_equal(agent.q_values(obs), clone.q_values(obs))
