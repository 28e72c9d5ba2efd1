"""The two learner back-ends (deepq.algo.learner): the autograd reference and the flat fast path train the same
network to the same parameters; `learner.backend` picks and refuses as documented; any nn.Module trains."""

import copy
import itertools

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

import deepq
from deepq.algo.agent import DQNAgent
from deepq.algo.learner import AutogradLearner, make_learner
from deepq.algo.objectives import TensorBatch
from deepq.config.schema import Config
from deepq.data.replay import Batch
from deepq.errors import DeepQError
from deepq.fast.learner import FlatMLPLearner
from deepq.nets.build import build_q_network
from tiny import tiny_cfg, tiny_cli

OBS, ACTIONS, BATCH = 3, 4, 16


def batches(steps, seed, weights, n_step):
    """Random batches as the replay would give them: k-step discounts, terminations, importance weights."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        k = rng.integers(1, n_step + 1, size=BATCH)
        yield Batch(obs=rng.normal(size=(BATCH, OBS)).astype(np.float32),
                    action=rng.integers(0, ACTIONS, size=BATCH), reward=rng.normal(size=BATCH).astype(np.float32),
                    next_obs=rng.normal(size=(BATCH, OBS)).astype(np.float32),
                    done=(rng.random(BATCH) < 0.2).astype(np.float32), discount=(0.97 ** k).astype(np.float32),
                    weights=rng.random(BATCH).astype(np.float32) if weights else None)


CASES = [  # replay (importance weights), n-step, Double, dueling, loss, target, activation, Q regulariser
    ("uniform", 1, False, False, "huber", "hard", "relu", 0.0),
    ("prioritized", 3, True, True, "huber", "soft", "relu", 0.0),
    ("uniform", 3, True, False, "mse", "hard", "tanh", 0.1),
    ("prioritized", 1, False, True, "mse", "soft", "elu", 0.0),
    ("uniform", 5, True, True, "huber", "none", "silu", 0.1),
    ("prioritized", 2, False, False, "huber", "soft", "gelu", 0.0),
]


@pytest.mark.parametrize("replay, n_step, double, dueling, loss, target, activation, q_reg", CASES)
@pytest.mark.slow
def test_both_backends_train_to_the_same_parameters(replay, n_step, double, dueling, loss, target, activation, q_reg):
    cfg = Config().replace(**{
        "network.hidden_sizes": (16, 16), "network.dueling": dueling, "network.activation": activation,
        "learner.double": double, "learner.loss": loss, "learner.q_regularization": q_reg, "learner.lr": 3e-3,
        "learner.huber_delta": 0.5, "learner.max_grad_norm": 1.0, "target.kind": target, "target.tau": 0.05,
        "target.update_interval": 25, "replay.kind": replay, "replay.n_step": n_step})
    torch.manual_seed(0)
    net = build_q_network(OBS, ACTIONS, cfg.network)
    agents = [DQNAgent(OBS, ACTIONS, cfg.replace(**{"learner.backend": backend}),
                       network=lambda space, n: copy.deepcopy(net)) for backend in ("flat", "autograd")]
    flat, auto = (agent.learner for agent in agents)
    assert isinstance(flat, FlatMLPLearner) and isinstance(auto, AutogradLearner)
    for step, batch in enumerate(batches(300, seed=1, weights=replay == "prioritized", n_step=n_step)):
        td_flat, td_auto = (agent.update(batch) for agent in agents)
        assert torch.allclose(td_flat, td_auto, atol=1e-4), step
    assert flat.grad_steps == auto.grad_steps == 300
    for (name, a), b in zip(flat.online.state_dict().items(), auto.online.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    if target != "none":
        for (name, a), b in zip(flat.target.state_dict().items(), auto.target.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-5), name
    assert agents[0].pop_metrics() == pytest.approx(agents[1].pop_metrics(), rel=1e-4)


@pytest.mark.parametrize("activation, dueling, double, target, loss", list(itertools.product(
    ["relu", "tanh", "elu", "gelu", "silu"], [False, True], [False, True], ["soft", "none"], ["huber", "mse"])))
def test_every_activation_and_option_steps_alike_on_both_backends(activation, dueling, double, target, loss):
    """Three steps of every combination (the backward kernel of each activation, the dueling matrix, the
    targets, both losses with the Q regulariser and importance weights)."""
    cfg = Config().replace(**{
        "network.activation": activation, "network.dueling": dueling, "network.hidden_sizes": (8, 6),
        "learner.double": double, "target.kind": target, "learner.loss": loss, "learner.max_grad_norm": 0.0,
        "learner.q_regularization": 0.1 if loss == "mse" else 0.0, "learner.huber_delta": 0.5, "learner.lr": 0.01})
    torch.manual_seed(0)
    net = build_q_network(OBS, ACTIONS, cfg.network)
    flat, flat_torch = (FlatMLPLearner(copy.deepcopy(net), ACTIONS, cfg, torch.device("cpu")) for _ in range(2))
    assert (flat.numpy_step is not None) == (activation in ("relu", "tanh"))  # deepq.fast.numpy_step's kernels
    flat_torch.numpy_step = None  # the flat back-end's PyTorch path, which S > 1 networks and other devices take
    auto = AutogradLearner(copy.deepcopy(net), cfg, torch.device("cpu"))
    for batch in batches(3, seed=4, weights=loss == "huber", n_step=3):
        tensors = TensorBatch(*(None if a is None else torch.from_numpy(a) for a in batch[:7]))
        one, one_torch, two = flat.update(tensors), flat_torch.update(tensors), auto.update(tensors)
        assert one.loss.item() == pytest.approx(two.loss.item(), rel=1e-5)
        assert one_torch.loss.item() == pytest.approx(two.loss.item(), rel=1e-5)
    for a, b, c in zip(flat.online.parameters(), flat_torch.online.parameters(), auto.online.parameters()):
        assert torch.allclose(a, c, atol=1e-6) and torch.allclose(b, c, atol=1e-6)


def fast_and_autograd(net, cfg):
    """The fast path (its NumPy step where that applies), the fast path's PyTorch kernels and autograd, each on a
    copy of `net`."""
    flat, flat_torch = (FlatMLPLearner(copy.deepcopy(net), ACTIONS, cfg, torch.device("cpu")) for _ in range(2))
    flat_torch.numpy_step = None  # the flat back-end's PyTorch path, which S > 1 networks and other devices take
    return flat, flat_torch, AutogradLearner(copy.deepcopy(net), cfg, torch.device("cpu"))


def five_steps_alike(flat, flat_torch, auto, weights):
    """Five steps on the same batches: the same loss, per-sample errors (priorities) and mean Q on each path."""
    for batch in batches(5, seed=2, weights=weights, n_step=3):
        tensors = TensorBatch(*(None if a is None else torch.from_numpy(a) for a in batch[:7]))
        two = auto.update(tensors)
        for one in (flat.update(tensors), flat_torch.update(tensors)):
            assert one.loss.item() == pytest.approx(two.loss.item(), rel=1e-5)
            assert torch.allclose(one.td_error_B, two.td_error_B, atol=1e-5)
            assert one.q_mean.item() == pytest.approx(two.q_mean.item(), abs=1e-5)


@pytest.mark.parametrize("objective, dueling, double, target, weights", list(itertools.product(
    ["c51", "hl_gauss"], [False, True], [False, True], ["soft", "hard", "none"], [False, True])))
def test_categorical_heads_step_alike_on_both_backends(objective, dueling, double, target, weights):
    """C51 and HL-Gauss on the fast path: the cross-entropy's gradient (softmax - target) through the per-atom
    dueling aggregation and the MLP, with importance weights, gives autograd's loss, priorities, mean Q and
    parameters after five steps (hard target copies every 2)."""
    cfg = Config().replace(**{
        "learner.objective": objective, "learner.v_min": -3.0, "learner.v_max": 3.0, "learner.atoms": 11,
        "network.dueling": dueling, "network.hidden_sizes": (8, 6), "learner.double": double, "target.kind": target,
        "target.update_interval": 2, "learner.lr": 0.01})
    torch.manual_seed(0)
    net = build_q_network(OBS, ACTIONS, cfg.network, atoms=11)
    flat, flat_torch, auto = fast_and_autograd(net, cfg)
    assert (flat.numpy_step is not None) == (objective == "hl_gauss")  # C51's projection stays in PyTorch
    five_steps_alike(flat, flat_torch, auto, weights)
    for a, b, c in zip(flat.online.parameters(), flat_torch.online.parameters(), auto.online.parameters()):
        assert torch.allclose(a, c, atol=1e-6) and torch.allclose(b, c, atol=1e-6)
    x = torch.randn(5, OBS)
    assert torch.allclose(flat.q_values(x), auto.q_values(x), atol=1e-6)


def test_fast_path_forward_equals_the_modules_forward():
    for activation, dueling, norm in itertools.product(["relu", "tanh", "elu", "gelu", "silu"], [False, True],
                                                       [False, True]):
        cfg = Config().replace(**{"network.activation": activation, "network.dueling": dueling,
                                  "network.layer_norm": norm})
        learner = FlatMLPLearner(build_q_network(OBS, ACTIONS, cfg.network), ACTIONS, cfg, torch.device("cpu"))
        x = torch.randn(7, OBS)
        assert torch.allclose(learner.q_values(x), learner.online(x).detach(), atol=1e-6), (activation, dueling)
        if learner.greedy_numpy is not None:
            assert np.allclose(learner.greedy_numpy.q_values(x.numpy()), learner.online(x).detach().numpy(),
                               atol=1e-6), (activation, dueling, norm)


@pytest.mark.parametrize("objective, dueling, target, activation", list(itertools.product(
    ["td", "c51", "hl_gauss"], [False, True], ["soft", "none"], ["relu", "gelu"])))
def test_layer_norm_steps_alike_on_every_path(objective, dueling, target, activation):
    """network.layer_norm on the fast path (PyTorch's fused LayerNorm kernels in both its paths): five steps give
    autograd's loss and parameters, the LayerNorms' weights and biases included (set away from 1 and 0 first, so
    their gradients reach the layers below), the target network's too, and its Q-values."""
    atoms = None if objective == "td" else 11
    cfg = Config().replace(**{
        "network.layer_norm": True, "learner.objective": objective, "learner.v_min": -3.0, "learner.v_max": 3.0,
        "learner.atoms": 11, "network.dueling": dueling, "network.hidden_sizes": (8, 6), "target.kind": target,
        "target.tau": 0.1, "learner.lr": 0.01, "network.activation": activation})
    torch.manual_seed(0)
    net = build_q_network(OBS, ACTIONS, cfg.network, atoms=atoms)
    with torch.no_grad():
        for norm in (m for m in net.torso if isinstance(m, nn.LayerNorm)):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.3, 0.3)
    flat, flat_torch, auto = fast_and_autograd(net, cfg)
    assert (flat.numpy_step is not None) == (objective != "c51" and activation == "relu")
    five_steps_alike(flat, flat_torch, auto, weights=True)
    nets = [(flat.online, flat_torch.online, auto.online)]
    if target != "none":
        nets.append((flat.target, flat_torch.target, auto.target))
    for online_or_target in nets:
        for (name, a), b, c in zip(*(net.state_dict().items() if i == 0 else net.state_dict().values()
                                     for i, net in enumerate(online_or_target))):
            assert torch.allclose(a, c, atol=1e-6) and torch.allclose(b, c, atol=1e-6), name
    assert any(not torch.equal(a, b) for a, b in zip(auto.online.parameters(), net.parameters()))
    x = torch.randn(5, OBS)
    assert torch.allclose(flat.q_values(x), auto.q_values(x), atol=1e-6)


