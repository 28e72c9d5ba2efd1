"""The NumPy greedy policy of the flat MLP (deepq.fast.numpy_greedy) computes the network's own Q-values and follows
every change of the weights (updates, load_state_dict); larger batches and other activations go through torch."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from deepq.algo.agent import DQNAgent
from deepq.config.schema import Config
from deepq.data.replay import Batch

SPACE = spaces.Box(-5.0, 5.0, (4,), np.float32)
SET_UPS = {  # network and objective combinations the fast path trains
    "td plain": {"network.dueling": False, "learner.objective": "td"},
    "td dueling": {"network.dueling": True, "learner.objective": "td"},
    "td dueling tanh": {"network.dueling": True, "network.activation": "tanh"},
    "hl_gauss dueling": {"network.dueling": True, "learner.objective": "hl_gauss", "learner.atoms": 21,
                         "learner.v_min": 0.0, "learner.v_max": 60.0},
    "c51 plain": {"network.dueling": False, "learner.objective": "c51", "learner.atoms": 11},
}


def agent_of(overrides: dict, seed: int = 0) -> DQNAgent:
    cfg = Config().replace(**{"network.hidden_sizes": (32, 16), "train.device": "cpu", "seed": seed, **overrides})
    torch.manual_seed(seed)
    return DQNAgent(SPACE, 3, cfg)


def torch_q(agent: DQNAgent, obs: np.ndarray) -> np.ndarray:
    """Q-values through the network module itself (autograd's forward), the reference."""
    with torch.no_grad():
        out = agent.online(torch.from_numpy(obs))
        if out.dim() == 3:  # a categorical head: Q = softmax(logits) . values
            out = torch.softmax(out, dim=-1) @ agent.learner.flat.values_K
    return out.numpy()


def observations(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, (n, 4)).astype(np.float32)


@pytest.mark.parametrize("name", SET_UPS)
def test_q_values_and_actions_are_the_modules(name):
    agent = agent_of(SET_UPS[name])
    numpy_greedy = agent.learner.greedy_numpy
    assert numpy_greedy is not None
    obs = observations(200)
    want = torch_q(agent, obs)
    np.testing.assert_allclose(numpy_greedy.q_values(obs), want, rtol=1e-5, atol=1e-6)
    assert (agent.greedy(obs) == want.argmax(axis=1)).all()


def test_it_follows_updates_and_loaded_weights():
    agent = agent_of(SET_UPS["hl_gauss dueling"])
    obs = observations(64)
    rng = np.random.default_rng(0)
    before = agent.learner.greedy_numpy.q_values(obs).copy()
    for _ in range(5):
        agent.update(Batch(obs=observations(32, int(rng.integers(1 << 30))), action=rng.integers(0, 3, 32),
                           reward=rng.uniform(0, 2, 32).astype(np.float32), next_obs=observations(32, 7),
                           done=np.zeros(32, np.float32), discount=np.full(32, 0.98, np.float32)))
    after = agent.learner.greedy_numpy.q_values(obs)
    assert np.abs(after - before).max() > 1e-3  # the updates moved Q, and the NumPy views saw it
    np.testing.assert_allclose(after, torch_q(agent, obs), rtol=1e-5, atol=1e-6)

    other = agent_of(SET_UPS["hl_gauss dueling"], seed=5)
    other.online.load_state_dict(agent.online.state_dict())  # in place into the flat vector's views
    np.testing.assert_allclose(other.learner.greedy_numpy.q_values(obs), after, rtol=1e-6, atol=1e-7)


def test_batches_past_max_rows_go_through_torch_with_the_same_actions():
    agent = agent_of(SET_UPS["td dueling"])
    obs = observations(agent.learner.greedy_numpy.max_rows + 1)
    assert (agent.greedy(obs) == torch_q(agent, obs).argmax(axis=1)).all()


def test_not_used_where_it_has_no_kernel():
    assert agent_of({"network.activation": "gelu"}).learner.greedy_numpy is None
    assert agent_of({"learner.backend": "autograd"}).__dict__["_greedy_numpy"] is None


def test_max_rows_keeps_openblas_on_one_thread():
    """NumPy's BLAS threads products past ~2^18 multiply-adds (and thrashes on busy cores): batches stay under."""
    def rows(hidden):
        return agent_of({"network.hidden_sizes": hidden, **SET_UPS["hl_gauss dueling"]}).learner.greedy_numpy.max_rows
    # 64-64: the widest layer is the head, (1 + 3 actions) x 21 atoms x 64 inputs
    assert (rows((64, 64)), rows((128, 128)), rows((256, 256))) == (2**18 // (84 * 64), 16, 4)
