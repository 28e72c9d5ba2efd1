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


def dueling_aggregate(value_B1: torch.Tensor, advantage_BA: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')   (Wang et al. 2016, eq. 9). Subtracting the mean makes V and A
    identifiable (adding a constant to A and removing it from V would otherwise give the same Q)."""
    return value_B1 + advantage_BA - advantage_BA.mean(dim=1, keepdim=True)


class DuelingQNetwork(nn.Module):
    """MLP torso, then two linear heads: a state value V(s) (B, 1) and advantages A(s, a) (B, A), aggregated
    by `dueling_aggregate`."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: tuple[int, ...] = (64, 64),
                 activation: str = "relu") -> None:
        super().__init__()
        self.torso, width = mlp(obs_dim, hidden_sizes, activation)
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, n_actions)

    def forward(self, obs_BO: torch.Tensor) -> torch.Tensor:
        h_BH = self.torso(obs_BO)
        return dueling_aggregate(self.value(h_BH), self.advantage(h_BH))  # (B, A)


def build_q_network(obs_dim: int, n_actions: int, network_cfg) -> nn.Module:
    cls = DuelingQNetwork if network_cfg.dueling else QNetwork
    return cls(obs_dim, n_actions, tuple(network_cfg.hidden_sizes), network_cfg.activation)