class LayerNormMLP(nn.Module):
    """A network the fast path does not know: LayerNorm between the layers."""

    def __init__(self, observation_space, n_actions):
        super().__init__()
        width = int(np.prod(observation_space.shape))
        self.body = nn.Sequential(nn.Linear(width, 64), nn.LayerNorm(64), nn.ReLU(), nn.Linear(64, 64),
                                  nn.LayerNorm(64), nn.ReLU(), nn.Linear(64, n_actions))

    def forward(self, obs):
        return self.body(obs)


def layer_norm_mlp(observation_space, n_actions):
    return LayerNormMLP(observation_space, n_actions)


def test_a_network_of_q_values_under_a_categorical_objective_is_refused_in_one_line_before_training():
    cfg = deepq.config.resolve(env_id="CartPole-v1")  # the preset trains an HL-Gauss head: (B, A, K)
    k = cfg.learner.atoms
    with pytest.raises(DeepQError, match=rf"^learner.objective=hl_gauss needs a network that outputs \(batch, "
                                         rf"n_actions, {k}\) \(B, 2, {k}\); yours outputs \(2,\) per observation: "
                                         r"for a network of Q-values set learner.objective=td") as info:
        DQNAgent(spaces.Box(-1, 1, (4,)), 2, cfg, network=layer_norm_mlp)
    assert "\n" not in str(info.value)
    with pytest.raises(DeepQError, match=r"^learner.objective=td needs a network that outputs Q-values"):
        DQNAgent(spaces.Box(-1, 1, (4,)), 3, cfg.replace(**{"learner.objective": "td"}),
                 network=lambda space, n: nn.Linear(4, 5))  # ignores n_actions
    assert DQNAgent(spaces.Box(-1, 1, (4,)), 2, cfg.replace(**{"learner.objective": "td"}), network=layer_norm_mlp)


