"""The learner: online and target Q-networks, the optimizer, epsilon-greedy acting and one gradient step.

The agent never touches an environment or a buffer; the training loop hands it observations and batches.
"""

from __future__ import annotations

import copy
import inspect
from typing import Optional

import numpy as np
import torch

from deepq.config import Config
from deepq.losses import q_regularizer, td_loss
from deepq.networks import build_q_network
from deepq.replay import Batch
from deepq.targets import double_q_target, hard_update, soft_update, td_target


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from deepq.errors import DeepQError
        raise DeepQError(f"train.device={name} but PyTorch sees no CUDA GPU; use train.device=cpu or auto")
    return torch.device(name)


def make_adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel where this PyTorch has it: one kernel instead of ~10 ops per parameter."""
    params = list(params)
    if "fused" in inspect.signature(torch.optim.Adam).parameters:
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, ValueError):  # device without a fused Adam
            pass
    return torch.optim.Adam(params, lr=lr)


class DQNAgent:
    """Q-learning agent. `obs_dim` and `n_actions` come from the environment's spaces."""

    def __init__(self, obs_dim: int, n_actions: int, cfg: Config) -> None:
        self.cfg = cfg
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self.device = resolve_device(cfg.train.device)
        self.online = build_q_network(obs_dim, n_actions, cfg.network).to(self.device)
        self.target: Optional[torch.nn.Module] = None
        if cfg.target.kind != "none":
            self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.optimizer = make_adam(self.online.parameters(), cfg.learner.lr, self.device)
        self.grad_steps = 0
        self._metric_sums = torch.zeros(2, device=self.device)  # (loss, mean Q) summed since the last read
        self._metric_count = 0

    # --- acting ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def q_values(self, obs_NO: np.ndarray) -> np.ndarray:
        obs = torch.as_tensor(np.asarray(obs_NO, dtype=np.float32), device=self.device)
        return self.online(obs).cpu().numpy()  # (N, A)

    def greedy(self, obs_NO: np.ndarray) -> np.ndarray:
        return self.q_values(obs_NO).argmax(axis=1)  # (N,)

    def act(self, obs_NO: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions for a batch. Both random draws are always made so that the random stream
        does not depend on epsilon or on the network (a condition for bit-exact reproducibility)."""
        n = len(obs_NO)
        explore_N = rng.random(n) < epsilon
        random_N = rng.integers(0, self.n_actions, size=n)
        if explore_N.all():
            return random_N
        return np.where(explore_N, random_N, self.greedy(obs_NO))

    # --- learning -------------------------------------------------------------------------------------------
    def update(self, batch: Batch) -> torch.Tensor:
        """One gradient step on a batch; returns the TD errors (B,) for prioritized replay."""
        cfg, dev = self.cfg, self.device
        obs_BO = torch.as_tensor(batch.obs, device=dev)
        next_obs_BO = torch.as_tensor(batch.next_obs, device=dev)
        action_B = torch.as_tensor(batch.action, device=dev)
        reward_B = torch.as_tensor(batch.reward, device=dev)
        done_B = torch.as_tensor(batch.done, device=dev)
        discount_B = torch.as_tensor(batch.discount, device=dev)
        weights_B = None if batch.weights is None else torch.as_tensor(batch.weights, device=dev)
        batch_size = len(action_B)

        if cfg.learner.double or self.target is None:
            # One forward pass of the online network over s and s' together (halves the op count).
            q_both = self.online(torch.cat([obs_BO, next_obs_BO]))
            q_BA, next_online_BA = q_both[:batch_size], q_both[batch_size:].detach()
        else:
            q_BA, next_online_BA = self.online(obs_BO), None
        with torch.no_grad():
            next_target_BA = self.target(next_obs_BO) if self.target is not None else next_online_BA
            if cfg.learner.double:
                y_B = double_q_target(reward_B, done_B, discount_B, next_online_BA, next_target_BA)
            else:
                y_B = td_target(reward_B, done_B, discount_B, next_target_BA)
        q_taken_B = q_BA.gather(1, action_B.unsqueeze(1)).squeeze(1)
        loss, td_error_B = td_loss(q_taken_B, y_B, cfg.learner.loss, cfg.learner.huber_delta, weights_B)
        if cfg.learner.q_regularization:
            loss = loss + q_regularizer(q_taken_B, cfg.learner.q_regularization)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.learner.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), cfg.learner.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.grad_steps += 1
        self._sync_target()
        self._metric_sums += torch.stack([loss.detach(), q_taken_B.detach().mean()])
        self._metric_count += 1
        return td_error_B

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _sync_target(self) -> None:
        if self.target is None:
            return
        if self.cfg.target.kind == "soft":
            soft_update(self.target, self.online, self.cfg.target.tau)
        elif self.grad_steps % self.cfg.target.update_interval == 0:
            hard_update(self.target, self.online)

    def pop_metrics(self) -> dict[str, float]:
        """Mean loss and Q since the last call (one host sync per call, not per update)."""
        if self._metric_count == 0:
            return {}
        loss, q = (self._metric_sums / self._metric_count).tolist()
        self._metric_sums.zero_()
        self._metric_count = 0
        return {"train/loss": loss, "train/q_mean": q}

    def is_finite(self) -> bool:
        """False once the weights or the loss and Q sums since the last read hold a NaN or an inf (one host sync:
        called only where a checkpoint would be written)."""
        values = [self._metric_sums, *(p.detach().reshape(-1) for p in self.online.parameters())]
        return bool(torch.isfinite(torch.cat(values)).all())

    # --- persistence (plain tensors + JSON, see deepq.checkpoint) ------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"online.{k}": v for k, v in self.online.state_dict().items()}
        if self.target is not None:
            out.update({f"target.{k}": v for k, v in self.target.state_dict().items()})
        for i, state in self.optimizer.state_dict()["state"].items():
            for name, value in state.items():
                out[f"optim.{i}.{name}"] = torch.as_tensor(value)
        return {k: v.detach().cpu().clone() for k, v in out.items()}  # a snapshot, never aliased

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Learning progress beyond the weights, for an exact resume: gradient steps (they time the target
        copies) and the loss and Q sums not yet written to the metrics."""
        return {"metric_sums": self._metric_sums.cpu().numpy().copy(),
                "counts": np.array([self.grad_steps, self._metric_count], dtype=np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._metric_sums.copy_(torch.as_tensor(arrays["metric_sums"]))
        self.grad_steps, self._metric_count = (int(v) for v in arrays["counts"])

    def load_tensors(self, tensors: dict[str, torch.Tensor], with_optimizer: bool = True) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.online.load_state_dict(part("online."))
        if self.target is not None:
            target = part("target.")
            self.target.load_state_dict(target if target else self.online.state_dict())
        optim = part("optim.")
        if with_optimizer and optim:
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in optim.items():
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = value
            saved = self.optimizer.state_dict()
            saved["state"] = state
            self.optimizer.load_state_dict(saved)
