"""MLP Q-networks whose weights live in one flat vector, with the backward pass written out by hand.

Why: on a small CPU, an update of a 64-64 MLP costs PyTorch's per-operation dispatch more than arithmetic.
Written the usual way (module forward, autograd, `clip_grad_norm_` over 8 tensors, `torch.optim.Adam`, a
per-tensor target update) the default update dispatches ~440 aten operations (counted with `torch.profiler`)
and takes ~550 us; here the forward keeps the few activations the backward needs, the gradients go straight into
a flat gradient vector (`out=` views), and Adam, clipping and the target update are each a few operations on the
flat vectors: ~240 aten operations, 218 us (`bench/floor.py`). The math is autograd's: tests compare every
gradient with `torch.autograd` on the same network.

Every tensor carries a leading seed dimension S: S independent networks (say one per seed) compute as one batched
network (`torch.bmm`); a single agent is S = 1. Shapes: S seeds, M rows, O observation dims, A actions.

The network's `nn.Module` (see deepq.networks) stays the public face: its parameters are re-pointed at views of
the flat vector, so `state_dict`, `load_state_dict` and in-place edits of a parameter all read and write it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from deepq.nets.activations import ACTIVATIONS

aten = torch.ops.aten


class Activation(NamedTuple):
    forward: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (grad, kept) -> grad
    keeps_output: bool  # whether `kept` is the activation's output (else its input): the forward keeps only that


# The batched kernels for the activation modules of deepq.nets.activations (the one list of activations): the
# backward formulas are autograd's own kernels (same numbers, one op each). A test checks each forward against the
# module's own forward.
KERNELS: dict[type[nn.Module], Activation] = {
    nn.ReLU: Activation(torch.relu, lambda g, y: aten.threshold_backward(g, y, 0), True),
    nn.Tanh: Activation(torch.tanh, lambda g, y: aten.tanh_backward(g, y), True),
    nn.ELU: Activation(F.elu, lambda g, y: aten.elu_backward(g, 1.0, 1.0, 1.0, True, y), True),
    nn.GELU: Activation(F.gelu, lambda g, z: aten.gelu_backward(g, z), False),
    nn.SiLU: Activation(F.silu, lambda g, z: aten.silu_backward(g, z), False),
}


def layer_groups(net: nn.Module) -> list[list[nn.Linear]]:
    """The network's linear layers in order; the output layer is one group of the heads whose rows it stacks
    (dueling: the value row, then the advantage rows)."""
    torso = [[m] for m in net.torso if isinstance(m, nn.Linear)]
    head = [net.value, net.advantage] if hasattr(net, "value") else [net.head]
    return torso + [head]


class Layout(NamedTuple):
    """Where each layer's weight (out, in) and bias (out,) sit in the flat vector of one network."""

    shapes: list[tuple[int, int]]  # (out, in) per layer
    offsets: list[int]  # start of the weight; the bias follows it
    size: int

    @classmethod
    def of(cls, groups: list[list[nn.Linear]]) -> "Layout":
        shapes, offsets, size = [], [], 0
        for group in groups:
            out, inp = sum(m.out_features for m in group), group[0].in_features
            shapes.append((out, inp))
            offsets.append(size)
            size += out * inp + out
        return cls(shapes, offsets, size)

    def views(self, flat_SP: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (S, out, in), bias (S, 1, out)) per layer, as views of `flat_SP`."""
        seeds = flat_SP.shape[0]
        out_views = []
        for (out, inp), start in zip(self.shapes, self.offsets):
            weight = flat_SP[:, start:start + out * inp].view(seeds, out, inp)
            bias = flat_SP[:, start + out * inp:start + out * inp + out].view(seeds, 1, out)
            out_views.append((weight, bias))
        return out_views


def bind(nets: Sequence[nn.Module], device: torch.device) -> tuple[torch.Tensor, Layout]:
    """Copy the weights of S identically shaped networks into one flat (S, P) vector and re-point every
    parameter at its view of it; returns the vector and its layout."""
    layout = Layout.of(layer_groups(nets[0]))
    flat_SP = torch.zeros(len(nets), layout.size, device=device)
    for seed, net in enumerate(nets):
        for group, (weight, bias) in zip(layer_groups(net), layout.views(flat_SP[seed:seed + 1])):
            row = 0
            for linear in group:
                rows = slice(row, row + linear.out_features)
                with torch.no_grad():
                    weight[0, rows].copy_(linear.weight)
                    bias[0, 0, rows].copy_(linear.bias)
                linear.weight = nn.Parameter(weight[0, rows], requires_grad=linear.weight.requires_grad)
                linear.bias = nn.Parameter(bias[0, 0, rows], requires_grad=linear.bias.requires_grad)
                row += linear.out_features
    return flat_SP, layout


def dueling_matrix(n_actions: int, device: torch.device) -> torch.Tensor:
    """D (1 + A, A) with [V, A_1..A_A] @ D = V + A - mean(A): the dueling aggregation as one matrix product."""
    d = torch.full((1 + n_actions, n_actions), -1.0 / n_actions, device=device)
    d[0] = 1.0
    d[1:] += torch.eye(n_actions, device=device)
    return d


class FlatMLP:
    """An MLP Q-network (optionally dueling) held in a flat (S, P) vector: forward, and backward by hand.

    `nets` are S identically shaped deepq.networks modules; their parameters become views of `flat_SP`. With
    `atoms` = K (a categorical head: C51 or HL-Gauss logits), the output is (S, M, A, K), the dueling aggregation
    applied per atom as the module does.
    """

    def __init__(self, nets: Sequence[nn.Module], activation: str, dueling: bool, n_actions: int,
                 device: torch.device, atoms: Optional[int] = None) -> None:
        self.flat_SP, self.layout = bind(nets, device)
        self.layers = self.layout.views(self.flat_SP)  # cached views: they follow in-place updates of flat_SP
        self.weights_T = [weight.transpose(1, 2) for weight, _ in self.layers]
        self.act = KERNELS[ACTIVATIONS[activation]]
        self.atoms = atoms
        self.dueling_DA = dueling_matrix(n_actions, device) if dueling else None
        self.dueling_AD = None if self.dueling_DA is None else self.dueling_DA.t().contiguous()
        # A dueling categorical head: V_k + A_ak - mean_a A_ak per atom k is linear in the head's rows, so it folds
        # into the head's weights: P = D (x) I_K ((1 + A) K, A K), W_eff = P^T W, b_eff = b P. Two small products on
        # the weights replace six ops on every row of the batch (forward) and four (backward).
        self.dueling_P = None if atoms is None or self.dueling_DA is None else \
            torch.kron(self.dueling_DA, torch.eye(atoms, device=device))
        self.dueling_PT = None if self.dueling_P is None else self.dueling_P.t().contiguous()

    def forward(self, x_SMO: torch.Tensor, keep: bool = False) -> tuple[torch.Tensor, list]:
        """Q-values (S, M, A) (with `atoms`: logits (S, M, A, K)); with `keep`, also what `backward` needs: each
        hidden layer's input and the one of its pre-activation and output that the activation's backward reads, and
        the output layer's input and (folded) weight."""
        saved, h = [], x_SMO
        for (_, bias), weight_T in zip(self.layers[:-1], self.weights_T):
            z = torch.baddbmm(bias, h, weight_T)
            y = self.act.forward(z)
            if keep:
                saved.append((h, y if self.act.keeps_output else z))
            h = y
        if self.dueling_P is not None:  # rows [V_1..V_K, A_1,1..A_1,K, ...] folded into [Q_1,1..Q_1,K, ...]
            weight_T = torch.matmul(self.weights_T[-1], self.dueling_P)  # (S, H, A K)
            out = torch.baddbmm(torch.matmul(self.layers[-1][1], self.dueling_P), h, weight_T)
        else:
            weight_T = self.weights_T[-1]
            out = torch.baddbmm(self.layers[-1][1], h, weight_T)
        if keep:
            saved.append((h, weight_T))
        if self.atoms is not None:
            return out.view(*out.shape[:2], -1, self.atoms), saved  # (S, M, A, K)
        if self.dueling_DA is not None:
            out = torch.matmul(out, self.dueling_DA)
        return out, saved

    def backward(self, saved: list, dq_SBA: torch.Tensor, grads: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Write dLoss/dweights into `grads` (views of a flat gradient vector in this network's layout), given
        dLoss/dQ (S, B, A) (with `atoms`: dLoss/dlogits (S, B, A, K)) for the first B rows of the kept forward
        (the rows after them get no gradient)."""
        rows = dq_SBA.shape[1]
        if self.atoms is not None:
            g = dq_SBA.reshape(*dq_SBA.shape[:2], -1)  # dLoss/dlogits (S, B, A K)
        else:
            g = dq_SBA if self.dueling_AD is None else torch.matmul(dq_SBA, self.dueling_AD)
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            grad_weight, grad_bias = grads[i]
            if i < last:
                h, kept = saved[i]
                g = self.act.backward(g, kept[:, :rows])
                weight = self.layers[i][0]
            else:
                h, weight_T = saved[i]
                weight = weight_T.transpose(1, 2)
            if i == last and self.dueling_P is not None:  # back through the fold: dW = P dW_eff, db = db_eff P^T
                torch.matmul(self.dueling_P, torch.bmm(g.transpose(1, 2), h[:, :rows]), out=grad_weight)
                torch.matmul(torch.sum(g, dim=1, keepdim=True), self.dueling_PT, out=grad_bias)
            else:
                torch.bmm(g.transpose(1, 2), h[:, :rows], out=grad_weight)
                torch.sum(g, dim=1, keepdim=True, out=grad_bias)
            if i:
                g = torch.bmm(g, weight)


# 1e-6 as a 0-d CPU tensor: the number a Python float becomes in the op, without the conversion op (~2 us).
_CLIP_EPS = torch.tensor(1e-6)


def clip_grad_norm(grad_SP: torch.Tensor, max_norm: float | torch.Tensor) -> None:
    """Per network (row): scale the gradient down to norm `max_norm` if it is longer, with the coefficient of
    `torch.nn.utils.clip_grad_norm_` (max_norm / (norm + 1e-6), at most 1). `max_norm` may be a 0-d float32 CPU
    tensor (the same number without a conversion op per call)."""
    norm_S1 = torch.linalg.vector_norm(grad_SP, dim=1, keepdim=True)
    # In place on the norm: max_norm / x is what torch computes as x.reciprocal() * max_norm (Tensor.__rdiv__).
    grad_SP.mul_(norm_S1.add_(_CLIP_EPS).reciprocal_().mul_(max_norm).clamp_(max=1.0))
