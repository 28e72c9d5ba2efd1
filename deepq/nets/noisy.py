"""NoisyNet (Fortunato et al. 2018): linear layers whose weights carry learned, factorised Gaussian noise, so that
the network explores by itself (epsilon 0).

    y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b,   eps_w = f(eps_out) f(eps_in)^T,  eps_b = f(eps_out)
    f(x) = sign(x) sqrt(|x|),   eps_in (in,), eps_out (out,) ~ N(0, 1)        (factorised noise, paper section 3.2)

The noise is drawn only by `resample_noise(module, generator)` from a `torch.Generator` the caller owns (deepq's
learner seeds one from the run's seed and stores its state in checkpoints), never from PyTorch's global stream, so
that runs are reproducible and resume exactly. In `eval()` mode a noisy layer is its mean layer (mu only).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def scale_noise(eps: torch.Tensor) -> torch.Tensor:
    """f(x) = sign(x) * sqrt(|x|) (Fortunato et al. 2018, eq. 11)."""
    return eps.sign() * eps.abs().sqrt()


class NoisyLinear(nn.Module):
    """A linear layer with factorised Gaussian noise on its weights and bias; initialised as in the paper:
    mu ~ U(-1/sqrt(in), 1/sqrt(in)), sigma = sigma_0 / sqrt(in) (sigma_0 = 0.5)."""

    def __init__(self, in_features: int, out_features: int, sigma_0: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        # The current noise: not part of the state_dict (it is redrawn before every use; the generator's state is
        # what a checkpoint keeps), and not copied into a target network (which draws its own).
        self.register_buffer("eps_in", torch.zeros(in_features), persistent=False)
        self.register_buffer("eps_out", torch.zeros(out_features), persistent=False)
        bound = 1.0 / math.sqrt(in_features)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.bias_mu.uniform_(-bound, bound)
            self.weight_sigma.fill_(sigma_0 * bound)
            self.bias_sigma.fill_(sigma_0 * bound)

    @torch.no_grad()
    def resample(self, generator: torch.Generator) -> None:
        """New noise: eps_in first, then eps_out, each N(0, 1) from `generator`."""
        self.eps_in.copy_(torch.randn(self.in_features, generator=generator, device=generator.device))
        self.eps_out.copy_(torch.randn(self.out_features, generator=generator, device=generator.device))

    def noisy_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (out, in), bias (out,)) with the current noise."""
        f_in, f_out = scale_noise(self.eps_in), scale_noise(self.eps_out)
        return self.weight_mu + self.weight_sigma * torch.outer(f_out, f_in), self.bias_mu + self.bias_sigma * f_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:  # noise off: the mean network
            return F.linear(x, self.weight_mu, self.bias_mu)
        return F.linear(x, *self.noisy_weight())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def has_noise(module: nn.Module) -> bool:
    return any(isinstance(m, NoisyLinear) for m in module.modules())


def resample_noise(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw the noise of every noisy layer of `module`, in module order."""
    for m in module.modules():
        if isinstance(m, NoisyLinear):
            m.resample(generator)
