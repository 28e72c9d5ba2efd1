"""Objectives: what a network's output means and the loss it is trained with. The one seam a new algorithm plugs
into (a categorical or quantile head is a sibling of `TDObjective`); the learner only runs forward, backward and
the optimizer. Shapes: B batch, A actions."""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from deepq.algo.distributional import (bin_centers, bin_edges, categorical_cross_entropy, categorical_mean,
                                       categorical_projection, hl_gauss_histogram, quantile_huber_loss, support)
from deepq.algo.losses import q_regularizer, td_loss
from deepq.algo.targets import double_q_target, td_target
from deepq.errors import DeepQError


class TensorBatch(NamedTuple):
    """A minibatch on the learner's device. Observations are float32 here (stored in their own dtype)."""

    obs: torch.Tensor  # (B, *obs_shape) float32
    action: torch.Tensor  # (B,) int64
    reward: torch.Tensor  # (B,) float32: the (n-step) discounted reward sum
    next_obs: torch.Tensor  # (B, *obs_shape) float32: the true next observation, also at a truncation
    done: torch.Tensor  # (B,) float32: 1.0 only where the episode terminated (no bootstrap)
    discount: torch.Tensor  # (B,) float32: gamma**k for a k-step transition
    weights: Optional[torch.Tensor] = None  # (B,) importance weights (prioritized replay)


class Loss(NamedTuple):
    loss: torch.Tensor  # () the scalar to minimise
    td_error_B: torch.Tensor  # (B,) q - y (a distributional objective: its per-sample loss), detached: priorities
    q_mean: torch.Tensor  # () mean Q(s, a) of the batch, detached (a metric)


class TDObjective:
    """DQN's objective: the network outputs Q-values (B, A); the loss is Huber or MSE between Q(s, a) and the
    (Double) DQN target, importance-weighted, plus the optional Q regulariser."""

    def __init__(self, learner_cfg) -> None:
        self.kind = learner_cfg.loss
        self.huber_delta = learner_cfg.huber_delta
        self.double = learner_cfg.double
        self.q_regularization = learner_cfg.q_regularization

    def q_values(self, out_BA: torch.Tensor) -> torch.Tensor:
        return out_BA

    def needs_next_online(self, has_target: bool) -> bool:
        """Whether the loss needs the online network's output on s' (Double DQN, or no target network)."""
        return self.double or not has_target

    def loss(self, out_BA: torch.Tensor, batch: TensorBatch, next_online_BA: Optional[torch.Tensor],
             next_target_BA: Optional[torch.Tensor]) -> Loss:
        next_target_BA = next_online_BA if next_target_BA is None else next_target_BA
        if self.double:
            y_B = double_q_target(batch.reward, batch.done, batch.discount, next_online_BA, next_target_BA)
        else:
            y_B = td_target(batch.reward, batch.done, batch.discount, next_target_BA)
        q_taken_B = out_BA.gather(-1, batch.action.unsqueeze(-1)).squeeze(-1)
        loss, td_error_B = td_loss(q_taken_B, y_B, self.kind, self.huber_delta, batch.weights)
        if self.q_regularization:
            loss = loss + q_regularizer(q_taken_B, self.q_regularization)
        return Loss(loss, td_error_B, q_taken_B.detach().mean())


class _DistributionalObjective:
    """What C51, QR-DQN and HL-Gauss share: the network outputs (B, A, K); Q = the distribution's mean; the next
    action is the greedy one of the online network (Double DQN) or of the target network; the loss is the
    importance-weighted mean of a per-sample loss, which is also the new priority (as Rainbow does)."""

    name = ""

    def __init__(self, learner_cfg, k: int) -> None:
        self.double = learner_cfg.double
        self.k = k  # outputs per action

    def needs_next_online(self, has_target: bool) -> bool:
        return self.double or not has_target

    def check(self, out: torch.Tensor) -> None:
        if out.dim() != 3 or out.shape[-1] != self.k:
            raise DeepQError(f"learner.objective={self.name} needs a network that outputs (batch, n_actions, "
                             f"{self.k}); this one outputs {tuple(out.shape)} (a network factory must output K "
                             "values per action)")

    values_K: torch.Tensor  # a categorical head's values (C51's support, HL-Gauss's bin centres)

    def to(self, device: torch.device) -> "_DistributionalObjective":
        """Moves its constant tensors to `device` (once, for a learner that calls `target_probs` every step)."""
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self

    def q_values(self, out_BAK: torch.Tensor) -> torch.Tensor:
        """Q = the categorical's mean over its values (QR-DQN overrides: the mean of its quantiles)   (B, A)."""
        return categorical_mean(out_BAK, self.values_K.to(out_BAK.device))

    def per_sample(self, taken_BK: torch.Tensor, next_BK: torch.Tensor, batch: TensorBatch) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, out_BAK: torch.Tensor, batch: TensorBatch, next_online_BAK: Optional[torch.Tensor],
             next_target_BAK: Optional[torch.Tensor]) -> Loss:
        self.check(out_BAK)
        next_target_BAK = next_online_BAK if next_target_BAK is None else next_target_BAK
        chooser_BAK = next_online_BAK if self.double else next_target_BAK
        rows_B = torch.arange(out_BAK.shape[0], device=out_BAK.device)
        next_BK = next_target_BAK[rows_B, self.q_values(chooser_BAK).argmax(dim=-1)]  # (B, K) of a* in s'
        taken_BK = out_BAK[rows_B, batch.action]  # (B, K) of the action taken
        loss_B = self.per_sample(taken_BK, next_BK, batch)
        weighted_B = loss_B if batch.weights is None else loss_B * batch.weights
        q_mean = self.q_values(taken_BK.detach().unsqueeze(1)).mean()
        return Loss(weighted_B.mean(), loss_B.detach(), q_mean)


