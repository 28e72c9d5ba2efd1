"""The hand-written backward pass (deepq.handgrad, deepq.learner) against torch.autograd on the same networks."""

import copy
import itertools

import pytest
import torch

from deepq.fast.adam import FlatAdam
from deepq.config.schema import Config
from deepq.fast.handgrad import FlatMLP, clip_grad_norm, dueling_matrix, layer_groups
from deepq.fast.learner import Learner
from deepq.algo.losses import q_regularizer, td_loss
from deepq.nets.networks import build_q_network
from deepq.algo.targets import double_q_target, td_target

OBS, ACTIONS, BATCH = 3, 4, 16


def batch_tensors(seed, weights=False):
    g = torch.Generator().manual_seed(seed)
    out = dict(obs=torch.randn(BATCH, OBS, generator=g), action=torch.randint(0, ACTIONS, (BATCH,), generator=g),
               reward=torch.randn(BATCH, generator=g), next_obs=torch.randn(BATCH, OBS, generator=g),
               done=(torch.rand(BATCH, generator=g) < 0.3).float(), discount=torch.full((BATCH,), 0.97))
    out["weights"] = torch.rand(BATCH, generator=g) if weights else None
    return out


def autograd_reference(net, target_net, cfg, b):
    """The loss of deepq.learner written the plain autograd way; returns the flat gradient in the layout order."""
    net.zero_grad()
    q_BA = net(b["obs"])
    with torch.no_grad():
        next_online = net(b["next_obs"])
        next_target = target_net(b["next_obs"]) if target_net is not None else next_online
        if cfg.learner.double:
            y = double_q_target(b["reward"], b["done"], b["discount"], next_online, next_target)
        else:
            y = td_target(b["reward"], b["done"], b["discount"], next_target)
    q_taken = q_BA.gather(1, b["action"].unsqueeze(1)).squeeze(1)
    loss, _ = td_loss(q_taken, y, cfg.learner.loss, cfg.learner.huber_delta, b["weights"])
    loss = loss + q_regularizer(q_taken, cfg.learner.q_regularization)
    loss.backward()
    parts = []
    for group in layer_groups(net):
        parts += [torch.cat([m.weight.grad for m in group]).reshape(-1), torch.cat([m.bias.grad for m in group])]
    return torch.cat(parts), loss.detach()


VARIANTS = list(itertools.product(["relu", "tanh", "elu", "gelu", "silu"], [False, True], [False, True],
                                  ["soft", "none"], ["huber", "mse"]))


@pytest.mark.parametrize("activation, dueling, double, target, loss", VARIANTS)
def test_gradient_equals_autograd(activation, dueling, double, target, loss):
    torch.manual_seed(0)
    cfg = Config().replace(**{
        "network.activation": activation, "network.dueling": dueling, "network.hidden_sizes": (8, 6),
        "learner.double": double, "target.kind": target, "learner.loss": loss, "learner.max_grad_norm": 0.0,
        "learner.q_regularization": 0.1 if loss == "mse" else 0.0, "learner.huber_delta": 0.5})
    net = build_q_network(OBS, ACTIONS, cfg.network)
    with torch.no_grad():  # a target that differs from the online network, so that double/target choices matter
        target_net = copy.deepcopy(net)
        for p in target_net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    reference = copy.deepcopy(net)
    learner = Learner([net], ACTIONS, cfg, torch.device("cpu"))
    if learner.target is not None:
        learner.target.flat_SP.copy_(FlatMLP([copy.deepcopy(target_net)], activation, dueling, ACTIONS,
                                             torch.device("cpu")).flat_SP)
    b = batch_tensors(1, weights=(loss == "huber"))
    expected_grad, expected_loss = autograd_reference(reference, target_net if target != "none" else None, cfg, b)
    args = [b[k].unsqueeze(0) for k in ("obs", "action", "reward", "next_obs", "done", "discount")]
    _, loss_S, _ = learner.step(*args, None if b["weights"] is None else b["weights"].unsqueeze(0))
    assert torch.allclose(learner.params_SP.grad[0], expected_grad, rtol=1e-5, atol=1e-6)
    assert loss_S.item() == pytest.approx(expected_loss.item(), rel=1e-5)


