"""One DQN gradient step for S networks at once (S = 1 for a single agent): TD targets, loss gradient, backward
pass by hand (deepq.handgrad), clipping, Adam and the target-network update, each on flat weight vectors.

Shapes: S networks, B batch, O observation dims, A actions. Everything here is tensor math on one device; no
environment, buffer or host sync.
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import torch
from torch import nn

from deepq.fast.adam import FlatAdam
from deepq.config.schema import Config
from deepq.fast.handgrad import FlatMLP, clip_grad_norm
from deepq.algo.losses import td_loss, td_loss_grad
from deepq.algo.targets import double_q_target, hard_update, soft_update, td_target


class Learner:
    """Online and target networks of S agents as flat vectors, and the optimizer over them.

    `nets` are the S online `nn.Module`s (deepq.networks); their parameters become views of `online.flat_SP`, and
    `target_nets` (their copies, if the config has a target network) views of `target.flat_SP`.
    """

    def __init__(self, nets: Sequence[nn.Module], n_actions: int, cfg: Config, device: torch.device) -> None:
        self.cfg = cfg
        self.target_nets: Optional[list[nn.Module]] = None
        if cfg.target.kind != "none":
            self.target_nets = [copy.deepcopy(net).requires_grad_(False) for net in nets]
        net_cfg = cfg.network
        self.online = FlatMLP(nets, net_cfg.activation, net_cfg.dueling, n_actions, device)
        self.target = None if self.target_nets is None else \
            FlatMLP(self.target_nets, net_cfg.activation, net_cfg.dueling, n_actions, device)
        self.params_SP = self.online.flat_SP
        self.params_SP.grad = torch.zeros_like(self.params_SP)
        self.grads = self.online.layout.views(self.params_SP.grad)
        self.optimizer = FlatAdam(self.params_SP, cfg.learner.lr)
        self.grad_steps = 0

    def q_values(self, obs_SNO: torch.Tensor) -> torch.Tensor:
        return self.online.forward(obs_SNO)[0]  # (S, N, A)

    def step(self, obs_SBO: torch.Tensor, action_SB: torch.Tensor, reward_SB: torch.Tensor,
             next_obs_SBO: torch.Tensor, done_SB: torch.Tensor, discount_SB: torch.Tensor,
             weights_SB: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gradient step per network; returns the TD errors (S, B), the losses (S,) and mean Q(s, a) (S,)."""
        learner = self.cfg.learner
        batch = action_SB.shape[1]
        both = learner.double or self.target is None
        # One forward pass over s and s' together when the online network also values s' (halves the ops).
        x_SMO = torch.cat([obs_SBO, next_obs_SBO], dim=1) if both else obs_SBO
        q_SMA, saved = self.online.forward(x_SMO, keep=True)
        q_SBA = q_SMA[:, :batch]
        next_online_SBA = q_SMA[:, batch:] if both else None
        next_target_SBA = self.target.forward(next_obs_SBO)[0] if self.target is not None else next_online_SBA
        if learner.double:
            y_SB = double_q_target(reward_SB, done_SB, discount_SB, next_online_SBA, next_target_SBA)
        else:
            y_SB = td_target(reward_SB, done_SB, discount_SB, next_target_SBA)
        action_SB1 = action_SB.unsqueeze(-1)
        q_taken_SB = q_SBA.gather(-1, action_SB1).squeeze(-1)
        loss_S, td_error_SB = td_loss(q_taken_SB, y_SB, learner.loss, learner.huber_delta, weights_SB)
        dq_taken_SB = td_loss_grad(td_error_SB, learner.loss, learner.huber_delta, weights_SB)
        q_mean_S = q_taken_SB.mean(dim=-1)
        if learner.q_regularization:  # loss + c * mean Q(s, a): each Q(s, a) gets c / B more gradient
            loss_S = loss_S + learner.q_regularization * q_mean_S
            dq_taken_SB.add_(learner.q_regularization / batch)

        dq_SBA = torch.zeros_like(q_SBA).scatter_(-1, action_SB1, dq_taken_SB.unsqueeze(-1))
        self.online.backward(saved, dq_SBA, self.grads)
        if learner.max_grad_norm > 0:
            clip_grad_norm(self.params_SP.grad, learner.max_grad_norm)
        self.optimizer.step()
        self.grad_steps += 1
        self._sync_target()
        return td_error_SB, loss_S, q_mean_S

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def _sync_target(self) -> None:
        if self.target is None:
            return
        if self.cfg.target.kind == "soft":
            soft_update(self.target.flat_SP, self.params_SP, self.cfg.target.tau)
        elif self.grad_steps % self.cfg.target.update_interval == 0:
            hard_update(self.target.flat_SP, self.params_SP)