class C51Objective(_DistributionalObjective):
    """C51 (Bellemare et al. 2017): logits (B, A, K) of a categorical distribution on the support z; cross-entropy
    to the projected Bellman target."""

    name = "c51"

    def __init__(self, learner_cfg) -> None:
        super().__init__(learner_cfg, learner_cfg.atoms)
        self.support_K = support(learner_cfg.v_min, learner_cfg.v_max, learner_cfg.atoms)
        self.values_K = self.support_K  # what Q averages over

    def target_probs(self, reward_B, done_B, discount_B, next_BK):
        """The projected Bellman target distribution (B, K) from the next state's logits at a*."""
        return categorical_projection(reward_B, done_B, discount_B, next_BK.softmax(dim=-1),
                                      self.support_K.to(next_BK.device))

    def per_sample(self, taken_BK, next_BK, batch):
        return categorical_cross_entropy(taken_BK, self.target_probs(batch.reward, batch.done, batch.discount,
                                                                     next_BK))


class QRObjective(_DistributionalObjective):
    """QR-DQN (Dabney et al. 2018): N quantiles (B, A, N) per action; quantile Huber loss (kappa 1) to the target
    quantiles r + discount (1 - done) theta_j(s', a*)."""

    name = "qr"

    def __init__(self, learner_cfg) -> None:
        super().__init__(learner_cfg, learner_cfg.quantiles)

    def q_values(self, out_BAN: torch.Tensor) -> torch.Tensor:
        return out_BAN.mean(dim=-1)  # (B, A)

    def per_sample(self, taken_BN, next_BN, batch):
        target_BN = batch.reward.unsqueeze(-1) + (batch.discount * (1.0 - batch.done)).unsqueeze(-1) * next_BN
        return quantile_huber_loss(taken_BN, target_BN, kappa=1.0)


class HLGaussObjective(_DistributionalObjective):
    """HL-Gauss (Farebrother et al. 2024): logits (B, A, K) over K bins on [v_min, v_max]; Q = the mean over the
    bin centres; cross-entropy to the Gaussian-smoothed histogram of the scalar (Double) TD target."""

    name = "hl_gauss"

    def __init__(self, learner_cfg) -> None:
        super().__init__(learner_cfg, learner_cfg.atoms)
        self.edges_K1 = bin_edges(learner_cfg.v_min, learner_cfg.v_max, learner_cfg.atoms)
        self.centers_K = bin_centers(self.edges_K1)
        self.values_K = self.centers_K  # what Q averages over
        self.sigma = learner_cfg.hl_sigma * (learner_cfg.v_max - learner_cfg.v_min) / learner_cfg.atoms
        # hl_gauss_histogram's constants as 0-d tensors: a Python number costs a conversion op at every use. The
        # scalars stay on the CPU, where a Python number goes (CUDA divides by one as a multiply by its inverse).
        self.low, self.high = self.edges_K1[0].clone(), self.edges_K1[-1].clone()
        self.scale = torch.tensor(math.sqrt(2.0) * self.sigma)
        self.one = torch.tensor(1.0)

    def to(self, device: torch.device) -> "HLGaussObjective":
        scale, one = self.scale, self.one
        super().to(device)
        self.values_K, self.scale, self.one = self.centers_K, scale, one
        return self

    def target_probs(self, reward_B, done_B, discount_B, next_BK):
        """The Gaussian-smoothed histogram (B, K) of the scalar TD target r + discount (1 - done) Q(s', a*) (any
        leading dims: (..., K) from (...) and (..., K))."""
        if self.centers_K.device != next_BK.device:  # not `.to` every call (an op each): `to(device)` moves them once
            self.to(next_BK.device)
        next_q_B = categorical_mean(next_BK, self.centers_K)
        y_B = reward_B + discount_B * (self.one - done_B) * next_q_B
        return hl_gauss_histogram(y_B, self.edges_K1, self.sigma, (self.low, self.high), self.scale)

    def per_sample(self, taken_BK, next_BK, batch):
        return categorical_cross_entropy(taken_BK, self.target_probs(batch.reward, batch.done, batch.discount,
                                                                     next_BK))


OBJECTIVES = {"td": TDObjective, "c51": C51Objective, "qr": QRObjective, "hl_gauss": HLGaussObjective}


def make_objective(learner_cfg):
    """The objective named by `learner.objective`."""
    return OBJECTIVES[learner_cfg.objective](learner_cfg)


def outputs_per_action(learner_cfg) -> Optional[int]:
    """K, the outputs per action the network needs for this objective: None (Q-values (B, A)) for td."""
    return {"c51": learner_cfg.atoms, "hl_gauss": learner_cfg.atoms, "qr": learner_cfg.quantiles}.get(
        learner_cfg.objective)