def test_seeds_batched_equal_seeds_alone():
    cfg = Config().replace(**{"network.dueling": True, "learner.double": True, "network.hidden_sizes": (8, 8),
                              "target.kind": "soft", "learner.lr": 0.01})
    torch.manual_seed(0)
    nets = [build_q_network(OBS, ACTIONS, cfg.network) for _ in range(3)]
    alone = [Learner([copy.deepcopy(n)], ACTIONS, cfg, torch.device("cpu")) for n in nets]
    together = Learner(nets, ACTIONS, cfg, torch.device("cpu"))
    batches = [batch_tensors(s) for s in range(3)]
    keys = ("obs", "action", "reward", "next_obs", "done", "discount")
    for _ in range(3):  # several steps: Adam moments, clipping and the target update must stay per network
        td_together, _, _ = together.step(*[torch.stack([b[k] for b in batches]) for k in keys])
        for s, learner in enumerate(alone):
            td_alone, _, _ = learner.step(*[batches[s][k].unsqueeze(0) for k in keys])
            assert torch.allclose(td_together[s], td_alone[0], atol=1e-6)
    for s, learner in enumerate(alone):
        assert torch.allclose(together.params_SP[s], learner.params_SP[0], atol=1e-6)
        assert torch.allclose(together.target.flat_SP[s], learner.target.flat_SP[0], atol=1e-6)


def test_module_parameters_are_views_of_the_flat_vector():
    cfg = Config().replace(**{"network.dueling": True})
    net = build_q_network(OBS, ACTIONS, cfg.network)
    x = torch.randn(5, OBS)
    before = net(x).detach()
    flat = FlatMLP([net], "relu", True, ACTIONS, torch.device("cpu"))
    assert torch.allclose(flat.forward(x.unsqueeze(0))[0][0], before, atol=1e-6)  # same function after binding
    flat.flat_SP.mul_(0.5)  # an in-place update of the flat vector is an update of the module
    assert torch.allclose(flat.forward(x.unsqueeze(0))[0][0], net(x).detach(), atol=1e-6)
    with torch.no_grad():
        net.advantage.bias.fill_(7.0)  # and the other way round
    assert torch.allclose(flat.forward(x.unsqueeze(0))[0][0], net(x).detach(), atol=1e-6)


def test_dueling_matrix_by_hand():
    # [V, A1, A2] @ D = [V + A1 - (A1 + A2)/2, V + A2 - (A1 + A2)/2]
    assert (torch.tensor([[5.0, 1.0, 3.0]]) @ dueling_matrix(2, torch.device("cpu"))).tolist() == [[4.0, 6.0]]


def test_clip_grad_norm_per_row_like_torch():
    grads = torch.tensor([[3.0, 4.0], [0.3, 0.4]])  # norms 5 and 0.5
    clip_grad_norm(grads, 1.0)
    assert grads[0].tolist() == pytest.approx([0.6, 0.8], rel=1e-5)  # scaled to norm 1
    assert grads[1].tolist() == pytest.approx([0.3, 0.4])  # already shorter: unchanged
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([3.0, 4.0])
    torch.nn.utils.clip_grad_norm_([p], 1.0)
    assert torch.allclose(p.grad, grads[0])  # the same coefficient as torch's


def test_flat_adam_first_step_by_hand():
    # step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m = g, v = g^2, so p -= lr * g / (|g| + eps)
    p = torch.tensor([1.0, -2.0])
    p.grad = torch.tensor([0.5, -4.0])
    FlatAdam(p, lr=0.1).step()
    assert p.tolist() == pytest.approx([0.9, -1.9], abs=1e-6)


def test_flat_adam_matches_torch_adam():
    torch.manual_seed(0)
    ours = torch.randn(50)
    theirs = torch.nn.Parameter(ours.clone())
    adam, reference = FlatAdam(ours, lr=0.01), torch.optim.Adam([theirs], lr=0.01)
    for _ in range(20):
        grad = torch.randn(50)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        adam.step()
        reference.step()
    assert torch.allclose(ours, theirs.detach(), atol=1e-6)
    state = reference.state[theirs]
    assert torch.allclose(adam.exp_avg, state["exp_avg"]) and torch.allclose(adam.exp_avg_sq, state["exp_avg_sq"])