def test_auto_picks_the_fast_path_exactly_where_it_applies():
    cfg = Config()
    assert isinstance(make_learner(build_q_network(OBS, 2, cfg.network), 2, cfg, torch.device("cpu")),
                      FlatMLPLearner)
    own = layer_norm_mlp(spaces.Box(-1, 1, (OBS,)), 2)
    assert isinstance(make_learner(own, 2, cfg, torch.device("cpu")), AutogradLearner)
    autograd = cfg.replace(**{"learner.backend": "autograd"})
    assert isinstance(make_learner(build_q_network(OBS, 2, cfg.network), 2, autograd, torch.device("cpu")),
                      AutogradLearner)


def test_flat_backend_refuses_a_network_it_cannot_train_in_one_line():
    cfg = Config().replace(**{"learner.backend": "flat"})
    own = LayerNormMLP(spaces.Box(-1, 1, (OBS,)), 2)
    with pytest.raises(DeepQError, match="learner.backend=flat cannot train this network: it is a LayerNormMLP") \
            as info:
        make_learner(own, 2, cfg, torch.device("cpu"))
    assert "\n" not in str(info.value)


def test_autograd_checkpoint_tensors_round_trip():
    cfg = Config().replace(**{"learner.backend": "autograd", "target.kind": "soft", "network.dueling": False})
    agent = DQNAgent(OBS, ACTIONS, cfg)
    for batch in batches(5, seed=2, weights=False, n_step=1):
        agent.update(batch)
    tensors = agent.tensors()
    assert {"optim.torso.0.weight.exp_avg", "optim.head.bias.step", "target.head.bias"} <= set(tensors)
    again = DQNAgent(OBS, ACTIONS, cfg)
    again.load_tensors(tensors)
    batch = next(batches(1, seed=3, weights=False, n_step=1))
    assert torch.equal(agent.update(batch), again.update(batch))
    assert all(torch.equal(a, b) for a, b in zip(agent.online.parameters(), again.online.parameters()))


