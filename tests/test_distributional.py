"""Issue 16: C51, QR-DQN, HL-Gauss, LayerNorm and NoisyNet, with numbers worked out by hand, and one CartPole run
per objective that must learn."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

import deepq
from deepq.algo.agent import DQNAgent
from deepq.algo.distributional import (bin_edges, categorical_projection, hl_gauss_histogram, quantile_huber_loss,
                                       support)
from deepq.algo.learner import AutogradLearner
from deepq.algo.objectives import C51Objective, HLGaussObjective, QRObjective, TensorBatch
from deepq.checkpoint import load_checkpoint
from deepq.config.schema import Config
from deepq.data.replay import Batch
from deepq.errors import ConfigError, DeepQError
from deepq.nets.build import build_q_network
from deepq.nets.networks import QNetwork
from deepq.nets.noisy import NoisyLinear, resample_noise
from test_resume import CrashAt  # the crash callback the resume tests use

T = torch.tensor
LN = math.log


def gym_box(shape):
    return spaces.Box(0, 255, shape, np.uint8)


def batch(reward, done, discount, action=(0,), weights=None):
    n = len(reward)
    return TensorBatch(torch.zeros(n, 1), T(list(action)), T(reward), torch.zeros(n, 1), T(done), T(discount),
                       None if weights is None else T(weights))


def logits(*probs):
    return T([[LN(p) for p in row] for row in probs])  # softmax(log p) = p


# --- C51 --------------------------------------------------------------------------------------------------

def test_c51_projection_on_a_three_atom_support():
    z = support(0.0, 2.0, 3)  # atoms 0, 1, 2; dz = 1
    assert z.tolist() == [0.0, 1.0, 2.0]
    p = T([[0.2, 0.5, 0.3]] * 3)
    m = categorical_projection(T([0.5, 1.5, 0.25]), T([0.0, 0.0, 1.0]), T([0.5, 1.0, 0.9]), p, z)
    # between atoms: Tz = 0.5 + 0.5 z = 0.5, 1, 1.5: 0.2 splits 0.1/0.1 over atoms 0/1, 0.5 lands on 1,
    # 0.3 splits 0.15/0.15 over 1/2
    assert m[0].tolist() == pytest.approx([0.1, 0.75, 0.15])
    # beyond v_max: Tz = 1.5 + z = 1.5, 2.5 -> 2, 3.5 -> 2: 0.2 splits 0.1/0.1 over 1/2, the rest is clipped to 2
    assert m[1].tolist() == pytest.approx([0.0, 0.1, 0.9])
    # terminal: every atom goes to r = 0.25, 3/4 of the way from atom 1 to atom 0
    assert m[2].tolist() == pytest.approx([0.75, 0.25, 0.0])


def c51_cfg(**extra):
    return Config().replace(**{"learner.objective": "c51", "learner.v_min": 0.0, "learner.v_max": 2.0,
                               "learner.atoms": 3, **extra}).learner


def test_c51_loss_is_the_cross_entropy_to_the_double_dqn_projected_target_and_weighted():
    # next state, 2 actions: the target network prefers action 0 (mean 1.1 > 0.6), the online one action 1
    next_target = logits([0.2, 0.5, 0.3], [0.6, 0.2, 0.2]).unsqueeze(0)  # (1, 2, 3)
    next_online = logits([0.8, 0.1, 0.1], [0.1, 0.1, 0.8]).unsqueeze(0)
    out = logits([0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]).unsqueeze(0)  # action 0 taken: p = 0.5, 0.25, 0.25
    b = batch([0.5], [0.0], [0.5])
    # Double: a* = 1, Tz = 0.5, 1, 1.5 -> m = 0.3, 0.6, 0.1; CE = -(0.3 ln .5 + 0.7 ln .25) = 1.7 ln 2
    double = C51Objective(c51_cfg(**{"learner.double": True})).loss(out, b, next_online, next_target)
    assert double.loss.item() == pytest.approx(1.7 * LN(2))
    assert double.td_error_B.tolist() == pytest.approx([1.7 * LN(2)])  # the priority: the per-sample loss
    # plain: a* = 0 -> m = 0.1, 0.75, 0.15; CE = 1.9 ln 2
    plain = C51Objective(c51_cfg(**{"learner.double": False})).loss(out, b, next_online, next_target)
    assert plain.loss.item() == pytest.approx(1.9 * LN(2))
    # importance weight 2 doubles the loss, not the priority; Q(s, a) = 0.25 + 0.5 = 0.75
    weighted = C51Objective(c51_cfg()).loss(out, batch([0.5], [0.0], [0.5], weights=[2.0]), next_online, next_target)
    assert weighted.loss.item() == pytest.approx(3.4 * LN(2))
    assert weighted.td_error_B.tolist() == pytest.approx([1.7 * LN(2)])
    assert weighted.q_mean.item() == pytest.approx(0.75)


def test_q_values_of_a_categorical_are_its_mean():
    out = logits([0.2, 0.5, 0.3], [1.0 - 2e-6, 1e-6, 1e-6]).unsqueeze(0)
    # C51 on atoms 0, 1, 2: 0.5 + 0.6 = 1.1 and ~0
    assert C51Objective(c51_cfg()).q_values(out).tolist()[0] == pytest.approx([1.1, 0.0], abs=1e-5)
    # HL-Gauss on bins [0, 3] / 3: centres 0.5, 1.5, 2.5: 0.1 + 0.75 + 0.75 = 1.6 and ~0.5
    hl = Config().replace(**{"learner.objective": "hl_gauss", "learner.v_min": 0.0, "learner.v_max": 3.0,
                             "learner.atoms": 3}).learner
    assert HLGaussObjective(hl).q_values(out).tolist()[0] == pytest.approx([1.6, 0.5], abs=1e-5)


# --- QR-DQN -----------------------------------------------------------------------------------------------

def test_quantile_huber_loss_for_two_quantiles():
    # tau = 1/4, 3/4; theta = 0, 1; target quantiles 0.5, 3; u_ij = T_j - theta_i; Huber(0.5) = 0.125,
    # Huber(3) = 2.5, Huber(2) = 1.5
    # i = 0: u = 0.5, 3 (both >= 0): 0.25 * 0.125, 0.25 * 2.5 -> mean 0.328125
    # i = 1: u = -0.5, 2: |0.75 - 1| * 0.125, 0.75 * 1.5 -> mean 0.578125;  sum over i: 0.90625
    assert quantile_huber_loss(T([[0.0, 1.0]]), T([[0.5, 3.0]])).tolist() == pytest.approx([0.90625])
    # the same through the objective: target = 0.5 + 0.5 * (0, 5)
    qr = Config().replace(**{"learner.objective": "qr", "learner.quantiles": 2, "learner.double": False}).learner
    result = QRObjective(qr).loss(T([[[0.0, 1.0]]]), batch([0.5], [0.0], [0.5]), None, T([[[0.0, 5.0]]]))
    assert result.loss.item() == pytest.approx(0.90625)
    assert result.q_mean.item() == pytest.approx(0.5)  # Q = the mean of the quantiles
    # terminal: target = 0.5, 0.5: i = 0 (u = 0.5): 0.25 * 0.125; i = 1 (u = -0.5): 0.25 * 0.125
    terminal = QRObjective(qr).loss(T([[[0.0, 1.0]]]), batch([0.5], [1.0], [0.5]), None, T([[[0.0, 5.0]]]))
    assert terminal.loss.item() == pytest.approx(0.0625)


# --- HL-Gauss ---------------------------------------------------------------------------------------------

# Phi(4/3) = 0.908789, Phi(8/3) = 0.996170, Phi(16/3) = 1 - 5e-8 (normal table)
def test_hl_gauss_histogram_of_a_target_on_a_bin_edge_and_one_outside_the_range():
    edges = bin_edges(0.0, 4.0, 4)  # bins of width 1; sigma 0.75 bin widths = 0.75
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    p = hl_gauss_histogram(T([2.0, 10.0]), edges, 0.75)
    # y = 2, an edge: [2, 3] holds Phi(4/3) - 1/2 = 0.408789, [3, 4] Phi(8/3) - Phi(4/3) = 0.087381, mirrored
    # below; the range holds 2 (0.408789 + 0.087381) = 0.99234
    assert p[0].tolist() == pytest.approx([0.087381 / 0.99234, 0.408789 / 0.99234,
                                           0.408789 / 0.99234, 0.087381 / 0.99234], abs=1e-5)
    # y = 10 is clipped to v_max = 4: half the Gaussian lies in the range; [3, 4] holds 1/2 - Phi(-4/3) = 0.408789
    # [2, 3] 0.087381, [1, 2] Phi(-4/3) ... : 0.003798, [0, 1] 0.0000316; over 0.5
    assert p[1].tolist() == pytest.approx([0.0000632, 0.007597, 0.174762, 0.817578], abs=2e-6)


def test_hl_gauss_target_with_cached_constants_and_leading_dims_is_bit_identical_to_the_plain_formula():
    # The fast path (deepq.fast.learner) calls target_probs on (S, B) with 0-d constants kept on the objective; it
    # must give the very numbers of the textbook one-row-at-a-time formula (same seed, same run).
    cfg = Config().replace(**{"learner.objective": "hl_gauss", "learner.v_min": 0.0, "learner.v_max": 60.0,
                              "learner.atoms": 21, "learner.hl_sigma": 0.75}).learner
    objective = HLGaussObjective(cfg).to(torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    reward_SB, next_SBK = torch.rand(3, 50, generator=g) * 5, torch.randn(3, 50, 21, generator=g) * 3
    done_SB, discount_SB = (torch.rand(3, 50, generator=g) < 0.3).float(), torch.full((3, 50), 0.98 ** 3)
    reward_SB[0, :3] = T([-5.0, 100.0, 0.0])  # clipped at both ends, and on an edge
    got_SBK = objective.target_probs(reward_SB, done_SB, discount_SB, next_SBK)
    edges = bin_edges(0.0, 60.0, 21)
    centers = (edges[:-1] + edges[1:]) / 2
    for s in range(3):
        y_B = reward_SB[s] + discount_SB[s] * (1.0 - done_SB[s]) * (next_SBK[s].softmax(-1) * centers).sum(-1)
        y_B1 = y_B.clamp(edges[0], edges[-1]).unsqueeze(-1)
        cdf_BK1 = torch.special.erf((edges - y_B1) / (math.sqrt(2.0) * objective.sigma))
        want_BK = (cdf_BK1[:, 1:] - cdf_BK1[:, :-1]) / (cdf_BK1[:, -1:] - cdf_BK1[:, :1])
        assert torch.equal(got_SBK[s], want_BK)
        assert torch.equal(hl_gauss_histogram(y_B, edges, objective.sigma), want_BK)


def test_hl_gauss_loss_is_the_cross_entropy_to_the_smoothed_scalar_target():
    cfg = Config().replace(**{"learner.objective": "hl_gauss", "learner.v_min": 0.0, "learner.v_max": 4.0,
                              "learner.atoms": 4, "learner.hl_sigma": 0.75, "learner.double": False}).learner
    out = torch.zeros(1, 1, 4)  # uniform: CE = ln 4 whatever the target
    next_target = logits([0.25, 0.25, 0.25, 0.25]).unsqueeze(0)  # Q(s') = 2
    result = HLGaussObjective(cfg).loss(out, batch([1.0], [0.0], [0.5]), None, next_target)  # y = 1 + 0.5 * 2
    assert result.loss.item() == pytest.approx(LN(4))
    assert result.q_mean.item() == pytest.approx(2.0)
    # the gradient of the CE on the logits is p - target: the smoothed histogram of y = 2 (see above)
    out.requires_grad_(True)
    HLGaussObjective(cfg).loss(out, batch([1.0], [0.0], [0.5]), None, next_target).loss.backward()
    assert (0.25 - out.grad[0, 0]).tolist() == pytest.approx([0.088055, 0.411945, 0.411945, 0.088055], abs=1e-5)


# --- networks and checks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dueling", [False, True])
def test_distributional_mlp_outputs_batch_actions_atoms(dueling):
    cfg = Config().replace(**{"network.dueling": dueling, "network.hidden_sizes": [8]})
    net = build_q_network(3, 2, cfg.network, atoms=5)
    assert net(torch.zeros(4, 3)).shape == (4, 2, 5)
    if dueling:  # V (B, 1, K) + A (B, A, K) - mean over actions of A
        h = net.torso(torch.ones(1, 3))
        v, a = net.value(h).view(1, 1, 5), net.advantage(h).view(1, 2, 5)
        assert torch.allclose(net(torch.ones(1, 3)), v + a - a.mean(dim=1, keepdim=True))


def test_a_factory_network_with_the_wrong_output_is_refused_in_one_line():
    cfg = Config().replace(**{"learner.objective": "c51", "network.hidden_sizes": [8]})
    learner = AutogradLearner(QNetwork(3, 2, (8,)), cfg, torch.device("cpu"))  # (B, A): not (B, A, 51)
    b = TensorBatch(torch.zeros(2, 3), T([0, 1]), torch.zeros(2), torch.zeros(2, 3), torch.zeros(2), torch.ones(2))
    with pytest.raises(DeepQError, match=r"objective=c51 needs a network that outputs \(batch, n_actions, 51\)"):
        learner.update(b)


def pixel_quantile_net(observation_space, n_actions):  # a user's network for (4, 8, 8) uint8 frames: (B, A, K)
    return nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, n_actions * 5),
                         nn.Unflatten(1, (n_actions, 5)))


@pytest.mark.parametrize("objective", ["c51", "qr", "hl_gauss"])
def test_a_distributional_objective_trains_a_user_network_on_pixels(objective):
    cfg = Config().replace(**{"learner.objective": objective, "learner.atoms": 5, "learner.quantiles": 5,
                              "learner.v_min": -2.0, "learner.v_max": 2.0})
    torch.manual_seed(0)
    agent = DQNAgent(gym_box((4, 8, 8)), 3, cfg, network=pixel_quantile_net)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(16, 4, 8, 8), dtype=np.uint8)
    b = Batch(frames, rng.integers(0, 3, 16), np.ones(16, np.float32), frames[::-1].copy(), np.zeros(16, np.float32),
              np.full(16, 0.9, np.float32), np.ones(16, np.float32))
    before = [p.detach().clone() for p in agent.online.parameters()]
    priorities = agent.update(b)
    assert priorities.shape == (16,) and bool(torch.all(priorities >= 0))
    assert any(not torch.equal(a, p) for a, p in zip(before, agent.online.parameters()))
    assert agent.q_values(frames).shape == (16, 3) and np.isfinite(agent.pop_metrics()["train/loss"])


@pytest.mark.parametrize("key,value", [("learner.objective", "qr"), ("network.noisy", True)])
def test_the_new_options_train_on_autograd_and_refuse_flat(key, value):
    cfg = Config().replace(**{key: value, "network.hidden_sizes": [8]})
    agent = DQNAgent(3, 2, cfg)
    assert type(agent.learner) is AutogradLearner
    from deepq.fast.learner import unsupported_reason
    assert unsupported_reason(agent.online, cfg) is not None
    with pytest.raises(ConfigError, match=r"^learner.backend: flat trains TD, C51 and HL-Gauss on deepq's plain MLP "
                                          r"only, not with " + key):
        cfg.replace(**{"learner.backend": "flat"})


@pytest.mark.parametrize("objective", ["c51", "hl_gauss"])
def test_categorical_heads_on_deepqs_mlp_take_the_fast_path(objective):
    from deepq.fast.learner import FlatMLPLearner
    cfg = Config().replace(**{"learner.objective": objective, "network.hidden_sizes": [8]})
    assert type(DQNAgent(3, 2, cfg).learner) is FlatMLPLearner
    assert type(DQNAgent(3, 2, cfg.replace(**{"learner.backend": "autograd"})).learner) is AutogradLearner


def test_layer_norm_follows_each_hidden_linear():
    net = build_q_network(3, 2, Config().replace(**{"network.layer_norm": True, "network.hidden_sizes": [8, 8],
                                                    "network.dueling": False}).network)
    assert [type(m).__name__ for m in net.torso] == ["Linear", "LayerNorm", "ReLU"] * 2


@pytest.mark.parametrize("override,message", [
    ({"learner.objective": "iqn"}, "learner.objective: must be one of td, c51, qr, hl_gauss"),
    ({"learner.v_min": 5.0, "learner.v_max": 5.0}, "learner.v_min: must be below learner.v_max"),
    ({"learner.atoms": 1}, "learner.atoms: must be >= 2"),
    ({"learner.quantiles": 0}, "learner.quantiles: must be >= 1"),
    ({"learner.hl_sigma": 0.0}, "learner.hl_sigma: must be > 0"),
    ({"learner.objective": "qr", "learner.q_regularization": 0.1}, "learner.q_regularization: applies to"),
    ({"network.noisy": "maybe"}, "network.noisy: expected true or false"),
])
def test_bad_values_are_one_line_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        Config().replace(**override)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


# --- NoisyNet ---------------------------------------------------------------------------------------------

def test_factorised_noise_by_hand_and_from_a_fixed_generator():
    layer = NoisyLinear(2, 1)
    with torch.no_grad():
        layer.weight_mu.copy_(T([[1.0, 2.0]]))
        layer.weight_sigma.copy_(T([[0.5, 0.5]]))
        layer.bias_mu.copy_(T([0.0]))
        layer.bias_sigma.copy_(T([1.0]))
        layer.eps_in.copy_(T([4.0, -1.0]))  # f = sign sqrt: 2, -1
        layer.eps_out.copy_(T([9.0]))  # f: 3
    # weight = mu + sigma * f(eps_out) f(eps_in)^T = (1 + 0.5 * 6, 2 + 0.5 * -3) = (4, 0.5); bias = 0 + 1 * 3
    weight, bias = layer.noisy_weight()
    assert weight.tolist() == [[4.0, 0.5]] and bias.tolist() == [3.0]
    assert layer(T([[1.0, 1.0]])).tolist() == [[7.5]]
    assert layer.eval()(T([[1.0, 1.0]])).tolist() == [[3.0]]  # noise off: the mean layer, 1 + 2 + 0
    # a fixed generator: eps_in then eps_out, standard normal, in that order
    resample_noise(layer, torch.Generator().manual_seed(7))
    ref = torch.Generator().manual_seed(7)
    assert torch.equal(layer.eps_in, torch.randn(2, generator=ref))
    assert torch.equal(layer.eps_out, torch.randn(1, generator=ref))
    # initialisation (Fortunato et al. 2018, section 3.2): sigma = 0.5 / sqrt(in)
    assert torch.all(NoisyLinear(4, 3).weight_sigma == 0.25)


def noisy_cfg(**extra):
    return Config().replace(**{"network.noisy": True, "network.hidden_sizes": [16], "network.dueling": True,
                               "seed": 3, **extra})


def test_a_noisy_agent_with_noise_off_acts_as_its_mean_network():
    cfg = noisy_cfg()
    torch.manual_seed(0)
    agent = DQNAgent(4, 3, cfg)
    mean = build_q_network(4, 3, cfg.replace(**{"network.noisy": False}).network)
    with torch.no_grad():  # the mean network: every noisy layer's mu as a plain Linear
        for name, layer in agent.online.named_modules():
            if isinstance(layer, NoisyLinear):
                plain = mean.get_submodule(name)
                plain.weight.copy_(layer.weight_mu)
                plain.bias.copy_(layer.bias_mu)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    expected = mean(torch.from_numpy(obs)).detach().numpy()
    agent.learner.resample_noise()
    assert np.allclose(agent.q_values(obs), expected, atol=1e-6)  # evaluation: noise off
    assert np.array_equal(agent.greedy(obs), expected.argmax(axis=1))
    noisy_q = agent.learner.q_values(torch.from_numpy(obs), noise=True).numpy()
    assert not np.allclose(noisy_q, expected, atol=1e-3)  # acting: the noise changes the values


def test_noise_is_seeded_by_the_run_seed_and_redrawn_every_acting_step():
    obs = np.random.default_rng(1).normal(size=(256, 4)).astype(np.float32)

    def actions(seed):
        torch.manual_seed(0)  # the same weights; only the noise seed differs
        agent = DQNAgent(4, 3, noisy_cfg(seed=seed))
        return [agent.act(obs, 0.0, np.random.default_rng(0)) for _ in range(3)]

    a, b, c = actions(3), actions(3), actions(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # reproducible
    assert not np.array_equal(a[0], a[1])  # new noise at each acting step
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))  # the seed picks the noise


def test_the_noise_generator_state_round_trips_through_the_agent_state():
    torch.manual_seed(0)
    one = DQNAgent(4, 3, noisy_cfg())
    one.learner.resample_noise()
    arrays = one.state_arrays()
    torch.manual_seed(0)
    two = DQNAgent(4, 3, noisy_cfg())
    two.load_state_arrays(arrays)
    obs = np.ones((8, 4), np.float32)
    assert np.array_equal(one.act(obs, 0.0, np.random.default_rng(0)), two.act(obs, 0.0, np.random.default_rng(0)))
    assert torch.equal(one.online.value.eps_in, two.online.value.eps_in)  # the same noise drawn


# --- they learn -------------------------------------------------------------------------------------------

QUIET = {"log.progress": False, "log.tensorboard": False, "log.plot": False}
LEARNS = {  # each trains CartPole-v1 for 8k env steps on the tuned preset (gamma 0.98: returns below 50)
    "c51": {"learner.v_min": 0.0, "learner.v_max": 60.0},
    "qr": {"learner.quantiles": 32},
    "hl_gauss": {"learner.v_min": 0.0, "learner.v_max": 60.0},
}


@pytest.mark.slow
@pytest.mark.parametrize("objective", sorted(LEARNS))
def test_each_objective_learns_cartpole(objective):
    cfg = deepq.config.resolve(env_id="CartPole-v1", seed=0, overrides={
        "learner.objective": objective, "train.total_steps": 8000, **LEARNS[objective], **QUIET})
    agent = deepq.train(cfg)
    assert type(agent.learner).__name__ == ("AutogradLearner" if objective == "qr" else "FlatMLPLearner")
    score = deepq.evaluate(agent, episodes=20, seed=1000).mean
    assert score > 150, f"{objective}: {score}"  # random play: ~22


# --- exact resume with noisy layers -----------------------------------------------------------------------

def same_final_agent_and_metrics(a: Path, b: Path) -> bool:
    wa, _ = load_checkpoint(a / "checkpoints" / "final.safetensors")
    wb, _ = load_checkpoint(b / "checkpoints" / "final.safetensors")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa) and \
        [r.split(",")[:-2] for r in (a / "metrics.csv").read_text().splitlines()] == \
        [r.split(",")[:-2] for r in (b / "metrics.csv").read_text().splitlines()]


@pytest.mark.slow
def test_a_noisy_c51_run_crashed_and_resumed_is_bit_identical(tmp_path):
    cfg = deepq.config.resolve(env_id="CartPole-v1", seed=1, overrides={
        **QUIET, "learner.objective": "c51", "learner.v_min": 0.0, "learner.v_max": 60.0, "network.noisy": True,
        "replay.kind": "prioritized", "exploration.start": 0.0, "exploration.end": 0.0,
        "train.total_steps": 2400, "train.learning_starts": 300, "eval.interval": 600, "eval.episodes": 2,
        "eval.stop_when_solved": False, "log.checkpoint_interval": 500})
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CrashAt(1300)])
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors")[0]["agent.noise_rng"].numel()
    agent = deepq.resume(tmp_path / "run", quiet=True)
    assert same_final_agent_and_metrics(tmp_path / "ref", tmp_path / "run")
    loaded = deepq.load_agent(tmp_path / "run")  # rebuilt from config.yaml: the noisy C51 network, (B, A, 51)
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    assert loaded.noisy and np.array_equal(loaded.q_values(obs), agent.q_values(obs))


@pytest.mark.slow
def test_the_pqn_preset_is_layer_norm_without_a_target_network():
    cfg = deepq.config.resolve(env_id="Acrobot-v1", preset="pqn")
    assert cfg.network.layer_norm and cfg.target.kind == "none"
    agent = deepq.train(cfg.replace(**{**QUIET, "train.total_steps": 400, "train.learning_starts": 200,
                                       "eval.interval": 400, "eval.episodes": 1}), quiet=True)
    assert agent.target is None and agent.grad_steps > 0 and type(agent.learner).__name__ == "FlatMLPLearner"


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_the_rainbow_preset_trains_on_any_task_and_reloads(env_id, tmp_path):
    cfg = deepq.config.resolve(env_id=env_id, preset="rainbow", seed=0, overrides={
        **QUIET, "train.total_steps": 600, "train.learning_starts": 200, "eval.interval": 600, "eval.episodes": 1})
    assert (cfg.learner.objective, cfg.network.noisy, cfg.network.dueling, cfg.learner.double, cfg.replay.kind,
            cfg.replay.n_step, cfg.exploration.start, cfg.exploration.end) == \
        ("c51", True, True, True, "prioritized", 3, 1.0, 0.01)  # noise + epsilon (docs/variants.md: why)
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.grad_steps > 0 and type(agent.learner) is AutogradLearner
    loaded = deepq.load_agent(tmp_path / "run")
    obs = np.random.default_rng(0).normal(size=(8, agent.obs_shape[0])).astype(np.float32)
    assert np.array_equal(agent.q_values(obs), loaded.q_values(obs))


def test_every_gradient_step_draws_new_noise_for_the_online_and_the_target_network():
    agent = DQNAgent(4, 2, noisy_cfg(**{"target.kind": "hard"}))
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(8, 4)).astype(np.float32)
    b = Batch(obs, rng.integers(0, 2, 8), np.ones(8, np.float32), obs[::-1].copy(), np.zeros(8, np.float32),
              np.full(8, 0.9, np.float32))
    seen = []
    for _ in range(2):
        agent.update(b)
        seen.append((agent.online.value.eps_in.clone(), agent.target.value.eps_in.clone()))
    (online_1, target_1), (online_2, target_2) = seen
    assert not torch.equal(online_1, online_2) and not torch.equal(target_1, target_2)  # redrawn each step
    assert not torch.equal(online_1, target_1)  # drawn independently
