"""The TD loss as a pure function of predicted Q-values and (constant) targets, and the optional Q regulariser."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def td_loss(q_taken_B: torch.Tensor, target_B: torch.Tensor, kind: str = "huber", huber_delta: float = 1.0,
            weights_B: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (optionally importance-weighted) TD loss and the per-sample TD errors (q - y).

    The target is detached here, so no gradient can flow through the bootstrap values whatever the caller did.
    """
    target_B = target_B.detach()
    if kind == "huber":
        per_sample_B = F.huber_loss(q_taken_B, target_B, reduction="none", delta=huber_delta)
    elif kind == "mse":
        per_sample_B = F.mse_loss(q_taken_B, target_B, reduction="none")
    else:
        raise ValueError(f"unknown loss {kind!r}")
    if weights_B is not None:
        per_sample_B = per_sample_B * weights_B
    return per_sample_B.mean(), (q_taken_B - target_B).detach()


def q_regularizer(q_taken_B: torch.Tensor, coef: float) -> torch.Tensor:
    """c * mean_i Q(s_i, a_i): added to the TD loss, it pulls the Q-values of the taken actions down, against
    the overestimation of bootstrapping from a max (seed 002's `loss += regularizer * q.mean()`, c = 0.1)."""
    return coef * q_taken_B.mean()
