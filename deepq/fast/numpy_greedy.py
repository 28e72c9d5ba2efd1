"""Greedy actions of the flat MLP (deepq.fast.handgrad) computed in NumPy, for acting and evaluation on the CPU.

Why: acting and evaluating call the network on a few rows at a time (8 training envs, 10-30 evaluation
episodes), where PyTorch's dispatch costs more than the arithmetic: a greedy call of CartPole-v1's preset network
on 8 rows takes ~74 us through `torch.baddbmm` and friends, ~29 us here (`python bench/floor.py --skip-train`,
side by side); 10 evaluation episodes of a solved agent 48 ms instead of 68 (500 steps each). On larger batches
PyTorch's kernels win again, so the agent asks for it on at most `max_rows` rows (see MAX_MULTIPLY_ADDS). The
weights are read through NumPy views of the flat parameter vector, so every update and every `load_state_dict`
shows at once. The arithmetic is the module's own (dueling: V + A - mean A, per atom for a categorical head; Q of
a categorical head = softmax(logits) . values); float32 rounding may differ from PyTorch's in the last bit, so an
exact tie between two actions' Q-values may break the other way (tests compare Q-values and actions with the
module's own forward).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from deepq.fast.handgrad import FlatMLP


_ZERO = np.float32(0.0)  # a float32 zero: with Python's 0.0 NumPy 2 resolves the scalar's type at every call (~3 us)


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, _ZERO, out=z)


def _tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


ACTIVATIONS: dict[type[nn.Module], Callable[[np.ndarray], np.ndarray]] = {nn.ReLU: _relu, nn.Tanh: _tanh}
# OpenBLAS (NumPy's BLAS) runs a matrix product on several threads past ~2^18 multiply-adds, and those threads
# thrash when the cores are busy (a 64-row product with a 128x128 layer: 14 us alone, 1.2 ms beside two training
# processes), while torch here keeps to train.torch_threads. So NumPy gets batches up to this many
# multiply-adds in the widest layer: 64 rows of CartPole's 64-64 network, 16 of a 128-128, 4 of a 256-256.
MAX_MULTIPLY_ADDS = 1 << 18


class NumpyGreedy:
    """argmax_a Q(s, a) of one flat MLP (S = 1, on the CPU) for a batch of observations (N, O)."""

    def __init__(self, mlp: FlatMLP, activation: type[nn.Module], values_K: Optional[torch.Tensor]) -> None:
        self.mlp = mlp
        self.act = ACTIVATIONS[activation]
        self.dueling = mlp.dueling_DA is not None
        self.values_K = None if values_K is None else values_K.detach().cpu().numpy().astype(np.float32)
        widest = max(weight.shape[1] * weight.shape[2] for weight, _ in mlp.layers)
        self.max_rows = max(1, MAX_MULTIPLY_ADDS // widest)  # batches above this go through torch (the agent)
        self._views: list[tuple[np.ndarray, np.ndarray]] = []
        self._ptr = None

    @staticmethod
    def supports(mlp: FlatMLP, activation: type[nn.Module]) -> bool:
        return mlp.flat_SP.device.type == "cpu" and mlp.flat_SP.shape[0] == 1 and activation in ACTIVATIONS

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, Optional[tuple]]]:
        """(W^T (in, out), b (out,), LayerNorm or None) per layer: NumPy views of the flat vector (a LayerNorm's
        weight and bias as 1-d tensors, for PyTorch's fused kernel, and its eps), made again only if it moved."""
        flat = self.mlp.flat_SP
        if flat.data_ptr() != self._ptr:
            self._views = [(weight.detach()[0].numpy().T, bias.detach()[0, 0].numpy(), norm)
                           for (weight, bias), norm in zip(self.mlp.layers, self.mlp.first_norms())]
            self._ptr = flat.data_ptr()
        return self._views

    def q_values(self, obs_NO: np.ndarray) -> np.ndarray:
        """Q-values (N, A), float32."""
        h = np.asarray(obs_NO, dtype=np.float32).reshape(len(obs_NO), -1)
        layers = self._layers()
        for weight_T, bias, norm in layers[:-1]:
            z = np.add(h @ weight_T, bias, dtype=np.float32)
            if norm is not None:
                z = torch.native_layer_norm(torch.from_numpy(z), [z.shape[1]], norm[0], norm[1], norm[2])[0].numpy()
            h = self.act(z)
        weight_T, bias, _ = layers[-1]
        out = h @ weight_T
        out += bias
        atoms = 1 if self.values_K is None else len(self.values_K)
        out = out.reshape(len(out), -1, atoms)  # (N, A or 1 + A, K)
        if self.dueling:  # V + A - mean_a A, per atom
            value, advantage = out[:, :1], out[:, 1:]
            # the mean as ndarray.mean computes it (sum, then divide), without its ~13 us of Python
            out = value + advantage - np.add.reduce(advantage, axis=1, keepdims=True) / advantage.shape[1]
        if self.values_K is None:
            return out[:, :, 0]
        out -= out.max(axis=2, keepdims=True)  # Q = softmax(logits) . values, stably
        np.exp(out, out=out)
        return (out @ self.values_K) / out.sum(axis=2)

    def __call__(self, obs_NO: np.ndarray) -> np.ndarray:
        """argmax_a Q(s, a)   (N,)."""
        return self.q_values(obs_NO).argmax(axis=1)