def test_observations_stay_in_their_dtype_until_the_learner():
    from deepq.data.replay import make_buffer

    buffer = make_buffer(Config().replay, (2, 3), 0.99, 1, np.uint8)
    obs = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    buffer.add(obs, np.array([0, 1]), np.ones(2, np.float32), obs + 1, np.zeros(2, bool))
    assert buffer.obs.dtype == np.uint8 and buffer.obs.nbytes == Config().replay.capacity * 6
    batch = buffer.sample(4, np.random.default_rng(0))
    assert batch.obs.dtype == np.uint8

    seen = []

    class Flatten(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 2)

        def forward(self, x):
            seen.append(x.dtype)
            return self.linear(x.flatten(1))

    agent = DQNAgent(spaces.Box(0, 255, (2, 3), np.uint8), 2, Config(), network=lambda space, n: Flatten())
    agent.update(batch)
    assert agent.predict(obs[0])[0] in (0, 1)
    assert seen and set(seen) == {torch.float32}


@pytest.mark.slow
def test_custom_layer_norm_network_solves_cartpole(tmp_path):
    """deepq.train(cfg, network=factory): the user's module trains end to end with the autograd learner, and its
    import path in config.yaml rebuilds it for load_agent."""
    cfg = deepq.config.resolve(env_id="CartPole-v1", seed=0, overrides={
        "log.tensorboard": False, "log.progress": False, "log.plot": False, "train.total_steps": 60_000,
        "learner.objective": "td"})  # the preset's is hl_gauss: this network outputs Q-values
    agent = deepq.train(cfg, tmp_path / "run", network=layer_norm_mlp, quiet=True)
    assert isinstance(agent.online, LayerNormMLP) and isinstance(agent.learner, AutogradLearner)
    assert agent.result.solved, agent.result
    assert agent.cfg.network.factory == "test_learners:layer_norm_mlp"
    loaded = deepq.load_agent(tmp_path / "run")
    assert isinstance(loaded.online, LayerNormMLP)
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    assert np.array_equal(loaded.greedy(obs), agent.greedy(obs))
    assert deepq.evaluate(loaded, episodes=20, seed=1000).mean >= 475


