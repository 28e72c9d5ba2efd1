"""deepq's own Q-networks: map a batch of flat observations (B, O) to Q-values (B, A), or, for a distributional
objective (`atoms` = K outputs per action: C51 logits, QR-DQN quantiles, HL-Gauss logits), to (B, A, K). Nothing
else. Options: LayerNorm after each hidden Linear (PQN, Gallici et al. 2024) and NoisyNet layers
(deepq.nets.noisy, Fortunato et al. 2018) in place of every Linear."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from deepq.nets.activations import ACTIVATIONS
from deepq.nets.noisy import NoisyLinear


def linear(in_dim: int, out_dim: int, noisy: bool = False) -> nn.Module:
    return NoisyLinear(in_dim, out_dim) if noisy else nn.Linear(in_dim, out_dim)


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], activation: str, layer_norm: bool = False,
        noisy: bool = False) -> tuple[nn.Sequential, int]:
    """Hidden layers only (Linear [-> LayerNorm] -> activation, each); returns the torso and its output width."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden_sizes:
        layers += [linear(width, size, noisy)] + ([nn.LayerNorm(size)] if layer_norm else []) + \
                  [ACTIVATIONS[activation]()]
        width = size
    return nn.Sequential(*layers), width


class MLPQNetwork(nn.Module):
    """The torso both of deepq's MLPs share; a subclass adds its output heads in `add_heads`. With an `encoder`
    (a CNN for images, deepq.nets.conv) in front, `obs_dim` is the encoder's output width."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: tuple[int, ...] = (64, 64),
                 activation: str = "relu", *, layer_norm: bool = False, noisy: bool = False,
                 atoms: Optional[int] = None, encoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.n_actions, self.atoms = n_actions, atoms
        self.encoder = encoder
        self.torso, width = mlp(obs_dim, hidden_sizes, activation, layer_norm, noisy)
        self.add_heads(width, noisy)

    def add_heads(self, width: int, noisy: bool) -> None:
        raise NotImplementedError

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.torso(obs if self.encoder is None else self.encoder(obs))  # (B, H)


class QNetwork(MLPQNetwork):
    """MLP torso, then a linear head with one output per action (no output activation); with `atoms` = K, K
    outputs per action, reshaped to (B, A, K)."""

    def add_heads(self, width: int, noisy: bool) -> None:
        self.head = linear(width, self.n_actions * (self.atoms or 1), noisy)

    def forward(self, obs_BO: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(obs_BO))  # (B, A) or (B, A * K)
        return out if self.atoms is None else out.view(-1, self.n_actions, self.atoms)  # (B, A, K)


def dueling_aggregate(value_B1: torch.Tensor, advantage_BA: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')   (Wang et al. 2016, eq. 9). Subtracting the mean makes V and A
    identifiable (adding a constant to A and removing it from V would otherwise give the same Q). The same per atom
    for a distributional head: value (B, 1, K), advantage (B, A, K) (Rainbow, Hessel et al. 2018)."""
    return value_B1 + advantage_BA - advantage_BA.mean(dim=1, keepdim=True)


class DuelingQNetwork(MLPQNetwork):
    """MLP torso, then two linear heads: a state value V(s) (B, 1) and advantages A(s, a) (B, A), aggregated
    by `dueling_aggregate`; with `atoms` = K, (B, 1, K) and (B, A, K)."""

    def add_heads(self, width: int, noisy: bool) -> None:
        self.value = linear(width, self.atoms or 1, noisy)
        self.advantage = linear(width, self.n_actions * (self.atoms or 1), noisy)

    def forward(self, obs_BO: torch.Tensor) -> torch.Tensor:
        h_BH = self.features(obs_BO)
        if self.atoms is None:
            return dueling_aggregate(self.value(h_BH), self.advantage(h_BH))  # (B, A)
        value_B1K = self.value(h_BH).view(-1, 1, self.atoms)
        return dueling_aggregate(value_B1K, self.advantage(h_BH).view(-1, self.n_actions, self.atoms))  # (B, A, K)
