"""The agent of one seed: its online and target Q-networks, epsilon-greedy acting, one gradient step per batch
(computed by a learner, deepq.algo.learner), metrics, and the tensors of a checkpoint.

The agent never touches an environment or a buffer; the training loop hands it observations and batches.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from gymnasium import spaces

from deepq.algo.learner import make_learner
from deepq.algo.objectives import TensorBatch, outputs_per_action
from deepq.config.schema import Config
from deepq.data.replay import Batch
from deepq.errors import DeepQError
from deepq.nets.build import NetworkFactory, as_space, build_q_network


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeepQError(f"train.device={name} but PyTorch sees no CUDA GPU; use train.device=cpu or auto")
    return torch.device(name)


class DQNAgent:
    """Q-learning agent for observations of `observation` (a Box space, a shape or a flat size) and `n_actions`
    discrete actions. `network` builds a user's own Q-network (else the config's, see deepq.nets.build)."""

    def __init__(self, observation: spaces.Box | tuple[int, ...] | int, n_actions: int, cfg: Config,
                 network: Optional[NetworkFactory] = None) -> None:
        self.cfg = cfg
        self.observation_space = as_space(observation)
        self.obs_shape = tuple(self.observation_space.shape)
        self.n_actions = n_actions
        self.device = resolve_device(cfg.train.device)
        self.online = build_q_network(self.observation_space, n_actions, cfg.network, network,
                                      atoms=outputs_per_action(cfg.learner)).to(self.device)
        if network is not None or cfg.network.factory:
            self._check_factory_outputs()
        self.learner = make_learner(self.online, n_actions, cfg, self.device)
        self._seed_dim = bool(getattr(self.learner, "leading_seed_dim", False))  # the flat learner: (1, ...)
        self.noisy = bool(getattr(self.learner, "noisy", False))  # NoisyNet layers: exploration by noise
        self._greedy_numpy = getattr(self.learner, "greedy_numpy", None)
        self.target: Optional[torch.nn.Module] = self.learner.target
        self._metric_sums = torch.zeros(2, device=self.device)  # (loss, mean Q) summed since the last read
        self._host_sums = [0.0, 0.0]  # the same, from NumPy steps (Python floats: no tensor op per step)
        self._metric_count = 0
        self._rng = np.random.default_rng(cfg.seed)  # predict(deterministic=False) only; training uses its own

    def _check_factory_outputs(self) -> None:
        """A user's network must output what the objective trains: Q-values (B, A) for td, (B, A, K) otherwise.
        Checked once here on a batch of zeros, so a mismatch is one line before training, not a shape error
        inside the first update."""
        atoms = outputs_per_action(self.cfg.learner)
        want = (2, self.n_actions) if atoms is None else (2, self.n_actions, atoms)
        was_training = self.online.training
        self.online.eval()  # no batch-norm statistics or noise drawn by the probe
        try:
            with torch.no_grad():
                got = tuple(self.online(torch.zeros((2, *self.obs_shape), device=self.device)).shape)
        except Exception:  # noqa: BLE001 - a network that cannot take zeros: the first update reports it
            return
        finally:
            self.online.train(was_training)
        if got == want:
            return
        objective = self.cfg.learner.objective
        if atoms is None:
            raise DeepQError(f"learner.objective=td needs a network that outputs Q-values (batch, n_actions) = "
                             f"(B, {self.n_actions}); yours outputs {got[1:]} per observation")
        raise DeepQError(f"learner.objective={objective} needs a network that outputs (batch, n_actions, {atoms}) "
                         f"(B, {self.n_actions}, {atoms}); yours outputs {got[1:]} per observation: for a network "
                         "of Q-values set learner.objective=td (a preset may have chosen "
                         f"{objective}: `deepq train --print-config` shows where each value comes from)")

    # --- acting ---------------------------------------------------------------------------------------------
    def q_values(self, obs_N: np.ndarray) -> np.ndarray:
        """Q-values (N, A) of a batch of observations (N, *obs_shape)."""
        return self.learner.q_values(self._obs_tensor(obs_N)).cpu().numpy()

    def greedy(self, obs_N: np.ndarray) -> np.ndarray:
        if self._greedy_numpy is not None and len(obs_N) <= self._greedy_numpy.max_rows:
            return self._greedy_numpy(obs_N)  # the flat MLP on the CPU, a few rows: no torch dispatch
        return self.q_values(obs_N).argmax(axis=1)  # (N,)

    def act(self, obs_N: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions for a batch. Both random draws are always made so that the random stream
        does not depend on epsilon or on the network (a condition for bit-exact reproducibility)."""
        n = len(obs_N)
        explore_N = rng.random(n) < epsilon
        random_N = rng.integers(0, self.n_actions, size=n)
        if self.noisy:  # NoisyNet: new noise every acting step, drawn whatever epsilon is (the same stream)
            self.learner.resample_noise()
        if explore_N.all():
            return random_N
        greedy_N = self.learner.q_values(self._obs_tensor(obs_N), noise=True).argmax(dim=1).cpu().numpy() \
            if self.noisy else self.greedy(obs_N)
        return np.where(explore_N, random_N, greedy_N)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray | int, None]:
        """Stable-Baselines3's call: `action, _ = agent.predict(obs, deterministic=True)`. One observation
        (shape `obs_shape`) gives one action (an int), a batch (N, *obs_shape) gives N; the second value is
        always None (SB3's recurrent state). Not deterministic: epsilon-greedy with `exploration.end`."""
        array = np.asarray(obs)
        single = array.shape == self.obs_shape
        if not single and array.shape[1:] != self.obs_shape:
            raise DeepQError(f"predict: an observation of shape {array.shape} fits neither one observation "
                             f"{self.obs_shape} nor a batch (N, {', '.join(map(str, self.obs_shape))})")
        batch = array[None] if single else array
        epsilon = 0.0 if deterministic else self.cfg.exploration.end
        actions = self.act(batch, epsilon, self._rng)
        return (int(actions[0]) if single else actions), None

    # --- learning -------------------------------------------------------------------------------------------
    @property
    def grad_steps(self) -> int:
        return self.learner.grad_steps

    def update(self, batch: Batch) -> torch.Tensor:
        """One gradient step on a batch; returns the TD errors (B,) for prioritized replay."""
        numpy_step = getattr(self.learner, "numpy_step", None)  # deepq.fast.numpy_step: batches go in as they come
        if numpy_step is not None:
            td_error_B, loss, q_mean = numpy_step.step(
                np.asarray(batch.obs, dtype=np.float32), batch.action, batch.reward,
                np.asarray(batch.next_obs, dtype=np.float32), batch.done, batch.discount, batch.weights)
            self._host_sums[0] += loss
            self._host_sums[1] += q_mean
            self._metric_count += 1
            return torch.from_numpy(td_error_B)
        tensors = TensorBatch(
            self._obs_tensor(batch.obs), self._tensor(batch.action), self._tensor(batch.reward),
            self._obs_tensor(batch.next_obs), self._tensor(batch.done), self._tensor(batch.discount),
            None if batch.weights is None else self._tensor(batch.weights))
        result = self.learner.update(tensors)
        if self._seed_dim:  # the flat learner's loss and mean Q are (1,)
            self._metric_sums += torch.cat([result.loss, result.q_mean])
        else:
            self._metric_sums += torch.stack([result.loss, result.q_mean])
        self._metric_count += 1
        return result.td_error_B

    def set_lr(self, lr: float) -> None:
        self.learner.set_lr(lr)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """A NumPy array as a tensor; on the CPU a view of the same memory (`from_numpy`: 0.5 us against 2 us
        for `as_tensor`, seven of them per update)."""
        array = np.ascontiguousarray(array)
        if self._seed_dim:  # the flat learner takes (1, ...): S = 1 network (deepq.fast.learner)
            array = array[None]
        if self.device.type == "cpu":
            return torch.from_numpy(array)
        return torch.as_tensor(array, device=self.device)

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """Observations in their stored dtype (uint8 images stay 1 byte until here), as float32 on the device."""
        tensor = self._tensor(obs)
        return tensor if tensor.dtype == torch.float32 else tensor.float()

    def pop_metrics(self) -> dict[str, float]:
        """Mean loss and Q since the last call (one host sync per call, not per update)."""
        if self._metric_count == 0:
            return {}
        loss, q = ((total + host) / self._metric_count for total, host in zip(self._metric_sums.tolist(),
                                                                             self._host_sums))
        self._metric_sums.zero_()
        self._host_sums = [0.0, 0.0]
        self._metric_count = 0
        return {"train/loss": loss, "train/q_mean": q}

    def is_finite(self) -> bool:
        """False once the weights or the loss and Q sums since the last read hold a NaN or an inf (one host sync:
        called only where a checkpoint would be written)."""
        return (bool(torch.isfinite(self._metric_sums).all()) and all(map(math.isfinite, self._host_sums))
                and self.learner.is_finite())

    # --- persistence (plain tensors + JSON, see deepq.checkpoint) ---------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"online.{k}": v for k, v in self.online.state_dict().items()}
        if self.target is not None:
            out.update({f"target.{k}": v for k, v in self.target.state_dict().items()})
        out.update({f"optim.{k}": v for k, v in self.learner.optimizer_tensors().items()})
        return {k: v.detach().cpu().clone() for k, v in out.items()}  # a snapshot, never aliased

    def save(self, path: str | Path) -> Path:
        """The agent in one safetensors file (weights, spaces and config; no pickle), written atomically:
        `deepq.load_agent(path)` gives it back, `deepq evaluate PATH` and `deepq play PATH` take it."""
        from deepq.envs.spaces import describe
        from deepq.checkpoint import save_checkpoint

        path = Path(path)
        state = {"spaces": describe(self.cfg.env.id, self.observation_space, self.n_actions),
                 "config": self.cfg.to_dict(), "counters": dict(getattr(self, "counters", {}) or {})}
        result = getattr(self, "result", None)
        if result is not None:
            state["counters"] = {"env_steps": result.env_steps, "episodes": result.episodes,
                                 "grad_steps": result.grad_steps}
        tensors = {k: v for k, v in self.tensors().items() if not k.startswith("optim.")}
        save_checkpoint(path, tensors, state)
        return path

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Learning progress beyond the weights, for an exact resume: gradient steps (they time the target
        copies) and the loss and Q sums not yet written to the metrics."""
        arrays = {"metric_sums": self._metric_sums.cpu().numpy().copy(),
                  "host_metric_sums": np.array(self._host_sums, dtype=np.float64),
                  "counts": np.array([self.grad_steps, self._metric_count], dtype=np.int64)}
        if self.noisy:  # NoisyNet: the noise generator's state, so a resumed run draws the same noise
            arrays["noise_rng"] = self.learner.noise_generator.get_state().numpy().copy()
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._metric_sums.copy_(torch.as_tensor(arrays["metric_sums"]))
        self._host_sums = [float(v) for v in arrays.get("host_metric_sums", (0.0, 0.0))]
        self.learner.grad_steps, self._metric_count = (int(v) for v in arrays["counts"])
        if self.noisy and "noise_rng" in arrays:
            self.learner.noise_generator.set_state(torch.from_numpy(np.array(arrays["noise_rng"], dtype=np.uint8)))

    def load_tensors(self, tensors: dict[str, torch.Tensor], with_optimizer: bool = True) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.online.load_state_dict(part("online."))
        if self.target is not None:
            target = part("target.")
            self.target.load_state_dict(target if target else self.online.state_dict())
        optim = part("optim.")
        if with_optimizer and optim:
            self.learner.load_optimizer_tensors(optim)
