"""TD targets as pure tensor functions (no state, no environment), so tests can feed hand-computed numbers.

Shapes: B = batch size, A = number of actions; any leading dimensions (e.g. seeds, S) pass through. `done` is 1.0 only where the episode *terminated*: a time-limit
truncation still bootstraps from the next state (Pardo et al. 2018, "Time Limits in Reinforcement Learning").
`discount` is gamma**k for a k-step transition (gamma for ordinary one-step transitions).
"""

from __future__ import annotations

import torch


def td_target(reward_B: torch.Tensor, done_B: torch.Tensor, discount_B: torch.Tensor,
              next_q_target_BA: torch.Tensor) -> torch.Tensor:
    """y = r + discount * (1 - done) * max_a' Q_target(s', a')   (Mnih et al. 2015)."""
    return reward_B + discount_B * (1.0 - done_B) * next_q_target_BA.max(dim=-1).values


def double_q_target(reward_B: torch.Tensor, done_B: torch.Tensor, discount_B: torch.Tensor,
                    next_q_online_BA: torch.Tensor, next_q_target_BA: torch.Tensor) -> torch.Tensor:
    """y = r + discount * (1 - done) * Q_target(s', argmax_a' Q_online(s', a'))   (van Hasselt et al. 2016)."""
    best_B1 = next_q_online_BA.argmax(dim=-1, keepdim=True)
    return reward_B + discount_B * (1.0 - done_B) * next_q_target_BA.gather(-1, best_B1).squeeze(-1)


def soft_update(target: torch.Tensor, online: torch.Tensor, tau: float) -> None:
    """Polyak averaging, in place: theta_target <- tau * theta_online + (1 - tau) * theta_target."""
    target.lerp_(online, tau)


def hard_update(target: torch.Tensor, online: torch.Tensor) -> None:
    """Copy the online weights into the target weights, in place."""
    target.copy_(online)
