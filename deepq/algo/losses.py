"""The TD loss as a pure function of predicted Q-values and (constant) targets, and the optional Q regulariser."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def td_loss(q_taken_B: torch.Tensor, target_B: torch.Tensor, kind: str = "huber", huber_delta: float = 1.0,
            weights_B: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (optionally importance-weighted) TD loss over the last dimension, and the per-sample TD errors (q - y).

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
    return per_sample_B.mean(dim=-1), (q_taken_B - target_B).detach()


def td_loss_grad(td_error_B: torch.Tensor, kind: str = "huber", huber_delta: float = 1.0,
                 weights_B: torch.Tensor | None = None) -> torch.Tensor:
    """d td_loss / d q_taken per sample, from the TD errors e = q - y (B = the last dimension):
    huber: clip(e, -delta, delta) / B;  mse: 2 e / B;  times the importance weight if any."""
    batch = td_error_B.shape[-1]
    if kind == "huber":
        grad_B = torch.clamp(td_error_B, -huber_delta, huber_delta).mul_(1.0 / batch)
    elif kind == "mse":
        grad_B = td_error_B * (2.0 / batch)
    else:
        raise ValueError(f"unknown loss {kind!r}")
    return grad_B if weights_B is None else grad_B.mul_(weights_B)


def q_regularizer(q_taken_B: torch.Tensor, coef: float) -> torch.Tensor:
    """c * mean_i Q(s_i, a_i): added to the TD loss, it pulls the Q-values of the taken actions down, against
    the overestimation of bootstrapping from a max (notebook 002's `loss += regularizer * q.mean()`, c = 0.1)."""
    return coef * q_taken_B.mean(dim=-1)
