"""The fast path's parts (deepq.fast): flat weights, batched seeds, clipping and Adam. Its gradients against autograd's
are checked by training both back-ends side by side (tests/test_learners.py)."""

import copy

import pytest
import torch

from deepq.fast.adam import FlatAdam
from deepq.config.schema import Config
from deepq.fast.handgrad import FlatMLP, clip_grad_norm, dueling_matrix
from deepq.fast.learner import Learner
from deepq.nets.build import build_q_network

OBS, ACTIONS, BATCH = 3, 4, 16


def batch_tensors(seed, weights=False):
    g = torch.Generator().manual_seed(seed)
    out = dict(obs=torch.randn(BATCH, OBS, generator=g), action=torch.randint(0, ACTIONS, (BATCH,), generator=g),
               reward=torch.randn(BATCH, generator=g), next_obs=torch.randn(BATCH, OBS, generator=g),
               done=(torch.rand(BATCH, generator=g) < 0.3).float(), discount=torch.full((BATCH,), 0.97))
    out["weights"] = torch.rand(BATCH, generator=g) if weights else None
    return out


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
