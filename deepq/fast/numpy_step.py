"""One gradient step of the flat MLP (deepq.fast.learner, one network on the CPU) computed in NumPy.

Why: one network's update on a small CPU is dispatch-bound in PyTorch. CartPole-v1's preset update (a 64-64
dueling MLP, HL-Gauss head, batch 128) runs ~270 aten operations, most of them on a few thousand numbers, and its
batched products (`baddbmm`/`bmm`, written for S networks at once) cost more than the same products in NumPy's
BLAS. The same step written with NumPy on views of the same flat vectors is ~1.5x faster (`python
bench/update_paths.py`: every preset's network on each path, side by side). The math is deepq.fast.learner's, operation for operation; the float32
rounding can differ from PyTorch's in the last bits (tests compare both paths and autograd). Adam
(`torch._fused_adam_`) and the target update stay PyTorch operations on the same memory.

It is the path of a run on one thread (`train.torch_threads=1`, the default): the training loop holds NumPy's
BLAS to one thread (deepq.machine.blas_threads), whose own threads thrash against PyTorch's; a run given more
threads takes PyTorch's kernels, which use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import torch
from torch import nn

from deepq.fast.numpy_greedy import ACTIVATIONS as FORWARD

if TYPE_CHECKING:
    from deepq.fast.learner import FlatLearner


def _relu_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.multiply(g, y > 0, dtype=np.float32)


def _tanh_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    return g * (1.0 - y * y)


# (forward in place: greedy actions' own, backward from the output, as autograd's kernels) per activation
KERNELS: dict[type[nn.Module], tuple[Callable, Callable]] = {
    nn.ReLU: (FORWARD[nn.ReLU], _relu_backward),
    nn.Tanh: (FORWARD[nn.Tanh], _tanh_backward),
}
OBJECTIVES = ("td", "hl_gauss")


def _mean(x_B: np.ndarray) -> float:
    """The mean of a vector as a Python float: `ndarray.mean` goes through ~13 us of Python (numpy._core._methods)
    for what one reduction does."""
    return float(np.add.reduce(x_B)) / len(x_B)


# Softmax over a short last axis (the K bins) is PyTorch's one fused kernel on the same memory: NumPy's max and
# sum over an axis of 21 numbers cost ~13 us and ~7 us on 128 x 2 rows, the whole torch.softmax ~6 us.
def _softmax_last(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


def _log_softmax_last(x: np.ndarray) -> np.ndarray:
    return torch.log_softmax(torch.from_numpy(x), dim=-1).numpy()


class NumpyStep:
    """`FlatLearner.step` for S = 1 on the CPU: same inputs (NumPy arrays, no seed dimension), same outputs."""

    def __init__(self, flat: "FlatLearner", activation: type[nn.Module]) -> None:
        self.flat = flat
        self.cfg = flat.cfg.learner
        self.act, self.act_backward = KERNELS[activation]
        self.online = self._views(flat.online.layers)
        self.target = None if flat.target is None else self._views(flat.target.layers)
        self.grads = self._views(flat.grads)
        # LayerNorms (network.layer_norm): PyTorch's fused kernels on the same memory, a weight and bias of network 0
        # as 1-d tensors (the kernels' affine), and their gradients' views as NumPy arrays
        self.online_norms = flat.online.first_norms()
        self.target_norms = None if flat.target is None else flat.target.first_norms()
        self.norm_grads = [None if views is None else tuple(v.detach()[0, 0] for v in views)
                           for views in flat.norm_grads]
        self.grad_P = flat.params_SP.grad[0].numpy()
        self.dueling_DA = None if flat.online.dueling_DA is None else flat.online.dueling_DA.numpy()
        self.dueling_P = None if flat.online.dueling_P is None else flat.online.dueling_P.numpy()
        self.inv_actions = None if self.dueling_DA is None else np.float32(1.0 / self.dueling_DA.shape[1])
        self.hl_gauss = flat.categorical is not None
        if self.hl_gauss:
            objective = flat.categorical
            self.edges_K1 = objective.edges_K1.numpy()
            self.centers_K = objective.centers_K.numpy()
            self.low, self.high = float(self.edges_K1[0]), float(self.edges_K1[-1])
            self.inv_scale = np.float32(1.0) / objective.scale.numpy()
            self.atoms = len(self.centers_K)
        self.max_norm = np.float32(self.cfg.max_grad_norm)

    @staticmethod
    def supports(flat: "FlatLearner", activation: type[nn.Module]) -> bool:
        return (flat.params_SP.device.type == "cpu" and flat.params_SP.shape[0] == 1 and activation in KERNELS
                and flat.cfg.learner.objective in OBJECTIVES and flat.cfg.train.torch_threads == 1)

    @staticmethod
    def _views(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weight (out, in), bias (out,)) per layer: NumPy views of network 0's slice of a flat vector."""
        return [(weight.detach()[0].numpy(), bias.detach()[0, 0].numpy()) for weight, bias in layers]

    def _forward(self, layers: list, x_MO: np.ndarray, keep: bool, norms: list) -> tuple[np.ndarray, list]:
        """The network's output (M, A) (HL-Gauss: logits (M, A, K)) and, with `keep`, each layer's input and the
        hidden layers' outputs (the backward needs them) with, after a LayerNorm, its input, means and reciprocal
        deviations (as tensors, for its backward kernel), then the output layer's (folded) weight."""
        saved, h = [], x_MO
        for (weight, bias), norm in zip(layers[:-1], norms):
            z = h @ weight.T
            z += bias
            kept = None
            if norm is not None:
                z_t = torch.from_numpy(z)
                normed_t, mean_t, rstd_t = torch.native_layer_norm(z_t, [z.shape[1]], norm[0], norm[1], norm[2])
                kept, z = (z_t, mean_t, rstd_t), normed_t.numpy()
            y = self.act(z)
            if keep:
                saved.append((h, y, kept))
            h = y
        weight, bias = layers[-1]
        if self.dueling_P is not None:  # a dueling HL-Gauss head: the aggregation folded into the head's weights
            weight_T = self._fold(weight).T  # (H, A K)
            out = h @ weight_T
            out += bias @ self.dueling_P  # (a vector: one product is quicker than the blocks)
        else:
            weight_T = weight.T
            out = h @ weight_T
            out += bias
        if keep:
            saved.append((h, weight_T, None))
        if self.hl_gauss:
            return out.reshape(len(out), -1, self.atoms), saved
        if self.dueling_DA is not None:
            out = out @ self.dueling_DA
        return out, saved

    def step(self, obs_BO: np.ndarray, action_B: np.ndarray, reward_B: np.ndarray, next_obs_BO: np.ndarray,
             done_B: np.ndarray, discount_B: np.ndarray, weights_B: Optional[np.ndarray] = None
             ) -> tuple[np.ndarray, float, float]:
        """One gradient step; the TD errors (B,) (HL-Gauss: the per-sample cross-entropies), the loss and mean
        Q(s, a), as FlatLearner.step returns them for network 0."""
        with np.errstate(all="ignore"):  # a diverging run is the loop's to report (NaN checks), as in PyTorch
            return self._step(obs_BO, action_B, reward_B, next_obs_BO, done_B, discount_B, weights_B)

    # The dueling fold P = D (x) I_K (deepq.fast.handgrad.FlatMLP) written out per block of K rows: Q's rows (a, k)
    # are V_k + A_ak - mean_a A_ak, and back through it the value rows get the sum over actions of the gradient,
    # each advantage row its own less the mean: the products with P (mostly zeros) as a few elementwise operations
    # (the same math; float32 rounding may differ in the last bits). LunarLander-v3's head (4 actions x 21 bins on
    # a 64-wide layer): ~12 us -> ~6 a fold, ~12 -> ~10 back through it (`python bench/update_paths.py`).
    def _fold(self, weight: np.ndarray) -> np.ndarray:
        """The head's weights ((1 + A) K, H) -> the weights of Q's logits (A K, H)."""
        blocks = weight.reshape(-1, self.atoms, weight.shape[1])  # (1 + A, K, H)
        advantage = blocks[1:]
        folded = advantage - np.add.reduce(advantage, axis=0) * self.inv_actions
        folded += blocks[0]
        return folded.reshape(-1, weight.shape[1])

    def _unfold(self, grad: np.ndarray, out: np.ndarray) -> None:
        """dLoss/d(the folded weights) (A K, H) -> dLoss/d(the head's weights) ((1 + A) K, H), into `out`."""
        blocks = grad.reshape(-1, self.atoms, grad.shape[1])  # (A, K, H)
        into = out.reshape(-1, self.atoms, grad.shape[1])  # (1 + A, K, H): a view (`out` is contiguous)
        np.add.reduce(blocks, axis=0, out=into[0])
        np.subtract(blocks, into[0] * self.inv_actions, out=into[1:])

    def _step(self, obs_BO, action_B, reward_B, next_obs_BO, done_B, discount_B, weights_B):
        batch = len(action_B)
        both = self.cfg.double or self.target is None
        x_MO = np.concatenate([obs_BO, next_obs_BO]) if both else obs_BO
        out_M, saved = self._forward(self.online, x_MO, True, self.online_norms)
        next_online = out_M[batch:] if both else None
        next_target = self._forward(self.target, next_obs_BO, False, self.target_norms)[0] \
            if self.target is not None else next_online
        not_done_B = 1.0 - done_B
        rows_B = np.arange(batch)
        objective = self._hl_gauss if self.hl_gauss else self._td
        d_taken, td_error_B, loss, q_mean = objective(out_M[:batch], next_online, next_target, rows_B, action_B,
                                                      reward_B, discount_B * not_done_B, weights_B)
        d_out = np.zeros((batch,) + out_M.shape[1:], dtype=np.float32)
        d_out[rows_B, action_B] = d_taken
        self._backward(saved, d_out.reshape(batch, -1))
        return td_error_B, loss, q_mean

    def _td(self, q_BA, next_online_BA, next_target_BA, rows_B, action_B, reward_B, bootstrap_B, weights_B):
        cfg = self.cfg
        batch = len(rows_B)
        if cfg.double:
            next_q_B = next_target_BA[rows_B, next_online_BA.argmax(axis=1)]
        else:
            next_q_B = next_target_BA.max(axis=1)
        y_B = reward_B + bootstrap_B * next_q_B
        q_taken_B = q_BA[rows_B, action_B]
        td_error_B = q_taken_B - y_B
        if cfg.loss == "huber":
            delta = cfg.huber_delta
            abs_B = np.abs(td_error_B)
            per_sample_B = np.where(abs_B < delta, 0.5 * td_error_B * td_error_B, delta * (abs_B - 0.5 * delta))
            d_taken_B = np.minimum(np.maximum(td_error_B, -delta), delta) * np.float32(1.0 / batch)  # clip
        else:
            per_sample_B = td_error_B * td_error_B
            d_taken_B = td_error_B * np.float32(2.0 / batch)
        if weights_B is not None:
            per_sample_B = per_sample_B * weights_B
            d_taken_B *= weights_B
        loss = _mean(per_sample_B)
        q_mean = _mean(q_taken_B)
        if cfg.q_regularization:  # loss + c * mean Q(s, a): each Q(s, a) gets c / B more gradient
            loss += cfg.q_regularization * q_mean
            d_taken_B += np.float32(cfg.q_regularization / batch)
        return d_taken_B, td_error_B, loss, q_mean

    def _hl_gauss(self, logits_BAK, next_online_BAK, next_target_BAK, rows_B, action_B, reward_B, bootstrap_B,
                  weights_B):
        """Cross-entropy of the taken action's logits to the Gaussian-smoothed histogram of the (Double) TD target;
        its gradient with respect to those logits is softmax - target (times the sample's weight / B)."""
        batch = len(rows_B)
        chooser_BAK = next_online_BAK if self.cfg.double else next_target_BAK
        q_BA = (_softmax_last(chooser_BAK).reshape(-1, self.atoms) @ self.centers_K).reshape(batch, -1)
        if chooser_BAK is next_target_BAK:  # no target network, or not Double: the chosen action's value is the max
            next_q_B = np.maximum.reduce(q_BA, axis=1)
        else:
            next_q_B = _softmax_last(next_target_BAK[rows_B, q_BA.argmax(axis=1)]) @ self.centers_K
        y_B1 = np.minimum(np.maximum(reward_B + bootstrap_B * next_q_B, self.low), self.high)[:, None]  # clip
        # erf from PyTorch (NumPy has none): 2 Phi - 1 at each edge; the constants cancel in the ratio.
        cdf_BK1 = torch.special.erf(torch.from_numpy((self.edges_K1 - y_B1) * self.inv_scale)).numpy()
        target_BK = cdf_BK1[:, 1:] - cdf_BK1[:, :-1]
        target_BK /= cdf_BK1[:, -1:] - cdf_BK1[:, :1]
        log_probs_BK = _log_softmax_last(logits_BAK[rows_B, action_B])
        probs_BK = np.exp(log_probs_BK)
        loss_B = -np.einsum("bk,bk->b", target_BK, log_probs_BK)
        d_taken_BK = probs_BK - target_BK
        if weights_B is None:
            d_taken_BK *= np.float32(1.0 / batch)
            loss = _mean(loss_B)
        else:
            d_taken_BK *= (weights_B * np.float32(1.0 / batch))[:, None]
            loss = _mean(loss_B * weights_B)
        q_mean = _mean(probs_BK @ self.centers_K)
        return d_taken_BK, loss_B, loss, q_mean

    @staticmethod
    def _norm_backward(g: np.ndarray, kept: tuple, rows: int, norm: tuple, grads: tuple) -> np.ndarray:
        """Back through a LayerNorm (PyTorch's fused backward kernel): its weight's and bias's gradients into
        `grads`; returns dLoss/d(its input)."""
        z_t, mean_t, rstd_t = kept
        d_z, d_weight, d_bias = torch.ops.aten.native_layer_norm_backward(
            torch.from_numpy(g), z_t[:rows], [z_t.shape[1]], mean_t[:rows], rstd_t[:rows], norm[0], norm[1],
            [True, True, True])
        grads[0].copy_(d_weight)
        grads[1].copy_(d_bias)
        return d_z.numpy()

    def _backward(self, saved: list, g: np.ndarray) -> None:
        """dLoss/dweights into the flat gradient, from dLoss/d(output) (B, outputs) of the first B kept rows; then
        clipping, Adam and the target update (FlatLearner._apply's order)."""
        rows = len(g)
        last = len(self.online) - 1
        if not self.hl_gauss and self.dueling_DA is not None:
            g = g @ self.dueling_DA.T
        for i in range(last, -1, -1):
            grad_weight, grad_bias = self.grads[i]
            h = saved[i][0][:rows]
            if i < last:
                g = self.act_backward(g, saved[i][1][:rows])
                if saved[i][2] is not None:
                    g = self._norm_backward(g, saved[i][2], rows, self.online_norms[i], self.norm_grads[i])
                weight = self.online[i][0]
            else:
                weight = saved[i][1].T
            if i == last and self.dueling_P is not None:  # back through the fold
                self._unfold(g.T @ h, grad_weight)
                np.matmul(np.add.reduce(g, axis=0), self.dueling_P.T, out=grad_bias)
            else:
                np.matmul(g.T, h, out=grad_weight)
                np.add.reduce(g, axis=0, out=grad_bias)  # np.sum without its Python wrapper
            if i:
                g = g @ weight
        if self.max_norm > 0:  # clip_grad_norm_'s coefficient: max_norm / (norm + 1e-6), at most 1
            norm = np.sqrt(np.dot(self.grad_P, self.grad_P))
            if norm + np.float32(1e-6) > self.max_norm:
                self.grad_P *= self.max_norm / (norm + np.float32(1e-6))
        flat = self.flat
        flat.optimizer.step()
        flat.grad_steps += 1
        flat._sync_target()
