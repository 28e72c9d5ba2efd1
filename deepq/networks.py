"""Q-networks: map a batch of flat observations (B, obs_dim) to Q-values (B, A). Nothing else."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], activation: str) -> tuple[nn.Sequential, int]:
    """Hidden layers only; returns the torso and its output width."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
        width = size
    return nn.Sequential(*layers), width


class QNetwork(nn.Module):
    """MLP torso, then a linear head with one output per action (no output activation)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: tuple[int, ...] = (64, 64),
                 activation: str = "relu") -> None:
        super().__init__()
        self.torso, width = mlp(obs_dim, hidden_sizes, activation)
        self.head = nn.Linear(width, n_actions)

    def forward(self, obs_BO: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs_BO))  # (B, A)


def build_q_network(obs_dim: int, n_actions: int, network_cfg) -> nn.Module:
    return QNetwork(obs_dim, n_actions, tuple(network_cfg.hidden_sizes), network_cfg.activation)
