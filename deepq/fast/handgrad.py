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

`network.layer_norm` (a LayerNorm after each hidden Linear, before the activation; PQN, Gallici et al. 2024) runs
as PyTorch's fused kernels, `native_layer_norm` and its backward (one op each, autograd's own), its weight and bias
in the flat vector after the Linear's.
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


def layer_norms(net: nn.Module) -> list[Optional[nn.LayerNorm]]:
    """Per hidden Linear of the torso, the LayerNorm that follows it (None where none does)."""
    modules = list(net.torso)
    return [modules[i + 1] if i + 1 < len(modules) and isinstance(modules[i + 1], nn.LayerNorm) else None
            for i, m in enumerate(modules) if isinstance(m, nn.Linear)]


def layer_groups(net: nn.Module) -> list[list[nn.Linear]]:
    """The network's linear layers in order; the output layer is one group of the heads whose rows it stacks
    (dueling: the value row, then the advantage rows)."""
    torso = [[m] for m in net.torso if isinstance(m, nn.Linear)]
    head = [net.value, net.advantage] if hasattr(net, "value") else [net.head]
    return torso + [head]


class Layout(NamedTuple):
    """Where each layer's weight (out, in) and bias (out,) sit in the flat vector of one network, and after them
    a hidden layer's LayerNorm weight and bias (out,) each, where it has one."""

    shapes: list[tuple[int, int]]  # (out, in) per layer
    offsets: list[int]  # start of the weight; the bias follows it
    size: int
    norm_offsets: list[Optional[int]]  # per layer: start of its LayerNorm's weight (its bias follows), or None

    @classmethod
    def of(cls, groups: list[list[nn.Linear]], norms: Sequence[Optional[nn.LayerNorm]] = ()) -> "Layout":
        shapes, offsets, norm_offsets, size = [], [], [], 0
        for i, group in enumerate(groups):
            out, inp = sum(m.out_features for m in group), group[0].in_features
            shapes.append((out, inp))
            offsets.append(size)
            size += out * inp + out
            has_norm = i < len(norms) and norms[i] is not None
            norm_offsets.append(size if has_norm else None)
            size += 2 * out if has_norm else 0
        return cls(shapes, offsets, size, norm_offsets)

    def views(self, flat_SP: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (S, out, in), bias (S, 1, out)) per layer, as views of `flat_SP`."""
        seeds = flat_SP.shape[0]
        out_views = []
        for (out, inp), start in zip(self.shapes, self.offsets):
            weight = flat_SP[:, start:start + out * inp].view(seeds, out, inp)
            bias = flat_SP[:, start + out * inp:start + out * inp + out].view(seeds, 1, out)
            out_views.append((weight, bias))
        return out_views

    def norm_views(self, flat_SP: torch.Tensor) -> list[Optional[tuple[torch.Tensor, torch.Tensor]]]:
        """(LayerNorm weight (S, 1, out), bias (S, 1, out)) per layer that has one, else None: views of `flat_SP`."""
        seeds = flat_SP.shape[0]
        return [None if start is None else (flat_SP[:, start:start + out].view(seeds, 1, out),
                                            flat_SP[:, start + out:start + 2 * out].view(seeds, 1, out))
                for (out, _), start in zip(self.shapes, self.norm_offsets)]


def bind(nets: Sequence[nn.Module], device: torch.device) -> tuple[torch.Tensor, Layout]:
    """Copy the weights of S identically shaped networks into one flat (S, P) vector and re-point every
    parameter at its view of it; returns the vector and its layout."""
    layout = Layout.of(layer_groups(nets[0]), layer_norms(nets[0]))
    flat_SP = torch.zeros(len(nets), layout.size, device=device)
    for seed, net in enumerate(nets):
        one_SP = flat_SP[seed:seed + 1]
        for group, (weight, bias) in zip(layer_groups(net), layout.views(one_SP)):
            row = 0
            for linear in group:
                rows = slice(row, row + linear.out_features)
                _repoint(linear, weight[0, rows], bias[0, 0, rows])
                row += linear.out_features
        for norm, views in zip(layer_norms(net), layout.norm_views(one_SP)):
            if norm is not None:
                _repoint(norm, views[0][0, 0], views[1][0, 0])
    return flat_SP, layout


def _repoint(module: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Copy a module's weight and bias into the views, and make the views its parameters."""
    with torch.no_grad():
        weight.copy_(module.weight)
        bias.copy_(module.bias)
    module.weight = nn.Parameter(weight, requires_grad=module.weight.requires_grad)
    module.bias = nn.Parameter(bias, requires_grad=module.bias.requires_grad)


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
        self.norms = self.layout.norm_views(self.flat_SP)  # per layer: its LayerNorm's (weight, bias), or None
        self.norm_eps = [None if norm is None else norm.eps for norm in layer_norms(nets[0])] + [None]
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

    def first_norms(self) -> list[Optional[tuple[torch.Tensor, torch.Tensor, float]]]:
        """Per layer, network 0's LayerNorm as a fused kernel takes its affine: (weight (H,), bias (H,), eps) on the
        flat vector's memory, or None (the NumPy paths' view; this class's own passes keep the seed dimension)."""
        return [None if views is None else (views[0].detach()[0, 0], views[1].detach()[0, 0], eps)
                for views, eps in zip(self.norms, self.norm_eps)]

    def forward(self, x_SMO: torch.Tensor, keep: bool = False) -> tuple[torch.Tensor, list]:
        """Q-values (S, M, A) (with `atoms`: logits (S, M, A, K)); with `keep`, also what `backward` needs: each
        hidden layer's input, the one of its activation's input and output that the activation's backward reads
        and, with a LayerNorm, its input, normalized output, means and reciprocal deviations; then the output
        layer's input and (folded) weight."""
        saved, h = [], x_SMO
        for i, ((_, bias), weight_T) in enumerate(zip(self.layers[:-1], self.weights_T)):
            z = torch.baddbmm(bias, h, weight_T)
            norm = None
            if self.norms[i] is not None:  # normalized without its affine (each network has its own), then it
                gain, shift = self.norms[i]
                normed, mean, rstd = torch.native_layer_norm(z, [z.shape[-1]], None, None, self.norm_eps[i])
                norm = (z, normed, mean, rstd)
                z = torch.addcmul(shift, normed, gain)
            y = self.act.forward(z)
            if keep:
                saved.append((h, y if self.act.keeps_output else z, norm))
            h = y
        if self.dueling_P is not None:  # rows [V_1..V_K, A_1,1..A_1,K, ...] folded into [Q_1,1..Q_1,K, ...]
            weight_T = torch.matmul(self.weights_T[-1], self.dueling_P)  # (S, H, A K)
            out = torch.baddbmm(torch.matmul(self.layers[-1][1], self.dueling_P), h, weight_T)
        else:
            weight_T = self.weights_T[-1]
            out = torch.baddbmm(self.layers[-1][1], h, weight_T)
        if keep:
            saved.append((h, weight_T, None))
        if self.atoms is not None:
            return out.view(*out.shape[:2], -1, self.atoms), saved  # (S, M, A, K)
        if self.dueling_DA is not None:
            out = torch.matmul(out, self.dueling_DA)
        return out, saved

    def backward(self, saved: list, dq_SBA: torch.Tensor, grads: list[tuple[torch.Tensor, torch.Tensor]],
                 norm_grads: Optional[list] = None) -> None:
        """Write dLoss/dweights into `grads` (views of a flat gradient vector in this network's layout; the
        LayerNorms' into `norm_grads`, `Layout.norm_views` of it), given dLoss/dQ (S, B, A) (with `atoms`:
        dLoss/dlogits (S, B, A, K)) for the first B rows of the kept forward (the rows after them get no
        gradient)."""
        rows = dq_SBA.shape[1]
        if self.atoms is not None:
            g = dq_SBA.reshape(*dq_SBA.shape[:2], -1)  # dLoss/dlogits (S, B, A K)
        else:
            g = dq_SBA if self.dueling_AD is None else torch.matmul(dq_SBA, self.dueling_AD)
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            grad_weight, grad_bias = grads[i]
            if i < last:
                h, kept, norm = saved[i]
                g = self.act.backward(g, kept[:, :rows])
                if norm is not None:
                    g = self._norm_backward(i, g, norm, rows, norm_grads[i])
                weight = self.layers[i][0]
            else:
                h, weight_T, _ = saved[i]
                weight = weight_T.transpose(1, 2)
            if i == last and self.dueling_P is not None:  # back through the fold: dW = P dW_eff, db = db_eff P^T
                torch.matmul(self.dueling_P, torch.bmm(g.transpose(1, 2), h[:, :rows]), out=grad_weight)
                torch.matmul(torch.sum(g, dim=1, keepdim=True), self.dueling_PT, out=grad_bias)
            else:
                torch.bmm(g.transpose(1, 2), h[:, :rows], out=grad_weight)
                torch.sum(g, dim=1, keepdim=True, out=grad_bias)
            if i:
                g = torch.bmm(g, weight)

    def _norm_backward(self, i: int, g: torch.Tensor, norm: tuple, rows: int,
                       grads: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Back through layer i's LayerNorm: its weight's and bias's gradients into `grads`; returns dLoss/d(its
        input)."""
        z, normed, mean, rstd = (t[:, :rows] for t in norm)
        torch.sum(g * normed, dim=1, keepdim=True, out=grads[0])
        torch.sum(g, dim=1, keepdim=True, out=grads[1])
        return aten.native_layer_norm_backward(g * self.norms[i][0], z, [z.shape[-1]], mean, rstd, None, None,
                                               [True, False, False])[0]


# 1e-6 as a 0-d CPU tensor: the number a Python float becomes in the op, without the conversion op (~2 us).
_CLIP_EPS = torch.tensor(1e-6)


def clip_grad_norm(grad_SP: torch.Tensor, max_norm: float | torch.Tensor) -> None:
    """Per network (row): scale the gradient down to norm `max_norm` if it is longer, with the coefficient of
    `torch.nn.utils.clip_grad_norm_` (max_norm / (norm + 1e-6), at most 1). `max_norm` may be a 0-d float32 CPU
    tensor (the same number without a conversion op per call)."""
    norm_S1 = torch.linalg.vector_norm(grad_SP, dim=1, keepdim=True)
    # In place on the norm: max_norm / x is what torch computes as x.reciprocal() * max_norm (Tensor.__rdiv__).
    grad_SP.mul_(norm_S1.add_(_CLIP_EPS).reciprocal_().mul_(max_norm).clamp_(max=1.0))