@pytest.mark.slow
def test_a_network_that_cannot_be_imported_back_trains_and_loading_says_what_to_pass(tmp_path):
    cfg = tiny_cfg(**{"train.total_steps": 600, "eval.interval": 0, "learner.objective": "td"})  # Q-values out
    factory = lambda space, n: LayerNormMLP(space, n)  # noqa: E731 - the case under test
    deepq.train(cfg, tmp_path / "run", network=factory, quiet=True)
    with pytest.raises(DeepQError, match=r"cannot be imported .*deepq.load_agent\(run, network=factory\)") as info:
        deepq.load_agent(tmp_path / "run")
    assert "\n" not in str(info.value)
    assert isinstance(deepq.load_agent(tmp_path / "run", network=factory).online, LayerNormMLP)


@pytest.mark.slow
def test_a_network_factory_from_the_command_line_in_the_working_directory(tmp_path):
    """`network.factory=module:function` finds module in the current directory (no PYTHONPATH), and evaluate
    rebuilds the network from config.yaml; `learner.backend=flat` on it is one line and exit status 2."""
    import subprocess
    import sys

    (tmp_path / "mynets.py").write_text(
        "from torch import nn\n\n"
        "def tanh_mlp(observation_space, n_actions):\n"
        "    return nn.Sequential(nn.Linear(observation_space.shape[0], 32), nn.Tanh(), nn.Linear(32, n_actions))\n")
    tiny = tiny_cli(**{"train.total_steps": 600, "learner.objective": "td"})  # the factory's network outputs Q-values

    def deepq_cli(*args):
        return subprocess.run([sys.executable, "-m", "deepq.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)

    out = deepq_cli("train", "--env", "CartPole-v1", "--run-dir", "run", "network.factory=mynets:tanh_mlp", *tiny)
    assert out.returncode == 0, out.stderr
    assert "factory: mynets:tanh_mlp" in (tmp_path / "run" / "config.yaml").read_text()
    out = deepq_cli("evaluate", "run", "--episodes", "3", "--json")
    assert out.returncode == 0, out.stderr
    assert len(__import__("json").loads(out.stdout.strip().splitlines()[-1])["returns"]) == 3
    out = deepq_cli("train", "--env", "CartPole-v1", "--run-dir", "run2", "network.factory=mynets:tanh_mlp",
                    "learner.backend=flat", *tiny)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "learner.backend=flat cannot train this network: it is a Sequential" in out.stderr
