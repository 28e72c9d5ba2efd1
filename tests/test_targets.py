"""TD targets, Double-DQN targets, target-network updates and the loss, against numbers worked out by hand."""

import pytest
import torch

from deepq.algo.losses import td_loss
from deepq.algo.targets import double_q_target, hard_update, soft_update, td_target


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_td_target_non_terminal_and_terminal():
    # y = r + gamma * (1 - done) * max_a Q'(s', a)
    # row 0: 1 + 0.9 * max(2, 3) = 3.7 ; row 1 terminated: y = r = -1 ; row 2: 0.5 + 0.9 * max(-4, -2) = -1.3
    next_q = torch.tensor([[2.0, 3.0], [10.0, 20.0], [-4.0, -2.0]])
    y = td_target(t(1.0, -1.0, 0.5), t(0.0, 1.0, 0.0), t(0.9, 0.9, 0.9), next_q)
    assert y.tolist() == pytest.approx([3.7, -1.0, -1.3])


def test_td_target_uses_per_sample_discount():
    # an n-step transition stores gamma**n: 2 + 0.81 * 5 = 6.05
    y = td_target(t(2.0), t(0.0), t(0.81), torch.tensor([[5.0, 1.0]]))
    assert y.tolist() == pytest.approx([6.05])


def test_double_q_target_takes_online_argmax_and_target_value():
    # online picks action 0 in row 0 (3 > 1) and action 1 in row 1; the target network values those actions.
    online = torch.tensor([[3.0, 1.0], [0.0, 5.0]])
    target = torch.tensor([[10.0, 100.0], [7.0, -2.0]])
    y = double_q_target(t(1.0, 1.0), t(0.0, 0.0), t(0.5, 0.5), online, target)
    assert y.tolist() == pytest.approx([1 + 0.5 * 10.0, 1 + 0.5 * -2.0])
    # plain DQN would take the max of the target: 1 + 0.5 * 100 and 1 + 0.5 * 7
    assert td_target(t(1.0, 1.0), t(0.0, 0.0), t(0.5, 0.5), target).tolist() == pytest.approx([51.0, 4.5])


def test_double_q_target_terminal_is_reward():
    y = double_q_target(t(-3.0), t(1.0), t(0.99), torch.tensor([[1.0, 2.0]]), torch.tensor([[5.0, 6.0]]))
    assert y.tolist() == [-3.0]


def test_soft_update_is_polyak_average():
    online, target = t(1.0, -2.0), t(3.0, 4.0)
    soft_update(target, online, tau=0.25)
    # 0.25 * 1 + 0.75 * 3 = 2.5 ; 0.25 * -2 + 0.75 * 4 = 2.5
    assert target.tolist() == pytest.approx([2.5, 2.5])
    soft_update(target, online, tau=1.0)
    assert target.tolist() == [1.0, -2.0]


def test_hard_update_copies():
    online, target = torch.randn(2, 5), torch.zeros(2, 5)
    hard_update(target, online)
    assert torch.equal(target, online)


def test_mse_and_huber_loss_values():
    q, y = t(0.0, 0.0, 3.0), t(0.5, 3.0, 3.0)
    mse, err = td_loss(q, y, "mse")
    assert mse.item() == pytest.approx((0.25 + 9.0 + 0.0) / 3)
    assert err.tolist() == [-0.5, -3.0, 0.0]
    huber, _ = td_loss(q, y, "huber", huber_delta=1.0)
    # |e| <= 1: e^2 / 2 = 0.125 ; |e| > 1: |e| - 1/2 = 2.5 ; 0
    assert huber.item() == pytest.approx((0.125 + 2.5) / 3)


def test_importance_weights_scale_each_sample():
    loss, _ = td_loss(t(0.0, 0.0), t(1.0, 2.0), "mse", weights_B=t(0.5, 0.25))
    assert loss.item() == pytest.approx((0.5 * 1 + 0.25 * 4) / 2)


def test_no_gradient_flows_through_target():
    # As notebook 001 asserts: the bootstrap values are constants for the optimizer.
    next_q = torch.tensor([[1.0, 2.0]], requires_grad=True)
    q = torch.tensor([0.5], requires_grad=True)
    y = td_target(t(1.0), t(0.0), t(0.9), next_q)
    loss, _ = td_loss(q, y, "mse")
    loss.backward()
    assert next_q.grad is None
    assert q.grad is not None and q.grad.item() == pytest.approx(2 * (0.5 - 2.8))
