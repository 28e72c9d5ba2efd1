"""The learner: one gradient step on a batch, behind one small interface with two back-ends.

- `AutogradLearner`, the reference, trains any `torch.nn.Module`: forward, the objective's loss,
  `loss.backward()`, gradient clipping, `torch.optim.Adam`, then the target-network update. Read it top to bottom.
- `deepq.fast.learner.FlatMLPLearner`, the fast path for deepq's own plain and dueling MLPs: the same math with a
  hand-written backward pass on flat weight vectors (~2.5x faster per update on a small CPU; a test trains both
  from the same weights on the same batches and checks they end with the same parameters).

`make_learner` picks one by `learner.backend` (auto: the fast path exactly where it applies).
"""

from __future__ import annotations

import copy
from typing import Optional, Protocol

import numpy as np
import torch
from torch import nn

from deepq.algo.objectives import Loss, TensorBatch, make_objective
from deepq.errors import DeepQError
from deepq.nets.noisy import has_noise, resample_noise


class Learner(Protocol):
    online: nn.Module
    target: Optional[nn.Module]
    grad_steps: int

    def q_values(self, obs: torch.Tensor) -> torch.Tensor: ...  # (N, A), no gradient

    def update(self, batch: TensorBatch) -> Loss: ...  # one gradient step

    def set_lr(self, lr: float) -> None: ...

    @property
    def lr(self) -> float: ...

    def optimizer_tensors(self) -> dict[str, torch.Tensor]: ...

    def load_optimizer_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def is_finite(self) -> bool: ...


class AutogradLearner:
    """Online and target networks of any architecture, trained with autograd and `torch.optim.Adam`."""

    def __init__(self, online: nn.Module, cfg, device: torch.device) -> None:
        self.cfg = cfg
        self.online = online.to(device)
        self.target = None if cfg.target.kind == "none" else copy.deepcopy(online).requires_grad_(False)
        self.objective = make_objective(cfg.learner)
        # NoisyNet: one generator for all noise (online, target, acting), seeded from the run's seed on its own
        # stream; its state goes into checkpoints (agent.state_arrays), so a resumed run draws the same noise.
        self.noisy = has_noise(self.online)
        self.noise_generator = torch.Generator(device=device)
        self.noise_generator.manual_seed(noise_seed(cfg.seed))
        self.params = [p for p in self.online.parameters() if p.requires_grad]
        # fused: one kernel for all tensors (CUDA, and the CPU since PyTorch 2.4), the numbers of the plain loop.
        fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in self.params)
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.learner.lr, fused=fused)
        self.grad_steps = 0
        # (target, online) tensor pairs of the two state_dicts: views that follow every in-place update.
        self._pairs = [] if self.target is None else \
            list(zip(self.target.state_dict().values(), self.online.state_dict().values()))

    @torch.no_grad()
    def q_values(self, obs: torch.Tensor, noise: bool = False) -> torch.Tensor:
        """Q-values (N, A); a noisy network acts as its mean network unless `noise` (the noise of the latest
        `resample_noise`)."""
        if not self.noisy or noise:
            return self.objective.q_values(self.online(obs))  # (N, A)
        self.online.eval()  # NoisyLinear: mu only
        try:
            return self.objective.q_values(self.online(obs))
        finally:
            self.online.train()

    def resample_noise(self) -> None:
        """New noise for the online network's noisy layers (before each acting step)."""
        resample_noise(self.online, self.noise_generator)

    def update(self, batch: TensorBatch) -> Loss:
        if self.noisy:  # fresh noise every gradient step, drawn independently for the online and target networks
            resample_noise(self.online, self.noise_generator)
            if self.target is not None:
                resample_noise(self.target, self.noise_generator)
        out = self.online(batch.obs)
        with torch.no_grad():
            next_target = None if self.target is None else self.target(batch.next_obs)
            next_online = self.online(batch.next_obs) \
                if self.objective.needs_next_online(self.target is not None) else None
        result = self.objective.loss(out, batch, next_online, next_target)
        self.optimizer.zero_grad(set_to_none=False)
        result.loss.backward()
        if self.cfg.learner.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.params, self.cfg.learner.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.grad_steps += 1
        self._sync_target()
        return Loss(result.loss.detach(), result.td_error_B, result.q_mean)

    @torch.no_grad()
    def _sync_target(self) -> None:
        if self.target is None:
            return
        if self.cfg.target.kind == "soft":  # Polyak: target <- tau * online + (1 - tau) * target
            for target, online in self._pairs:
                if target.is_floating_point():
                    target.lerp_(online, self.cfg.target.tau)
                else:  # integer buffers (e.g. a counter) are copied
                    target.copy_(online)
        elif self.grad_steps % self.cfg.target.update_interval == 0:
            for target, online in self._pairs:
                target.copy_(online)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def optimizer_tensors(self) -> dict[str, torch.Tensor]:
        """Adam's moments and step count per parameter, keyed by the parameter's name in the online network."""
        names = {id(p): n for n, p in self.online.named_parameters()}
        out = {}
        for p in self.params:
            for key, value in self.optimizer.state.get(p, {}).items():
                out[f"{names[id(p)]}.{key}"] = value.reshape(1) if value.dim() == 0 else value
        return out

    def load_optimizer_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        names = {id(p): n for n, p in self.online.named_parameters()}
        if tensors and not any(k.endswith(".exp_avg") for k in tensors):
            raise DeepQError("this checkpoint's optimizer state is from the flat learner (learner.backend=flat); "
                             "resume it with the back-end it was trained with")
        for p in self.params:
            name = names[id(p)]
            state = {key: tensors[f"{name}.{key}"].clone() for key in ("step", "exp_avg", "exp_avg_sq")
                     if f"{name}.{key}" in tensors}
            if state:
                state["step"] = state["step"].reshape(()).to(torch.float32)
                self.optimizer.state[p] = state

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.online.parameters())


def noise_seed(seed: int) -> int:
    """The noise generator's seed: the run's seed on a stream of its own (not the weights' or the env's)."""
    return int(np.random.SeedSequence([seed, 0x4E4F4953]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def make_learner(online: nn.Module, n_actions: int, cfg, device: torch.device) -> Learner:
    """The learner for this network under `learner.backend`: `flat` where it applies (auto) or is asked for (and
    refused in one line where it cannot train the network), `autograd` otherwise."""
    from deepq.fast.learner import FlatMLPLearner, unsupported_reason

    backend = cfg.learner.backend
    if backend == "autograd":
        return AutogradLearner(online, cfg, device)
    reason = unsupported_reason(online, cfg)
    if reason is None:
        return FlatMLPLearner(online, n_actions, cfg, device)
    if backend == "flat":
        raise DeepQError(f"learner.backend=flat cannot train this network: {reason}; use learner.backend=auto "
                         "(or autograd)")
    return AutogradLearner(online, cfg, device)
