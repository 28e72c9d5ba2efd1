"""The fast path: one DQN gradient step for S networks at once (S = 1 for a single agent): TD targets, loss gradient, backward
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
from deepq.algo.objectives import Loss, TensorBatch, make_objective
from deepq.config.schema import Config
from deepq.fast.handgrad import KERNELS, FlatMLP, clip_grad_norm, layer_norms
from deepq.fast.numpy_greedy import NumpyGreedy
from deepq.fast.numpy_step import NumpyStep
from deepq.algo.losses import td_loss, td_loss_grad
from deepq.algo.targets import double_q_target, hard_update, soft_update, td_target
from deepq.errors import DeepQError
from deepq.nets.activations import ACTIVATIONS
from deepq.nets.networks import DuelingQNetwork, QNetwork


CATEGORICAL = ("c51", "hl_gauss")  # objectives whose head is categorical logits (B, A, K), trained by cross-entropy


class FlatLearner:
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
        # A categorical head (C51, HL-Gauss): the objective's own target distribution and Q = its mean.
        self.categorical = make_objective(cfg.learner).to(device) if cfg.learner.objective in CATEGORICAL else None
        # HL-Gauss's target is elementwise over the batch: computed on (S, B) as it comes (C51's scatters on (B, K)).
        self.flat_target = cfg.learner.objective == "hl_gauss"
        atoms = None if self.categorical is None else cfg.learner.atoms
        self.values_K = None if self.categorical is None else self.categorical.values_K
        self.online = FlatMLP(nets, net_cfg.activation, net_cfg.dueling, n_actions, device, atoms)
        self.target = None if self.target_nets is None else \
            FlatMLP(self.target_nets, net_cfg.activation, net_cfg.dueling, n_actions, device, atoms)
        self.params_SP = self.online.flat_SP
        self.params_SP.grad = torch.zeros_like(self.params_SP)
        self.grads = self.online.layout.views(self.params_SP.grad)
        self.norm_grads = self.online.layout.norm_views(self.params_SP.grad)
        self.optimizer = FlatAdam(self.params_SP, cfg.learner.lr)
        self.grad_steps = 0
        # Scalars used every step, as 0-d CPU tensors: a Python number costs a conversion op at each use (~2 us);
        # a CPU 0-d tensor is what it becomes there, so the numbers are the same on any device.
        self._max_norm = torch.tensor(float(cfg.learner.max_grad_norm))
        self._batch = 0
        self._batch_t = self._inv_batch_t = None

    def _batch_scalars(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """B and 1 / B as 0-d float32 CPU tensors (see __init__), made again only when the batch size changes."""
        if batch != self._batch:
            self._batch, self._batch_t, self._inv_batch_t = batch, torch.tensor(float(batch)), torch.tensor(1.0 / batch)
        return self._batch_t, self._inv_batch_t

    def q_values(self, obs_SNO: torch.Tensor) -> torch.Tensor:
        out = self.online.forward(obs_SNO)[0]
        return out if self.categorical is None else self._q_of(out)  # (S, N, A)

    def _q_of(self, logits_SNAK: torch.Tensor) -> torch.Tensor:
        """Q = the categorical's mean over its values (C51's support, HL-Gauss's bin centres)   (S, N, A)."""
        return torch.matmul(torch.softmax(logits_SNAK, dim=-1), self.values_K)

    def step(self, obs_SBO: torch.Tensor, action_SB: torch.Tensor, reward_SB: torch.Tensor,
             next_obs_SBO: torch.Tensor, done_SB: torch.Tensor, discount_SB: torch.Tensor,
             weights_SB: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gradient step per network; returns the TD errors (S, B) (a categorical head: the per-sample
        cross-entropies, the priorities), the losses (S,) and mean Q(s, a) (S,)."""
        if self.categorical is not None:
            return self._categorical_step(obs_SBO, action_SB, reward_SB, next_obs_SBO, done_SB, discount_SB,
                                          weights_SB)
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
        self._apply(saved, dq_SBA)
        return td_error_SB, loss_S, q_mean_S

    def _categorical_step(self, obs_SBO, action_SB, reward_SB, next_obs_SBO, done_SB, discount_SB, weights_SB):
        """C51 / HL-Gauss: cross-entropy of the taken action's logits to the objective's target distribution;
        its gradient with respect to those logits is softmax - target (times the sample's weight / B)."""
        double = self.cfg.learner.double
        seeds, batch = action_SB.shape
        both = double or self.target is None
        x_SMO = torch.cat([obs_SBO, next_obs_SBO], dim=1) if both else obs_SBO
        logits_SMAK, saved = self.online.forward(x_SMO, keep=True)
        logits_SBAK = logits_SMAK[:, :batch]
        next_online_SBAK = logits_SMAK[:, batch:] if both else None
        next_target_SBAK = self.target.forward(next_obs_SBO)[0] if self.target is not None else next_online_SBAK
        chooser_SBAK = next_online_SBAK if double else next_target_SBAK
        k = logits_SBAK.shape[-1]
        best_SB11 = self._q_of(chooser_SBAK).argmax(dim=-1).view(seeds, batch, 1, 1).expand(-1, -1, 1, k)
        if self.flat_target:
            next_SBK = next_target_SBAK.gather(2, best_SB11).view(seeds, batch, k)
            target_SBK = self.categorical.target_probs(reward_SB, done_SB, discount_SB, next_SBK)
        else:
            next_BK = next_target_SBAK.gather(2, best_SB11).view(seeds * batch, k)
            target_SBK = self.categorical.target_probs(reward_SB.reshape(-1), done_SB.reshape(-1),
                                                       discount_SB.reshape(-1), next_BK).view(seeds, batch, k)
        action_SB11 = action_SB.view(seeds, batch, 1, 1).expand(-1, -1, 1, k)
        taken_SBK = logits_SBAK.gather(2, action_SB11).squeeze(2)
        log_probs_SBK = torch.log_softmax(taken_SBK, dim=-1)
        probs_SBK = log_probs_SBK.exp()
        loss_SB = -(target_SBK * log_probs_SBK).sum(dim=-1)
        batch_t, inv_batch_t = self._batch_scalars(batch)
        if weights_SB is None:
            loss_S = loss_SB.mean(dim=-1)
            d_taken_SBK = (probs_SBK - target_SBK).mul_(inv_batch_t)
        else:
            loss_S = (loss_SB * weights_SB).mean(dim=-1)
            d_taken_SBK = (probs_SBK - target_SBK).mul_((weights_SB / batch_t).unsqueeze(-1))
        d_logits_SBAK = torch.zeros_like(logits_SBAK).scatter_(2, action_SB11, d_taken_SBK.unsqueeze(2))
        q_mean_S = torch.matmul(probs_SBK, self.values_K).mean(dim=-1)
        self._apply(saved, d_logits_SBAK)
        return loss_SB, loss_S, q_mean_S

    def _apply(self, saved: list, d_out: torch.Tensor) -> None:
        """Backward pass, clipping, Adam and the target update from dLoss/d(the network's output)."""
        self.online.backward(saved, d_out, self.grads, self.norm_grads)
        if self.cfg.learner.max_grad_norm > 0:
            clip_grad_norm(self.params_SP.grad, self._max_norm)
        self.optimizer.step()
        self.grad_steps += 1
        self._sync_target()

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def _sync_target(self) -> None:
        if self.target is None:
            return
        if self.cfg.target.kind == "soft":
            soft_update(self.target.flat_SP, self.params_SP, self.cfg.target.tau)
        elif self.grad_steps % self.cfg.target.update_interval == 0:
            hard_update(self.target.flat_SP, self.params_SP)


Learner = FlatLearner  # the name bench/ and older code use


def unsupported_reason(net: nn.Module, cfg: Config) -> Optional[str]:
    """None where the fast path trains `net` exactly as autograd would, else why not (one phrase)."""
    if cfg.learner.objective not in ("td",) + CATEGORICAL or cfg.network.noisy:
        return "it trains TD, C51 and HL-Gauss only (not learner.objective=qr or network.noisy)"
    if getattr(net, "atoms", None) != (None if cfg.learner.objective == "td" else cfg.learner.atoms):
        return "its outputs per action do not match learner.objective and learner.atoms"
    if type(net) not in (QNetwork, DuelingQNetwork):
        return f"it is a {type(net).__name__}, not deepq's plain or dueling MLP (deepq.nets.networks)"
    if net.encoder is not None:
        return "it has a convolutional encoder (the fast path is for MLPs on flat observations)"
    kinds = [type(m) for m in net.torso if type(m) is not nn.LayerNorm]
    if kinds[0::2] != [nn.Linear] * len(kinds[0::2]) or len(set(kinds[1::2])) != 1 or len(kinds) % 2:
        return "its torso is not Linear layers alternating with one kind of activation"
    norms = [m for m in net.torso if type(m) is nn.LayerNorm]
    if cfg.network.layer_norm != bool(norms):
        return "network.layer_norm does not match the network"
    after_linear = sum(norm is not None for norm in layer_norms(net))
    if norms and (not after_linear == len(norms) == len(kinds) // 2 or
                  not all(norm.elementwise_affine and norm.bias is not None for norm in norms)):
        return "its LayerNorms are not one with a weight and a bias after each hidden Linear"
    if kinds[1] not in KERNELS or ACTIVATIONS.get(cfg.network.activation) is not kinds[1]:
        return f"its activation {kinds[1].__name__} has no hand-written backward kernel"
    if (type(net) is DuelingQNetwork) != cfg.network.dueling:
        return "network.dueling does not match the network"
    return None


class FlatMLPLearner:
    """The `deepq.algo.learner.Learner` interface over a `FlatLearner` of one network (S = 1)."""

    def __init__(self, online: nn.Module, n_actions: int, cfg: Config, device: torch.device) -> None:
        self.online = online.to(device)
        self.flat = FlatLearner([self.online], n_actions, cfg, device)
        self.target = None if self.flat.target_nets is None else self.flat.target_nets[0]
        activation = ACTIVATIONS[cfg.network.activation]
        # Greedy actions in NumPy on the CPU (deepq.fast.numpy_greedy): a few rows at a time, dispatch-bound in torch.
        self.greedy_numpy = NumpyGreedy(self.flat.online, activation, self.flat.values_K) \
            if NumpyGreedy.supports(self.flat.online, activation) else None
        # Its gradient steps in NumPy too, where deepq.fast.numpy_step has the objective and activation.
        self.numpy_step = NumpyStep(self.flat, activation) if NumpyStep.supports(self.flat, activation) else None

    @property
    def grad_steps(self) -> int:
        return self.flat.grad_steps

    @grad_steps.setter
    def grad_steps(self, value: int) -> None:
        self.flat.grad_steps = value

    # The agent hands this learner its arrays with the seed dimension S = 1 already in front (a NumPy `[None]`
    # view, ~0.1 us, where a torch unsqueeze costs ~1 us: eight of them per update were 5% of a CartPole run).
    leading_seed_dim = True

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values (N, A) of observations (1, N, O) (or (N, O))."""
        return self.flat.q_values(obs if obs.dim() == 3 else obs.unsqueeze(0))[0]

    def update(self, b: TensorBatch) -> Loss:
        """One step on a batch of tensors (1, B, ...) (or (B, ...)); the loss and mean Q come back as (1,)."""
        if b.action.dim() == 1:
            b = TensorBatch(*(None if x is None else x.unsqueeze(0) for x in b))
        if self.numpy_step is not None:
            td_error_B, loss, q_mean = self.numpy_step.step(*(None if x is None else x.numpy()[0] for x in b))
            return Loss(torch.tensor([loss]), torch.from_numpy(td_error_B), torch.tensor([q_mean]))
        td_error_SB, loss_S, q_mean_S = self.flat.step(*b)
        return Loss(loss_S, td_error_SB[0], q_mean_S)

    def set_lr(self, lr: float) -> None:
        self.flat.set_lr(lr)

    @property
    def lr(self) -> float:
        return self.flat.optimizer.lr

    def optimizer_tensors(self) -> dict[str, torch.Tensor]:
        return self.flat.optimizer.tensors()

    def load_optimizer_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "exp_avg" not in tensors:
            raise DeepQError("this checkpoint's optimizer state is per tensor (an older deepq, or "
                             "learner.backend=autograd); it cannot continue on the flat back-end: resume it with "
                             "learner.backend=autograd, or load it for evaluation only")
        self.flat.optimizer.load_tensors(tensors)

    def is_finite(self) -> bool:
        return bool(torch.isfinite(self.flat.params_SP).all())
