"""Convolutional encoders for image observations (C, H, W), in front of deepq's MLP torso and heads:

    nature_cnn   Mnih et al. 2015 (the Nature DQN): 32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1, ReLU each;
                 for 84x84 Atari frames (a stack of 4 -> 3136 features), then network.hidden_sizes (Nature: 512)
    minatar_cnn  Young & Tian 2019 (MinAtar): one 3x3 convolution of 16 filters, stride 1, ReLU (10x10 -> 1024
                 features), then network.hidden_sizes (MinAtar: 128)

Pixels are scaled to [0, 1] inside the network (x / 255 for uint8 frames), so the replay and the device transfer
keep one byte per pixel.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

KINDS = ("nature_cnn", "minatar_cnn")
NATURE_MIN_SIDE = 36  # the Nature CNN's three convolutions need frames of at least 36x36


class Scale(nn.Module):
    """x * factor, in float32."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


def pixel_scale(space: spaces.Box) -> float:
    """1/255 for 8-bit frames (0..255), 1 for anything already in [0, 1] or unbounded."""
    high = np.asarray(space.high, dtype=np.float64)
    top = float(high.max()) if high.size else 1.0
    return 1.0 / top if np.isfinite(top) and top > 1.0 else 1.0


def auto_kind(shape: tuple[int, ...]) -> str:
    """mlp for flat observations; a CNN for channels-first (C, H, W) images: Nature's for frames of 36+ pixels,
    MinAtar's below. A channels-last image (H, W, C) gets the MLP, which refuses it in one line."""
    if len(shape) != 3 or shape[0] > min(shape[1:]):
        return "mlp"
    return "nature_cnn" if min(shape[1:]) >= NATURE_MIN_SIDE else "minatar_cnn"


def encoder(kind: str, space: spaces.Box) -> tuple[nn.Sequential, int]:
    """(encoder, features out) for observations of `space` (C, H, W)."""
    c = int(space.shape[0])
    if kind == "nature_cnn":
        layers = [nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                  nn.Conv2d(64, 64, 3, stride=1), nn.ReLU()]
    elif kind == "minatar_cnn":
        layers = [nn.Conv2d(c, 16, 3, stride=1), nn.ReLU()]
    else:
        raise ValueError(f"unknown CNN {kind!r}")
    net = nn.Sequential(Scale(pixel_scale(space)), *layers, nn.Flatten())
    with torch.no_grad():
        width = int(net(torch.zeros(1, *space.shape)).shape[1])
    return net, width
