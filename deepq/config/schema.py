"""Every hyperparameter of a run, as one frozen dataclass tree.

Each field carries its meaning and unit in `metadata["help"]`; the same text drives `deepq train --help`.
Units matter in DQN: "env steps" count transitions summed over all vector environments, "gradient steps" count
optimizer updates. The code defaults are a generic set-up for small flat-observation tasks that solves CartPole,
Acrobot and LunarLander without a preset (issue 12); the DQN papers' numbers are the preset `dqn-nature`, tuned
set-ups live in `deepq/config/presets/*.yaml`.

A `Config` validates itself on construction and raises `ConfigError` with one line naming the bad key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from deepq.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "presets"
# The names of deepq.nets.activations.ACTIVATIONS (tests/test_config.py checks they agree): importing that module
# here would load PyTorch for every command, `deepq --help` included.
ACTIVATION_NAMES = ("relu", "tanh", "elu", "gelu", "silu")

NO_PRESET = "none"  # --preset none: the code defaults alone, even for an env that ships a tuned preset


def _f(default: Any, help: str, choices: tuple = (), **kwargs) -> Any:
    """A dataclass field with its help text (meaning + unit) and, optionally, the allowed values."""
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata={"help": help, "choices": choices}, **kwargs)
    return field(default=default, metadata={"help": help, "choices": choices}, **kwargs)


class _Section:
    """A config section built in Python gets what one read from YAML or the command line gets: each value
    coerced to its field's type ("1e-3" -> 0.001) or refused in one line (a NaN, a wrong type, an unknown
    choice): `LearnerConfig(lr=float("inf"))` is a ConfigError, as `learner.lr=inf` is."""

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class EnvConfig(_Section):
    id: str = _f("CartPole-v1", "Gymnasium environment id, module:Id (imports module first), or an env factory "
                                "module:function (a function or class returning a gymnasium.Env); the current "
                                "directory is searched for module; needs a Discrete action space")
    kwargs: dict = field(default_factory=dict, metadata={
        "help": "keyword arguments for gym.make or the factory, e.g. env.kwargs.size=7 or --env-kwargs "
                "'{\"size\": 7}'; plain YAML values only (pass objects through a factory)", "choices": ()})
    wrappers: tuple[str, ...] = _f((), "wrappers applied in order, each module:Class called as Class(env), e.g. "
                                       "gymnasium.wrappers:FlattenObservation; empty = none")
    num_envs: int = _f(4, "environments stepped together in one vector env (collection only)")
    process: Optional[bool] = _f(None, "with train.overlap, step the envs in a second process while the updates "
                                       "run (deepq.envs.process; the same results); empty = wherever it can "
                                       "(Linux, 2+ cores, not a multi-seed worker, an env whose state checkpoints "
                                       "cannot save exactly, e.g. Box2D)")
    action_repeat: int = _f(1, "play each chosen action for this many env steps, summing their rewards (frame skip "
                               "for any task, deepq.envs.repeat; training, evaluation and videos alike); step "
                               "counts (train.total_steps, eval.interval, ...) then count decisions; 1 = none")
    max_episode_steps: Optional[int] = _f(None, "time limit in env steps per episode (truncation); empty = the "
                                                "env's own (500 for CartPole-v1)")
    terminal_reward: Optional[float] = _f(None, "reward shaping (notebook 000: -100): the reward stored for a step that "
                                                "terminates the episode; a time-limit truncation keeps the env's "
                                                "reward; logged returns stay the env's own; empty = no shaping")
    preprocess: str = _f("auto", "pixel preprocessing (deepq.envs.pixels): atari (no-op reset, frame skip 4 with "
                                 "max-pooling, 84x84 grayscale, frame stack), minatar (channels first), none; auto = "
                                 "atari for ALE/... and ...NoFrameskip-v4 ids, minatar for MinAtar/... ids",
                         choices=("auto", "none", "atari", "minatar"))
    frame_stack: int = _f(4, "atari: frames stacked per observation")
    sticky_actions: Optional[float] = _f(None, "atari: probability that the game repeats the previous action "
                                               "(repeat_action_probability); empty = the id's own (0.25 for v5 ids, "
                                               "0 for NoFrameskip-v4)")
    noop_max: int = _f(30, "atari: at most this many random no-op actions after a reset")
    episodic_life: bool = _f(True, "atari, training only: a lost life ends the training episode (the game goes on); "
                                   "evaluation always plays whole games")
    clip_rewards: bool = _f(True, "atari, training only: rewards become their sign (-1, 0, 1); evaluation and "
                                  "reported scores use the raw game score")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig(_Section):
    kind: str = _f("auto", "deepq's network: mlp (flat observations); nature_cnn (Mnih et al. 2015: 3 convolutions, "
                           "for 84x84 frames); minatar_cnn (Young & Tian 2019: one 3x3 convolution of 16 filters, for "
                           "small grids); auto = by the observation's shape: rank 1 mlp, images of 36+ pixels "
                           "nature_cnn, smaller images minatar_cnn", choices=("auto", "mlp", "nature_cnn", "minatar_cnn"))
    hidden_sizes: tuple[int, ...] = _f((128, 128), "units per hidden layer of the MLP Q-network (after the "
                                                   "convolutions for a CNN), e.g. 64,64")
    activation: str = _f("relu", "hidden-layer activation", choices=ACTIVATION_NAMES)
    dueling: bool = _f(True, "dueling head (Wang et al. 2016): Q(s,a) = V(s) + A(s,a) - mean over actions of A(s,.)")
    factory: Optional[str] = _f(None, "your own Q-network: package.module:function, called as function("
                                      "observation_space, n_actions) -> torch.nn.Module (the current directory is "
                                      "searched); replaces the MLP above; empty = deepq's MLP")
    layer_norm: bool = _f(False, "LayerNorm after each hidden Linear of the MLP, before the activation (PQN, "
                                 "Gallici et al. 2024: stabilises TD learning)")
    noisy: bool = _f(False, "NoisyNet (Fortunato et al. 2018): every Linear of the MLP becomes a factorised "
                            "Gaussian noisy layer (sigma_0 0.5), noise drawn from a generator seeded by `seed` "
                            "and redrawn every gradient step and every acting step; evaluation uses the mean "
                            "network; explores by itself (pair with exploration.start=0, end=0); autograd "
                            "learner")


@dataclass(frozen=True, kw_only=True)
class ReplayConfig(_Section):
    kind: str = _f("uniform", "how updates draw transitions: uniform; prioritized (proportional PER, Schaul et al. "
                   "2016); loss_softmax (notebook 002: softmax of stored squared TD errors, lowest overwritten first); "
                   "none (online Q-learning, notebooks 001/002: after every step of the vector env, one update on "
                   "just the transitions it collected, one per sub-env; needs train.train_freq=1)",
                   choices=("uniform", "prioritized", "loss_softmax", "none"))
    storage: str = _f("auto", "how transitions are stored: transitions (obs and next obs each); frames (each "
                              "observation's newest frame once, stacks and n-step returns rebuilt at sample time: "
                              "Atari's 1M transitions in ~7 GB; uniform or prioritized); auto = frames for pixel tasks "
                              "(env.preprocess atari or minatar)", choices=("auto", "transitions", "frames"))
    capacity: int = _f(100_000, "transitions kept in the ring buffer; oldest are overwritten (kind=none keeps only "
                                "the newest)")
    batch_size: int = _f(128, "transitions per gradient step (kind=none: the transitions of the latest env step)")
    n_step: int = _f(3, "n-step returns: a stored transition sums up to n discounted rewards of one vector env "
                        "and bootstraps with gamma**k from k <= n env steps later; stops at an episode end (no "
                        "bootstrap after termination, bootstrap from the true final state after truncation)")
    alpha: float = _f(0.6, "prioritized: priority exponent, p = (|TD error| + priority_eps)**alpha; 0 = uniform")
    beta_start: float = _f(0.4, "prioritized: importance-sampling exponent at the start, in [0, 1]; rises "
                                "linearly to 1 over beta_steps")
    beta_steps: Optional[int] = _f(None, "prioritized: env steps over which beta rises from beta_start to 1; "
                                         "empty = train.total_steps")
    priority_eps: float = _f(1e-6, "prioritized: added to |TD error| so that no transition has priority 0")
    temperature: float = _f(1000.0, "loss_softmax: P(i) = softmax(loss_i / temperature) over the stored squared "
                                    "TD errors; notebook 002's 1000 is near uniform for losses well below 1000")
    sort_interval: int = _f(25, "loss_softmax: stored transitions (env steps) between sorts of the buffer by loss, "
                                "so that the lowest-loss ones are overwritten first; 0 = never sort")


@dataclass(frozen=True, kw_only=True)
class ExplorationConfig(_Section):
    schedule: str = _f("linear", "how epsilon moves from start to end", choices=("linear", "exponential", "constant"))
    unit: str = _f("step", "what the schedule counts: env steps or finished training episodes",
                   choices=("step", "episode"))
    start: float = _f(1.0, "epsilon at the start of training")
    end: float = _f(0.05, "final epsilon (linear) or floor (exponential)")
    duration: int = _f(10_000, "linear: units (env steps or episodes) to go from start to end")
    decay: float = _f(0.99, "exponential: epsilon is multiplied by this once per unit, down to `end`")


@dataclass(frozen=True, kw_only=True)
class TargetConfig(_Section):
    kind: str = _f("soft", "target network: hard copy every `update_interval`, soft Polyak update with `tau` "
                   "every gradient step, or none (bootstrap from the online network)", choices=("hard", "soft", "none"))
    update_interval: int = _f(1_000, "hard: gradient steps between copies of the online weights into the target")
    tau: float = _f(0.01, "soft: target <- tau * online + (1 - tau) * target after each gradient step")


@dataclass(frozen=True, kw_only=True)
class LearnerConfig(_Section):
    gamma: float = _f(0.99, "discount factor in [0, 1]")
    lr: float = _f(1e-3, "Adam learning rate")
    lr_end: Optional[float] = _f(None, "if set, the learning rate falls linearly from `lr` to this by "
                                       "train.total_steps env steps, from the start or from the solve "
                                       "(`lr_decay_from`; keeps a solved agent from collapsing); empty = constant")
    lr_decay_from: str = _f("start", "where the fall to `lr_end` begins: start (env step 0) or solved (the run's "
                                     "confirmed solve: `lr` until then, so the way to the solve is unchanged, "
                                     "then linearly to `lr_end` at train.total_steps)", choices=("start", "solved"))
    loss: str = _f("huber", "TD loss", choices=("huber", "mse"))
    huber_delta: float = _f(1.0, "Huber loss: TD errors beyond this are penalised linearly")
    max_grad_norm: float = _f(10.0, "clip the global gradient norm to this; 0 disables clipping")
    double: bool = _f(True, "Double DQN: online network picks the next action, target network values it")
    backend: str = _f("auto", "how a gradient step is computed: autograd (any network: module forward, "
                              "loss.backward(), torch.optim.Adam); flat (deepq's plain or dueling MLP only, TD, "
                              "C51 or HL-Gauss, with a hand-written backward pass, ~2.5x faster on a small CPU); "
                              "auto = flat where it applies, autograd otherwise", choices=("auto", "autograd", "flat"))
    q_regularization: float = _f(0.0, "adds c * mean Q(s,a) of the batch to the loss (notebook 002: 0.1), pulling "
                                      "Q-values down; 0 disables")
    objective: str = _f("td", "what the network outputs and how it learns: td (Q-values, Huber/MSE TD loss); c51 "
                              "(Bellemare et al. 2017: a categorical return distribution on `atoms` points from "
                              "v_min to v_max, cross-entropy to the projected (n-step, Double) Bellman target); qr "
                              "(QR-DQN, Dabney et al. 2018: `quantiles` per action, quantile Huber loss, kappa 1); "
                              "hl_gauss (Farebrother et al. 2024: Q as a categorical over `atoms` bins on [v_min, "
                              "v_max], cross-entropy to a Gaussian-smoothed histogram of the TD target). Not td: "
                              "Q = the distribution's mean, the per-sample loss is the "
                              "prioritized-replay priority, learner.loss/huber_delta do not apply; a network "
                              "factory must then output (B, A, K)", choices=("td", "c51", "qr", "hl_gauss"))
    v_min: float = _f(-10.0, "c51 / hl_gauss: lowest return of the support; targets below are clipped to it (set "
                             "v_min/v_max to the task's range of discounted returns)")
    v_max: float = _f(10.0, "c51 / hl_gauss: highest return of the support; targets above are clipped to it")
    atoms: int = _f(51, "c51: atoms of the support (evenly spaced, v_min and v_max included); hl_gauss: bins "
                        "(evenly dividing [v_min, v_max])")
    quantiles: int = _f(200, "qr: quantiles per action (their midpoints tau_i = (2i+1)/(2N))")
    hl_sigma: float = _f(0.75, "hl_gauss: standard deviation of the Gaussian that smooths the target, in bin "
                               "widths")


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_Section):
    total_steps: int = _f(200_000, "budget of env steps (summed over vector envs)")
    learning_starts: int = _f(1_000, "env steps collected before the first gradient step")
    train_freq: int = _f(4, "env steps between updates")
    gradient_steps: int = _f(1, "gradient steps per update (replay ratio = gradient_steps / train_freq)")
    overlap: bool = _f(False, "a vector step's updates run while its envs step (in a second process where "
                              "env.process allows): they sample the transitions stored before that step")
    device: str = _f("cpu", "torch device for the networks: cpu, cuda, cuda:N or auto (cuda when available)")
    torch_threads: int = _f(1, "CPU threads for PyTorch (at most the cores this process may use); small networks "
                               "update fastest on one (0 = torch's default); on one, deepq's own MLP updates in NumPy "
                               "(deepq.fast.numpy_step)")


@dataclass(frozen=True, kw_only=True)
class EvalConfig(_Section):
    interval: int = _f(5_000, "env steps between greedy evaluations during training; 0 disables them")
    episodes: int = _f(10, "greedy episodes per evaluation (seeded, on separate environments)")
    screen_episodes: Optional[int] = _f(None, "run this many of the episodes first and the rest only if their "
                                              "mean reaches the threshold (a clearly unsolved agent costs fewer "
                                              "episodes; such an evaluation logs its eval/episodes); empty, or "
                                              ">= eval.episodes = always all")
    gate_episodes: int = _f(0, "skip an evaluation before the solve while the last N (this many) training "
                               "episodes, exploring as training plays them, are clearly below the threshold: their "
                               "mean + eval.gate_z standard errors of it is below it; 0 = evaluate at every interval")
    gate_z: float = _f(2.0, "how clearly below (eval.gate_episodes), in standard errors of the training episodes' "
                            "mean: larger = fewer evaluations skipped")
    threshold: Optional[float] = _f(None, "mean greedy return that counts as solved; empty = the env's "
                                          "reward_threshold (475 for CartPole-v1)")
    confirm_episodes: int = _f(100, "safety margin for any env: an evaluation at or above the threshold counts as "
                                  "solved only if this many more greedy episodes, on fresh reset seeds, also "
                                  "average at or above it (else training goes on); 0 = no confirmation")
    confirm_z: float = _f(1.0, "margin of the confirmation, in standard errors of its mean: it passes when "
                               "mean - confirm_z * std / sqrt(confirm_episodes) >= the threshold (2 = the agent is "
                               "solved with ~98% confidence; a margin in each env's own spread of returns)")
    confirm_z_grows: bool = _f(False, "hold a run's k-th confirmation to the one-sided level P(Z > confirm_z) / "
                                      "k^2 (z 3: 3.00, 3.40, 3.62, 3.76, ...): the more tries a run takes, the "
                                      "stricter each, so a near-threshold agent cannot pass by luck on a later try")
    stop_when_solved: bool = _f(True, "stop training at the first solved evaluation and keep that agent")
    parallel: Optional[bool] = _f(None, "play the evaluations in a second process while training goes on (the same "
                                        "results: a solve found there takes the run back to its step); empty = "
                                        "wherever it can (Linux, 2+ cores, no callbacks, the network on the CPU), "
                                        "each check while another core is free")
    target: Optional[float] = _f(None, "a better agent than solved: train on after the solve until an evaluation "
                                       "at or above this mean is confirmed as the threshold's is (eval.confirm_z), "
                                       "then stop there (with eval.stop_when_solved); empty = stop at the solve")


@dataclass(frozen=True, kw_only=True)
class LogConfig(_Section):
    progress: bool = _f(True, "show a progress bar on a terminal (plain log lines otherwise)")
    tensorboard: bool = _f(True, "write TensorBoard event files into the run directory")
    checkpoint_interval: int = _f(10_000, "env steps between checkpoints of the whole training state "
                                          "(checkpoints/latest.safetensors, what --resume continues from); "
                                          "0 = only at the end and on Ctrl-C")
    plot: bool = _f(True, "draw the learning curve into RUN/curve.png when training ends")


@dataclass(frozen=True, kw_only=True)
class Config:
    seed: int = _f(0, "seed for networks, exploration, replay sampling and environment resets")
    env: EnvConfig = field(default_factory=EnvConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        validate(self)

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        return _build(cls, data, prefix="")

    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))

    def replace(self, **overrides: Any) -> "Config":
        """A copy with dotted-key overrides applied, e.g. `cfg.replace(**{"learner.lr": 1e-3})`."""
        return Config.from_dict(apply_overrides(self.to_dict(), overrides))

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        return cls.from_dict(read_yaml(path))

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        data = self.to_dict()
        if extra:
            data = {**data, **extra}
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


# --- validation -------------------------------------------------------------------------------------------

def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


# Bounds on sizes that become live objects (environments, threads): far above any sensible value, far below what
# turns into a MemoryError traceback or a crash inside a library (issue 14: torch_threads=100000 segfaulted).
MAX_ENVS = 4096
MAX_EVAL_EPISODES = 10_000
MAX_THREADS = 1024


def validate(cfg: Config) -> None:
    """Range and consistency checks; each failure names the key and the fix."""
    _check(0 <= cfg.seed < 2**63, "seed", f"must be in [0, 2**63), got {cfg.seed}")  # PyTorch takes 64 bits
    _check(bool(cfg.env.id.strip()), "env.id", "is empty; give a Gymnasium id such as CartPole-v1")
    _check(1 <= cfg.env.num_envs <= MAX_ENVS, "env.num_envs",
           f"must be in [1, {MAX_ENVS}] (each is a live environment), got {cfg.env.num_envs}")
    _check(cfg.env.max_episode_steps is None or cfg.env.max_episode_steps >= 1, "env.max_episode_steps",
           f"must be >= 1 or empty, got {cfg.env.max_episode_steps}")
    for path in cfg.env.wrappers:
        _check(path.count(":") == 1 and all(path.split(":")), "env.wrappers",
               f"{path!r} is not of the form module:Class (e.g. gymnasium.wrappers:FlattenObservation)")
    _check(len(cfg.network.hidden_sizes) >= 1 and all(h >= 1 for h in cfg.network.hidden_sizes),
           "network.hidden_sizes", f"needs one or more positive layer sizes, got {list(cfg.network.hidden_sizes)}")
    _check(cfg.replay.capacity >= 1, "replay.capacity", f"must be >= 1, got {cfg.replay.capacity}")
    _check(cfg.replay.batch_size >= 1, "replay.batch_size", f"must be >= 1, got {cfg.replay.batch_size}")
    _check(cfg.replay.batch_size <= cfg.replay.capacity, "replay.batch_size",
           f"{cfg.replay.batch_size} is larger than replay.capacity={cfg.replay.capacity}; "
           "lower the batch or raise the capacity")
    rp = cfg.replay
    _check(rp.n_step >= 1, "replay.n_step", f"must be >= 1 (1 = one-step TD), got {rp.n_step}")
    _check(rp.alpha >= 0.0, "replay.alpha", f"must be >= 0 (0 = uniform), got {rp.alpha}")
    _check(0.0 <= rp.beta_start <= 1.0, "replay.beta_start", f"must be in [0, 1], got {rp.beta_start}")
    _check(rp.beta_steps is None or rp.beta_steps >= 1, "replay.beta_steps",
           f"must be >= 1 or empty (= train.total_steps), got {rp.beta_steps}")
    _check(rp.priority_eps > 0.0, "replay.priority_eps", f"must be > 0, got {rp.priority_eps}")
    _check(rp.temperature > 0.0, "replay.temperature", f"must be > 0, got {rp.temperature}")
    _check(rp.sort_interval >= 0, "replay.sort_interval", f"must be >= 0 (0 = never sort), got {rp.sort_interval}")
    _check(rp.kind != "none" or cfg.train.train_freq == 1, "train.train_freq",
           f"replay.kind=none learns once per env step from the newest transitions; set train.train_freq=1 "
           f"(got {cfg.train.train_freq})")
    _check(rp.storage != "frames" or rp.kind in ("uniform", "prioritized"), "replay.storage",
           f"frames works with replay.kind uniform or prioritized, not {rp.kind}; use replay.storage=transitions")
    _check(cfg.env.action_repeat >= 1, "env.action_repeat", f"must be >= 1 (1 = none), got {cfg.env.action_repeat}")
    _check(cfg.env.frame_stack >= 1, "env.frame_stack", f"must be >= 1, got {cfg.env.frame_stack}")
    _check(cfg.env.noop_max >= 0, "env.noop_max", f"must be >= 0, got {cfg.env.noop_max}")
    sticky = cfg.env.sticky_actions
    _check(sticky is None or 0.0 <= sticky <= 1.0, "env.sticky_actions", f"must be in [0, 1] or empty, got {sticky}")
    ex = cfg.exploration
    for key, value in (("start", ex.start), ("end", ex.end)):
        _check(0.0 <= value <= 1.0, f"exploration.{key}", f"must be in [0, 1], got {value}")
    _check(ex.duration >= 1, "exploration.duration", f"must be >= 1, got {ex.duration}")
    _check(0.0 < ex.decay <= 1.0, "exploration.decay", f"must be in (0, 1], got {ex.decay}")
    _check(cfg.target.update_interval >= 1, "target.update_interval", f"must be >= 1, got {cfg.target.update_interval}")
    _check(0.0 < cfg.target.tau <= 1.0, "target.tau", f"must be in (0, 1], got {cfg.target.tau}")
    ln = cfg.learner
    _check(0.0 <= ln.gamma <= 1.0, "learner.gamma", f"must be in [0, 1], got {ln.gamma}")
    _check(ln.lr > 0.0, "learner.lr", f"must be > 0, got {ln.lr}")
    _check(ln.lr_end is None or ln.lr_end >= 0.0, "learner.lr_end", f"must be >= 0 or empty, got {ln.lr_end}")
    _check(ln.lr_decay_from == "start" or ln.lr_end is not None, "learner.lr_decay_from",
           f"{ln.lr_decay_from} needs learner.lr_end, the rate to fall to (e.g. learner.lr_end=0)")
    _check(ln.huber_delta > 0.0, "learner.huber_delta", f"must be > 0, got {ln.huber_delta}")
    _check(ln.max_grad_norm >= 0.0, "learner.max_grad_norm", f"must be >= 0 (0 disables), got {ln.max_grad_norm}")
    _check(ln.q_regularization >= 0.0, "learner.q_regularization",
           f"must be >= 0 (0 disables), got {ln.q_regularization}")
    _check(ln.q_regularization == 0.0 or ln.objective == "td", "learner.q_regularization",
           f"applies to learner.objective=td only; set it to 0 with learner.objective={ln.objective}")
    _check(ln.v_min < ln.v_max, "learner.v_min", f"must be below learner.v_max, got {ln.v_min} >= {ln.v_max}")
    _check(ln.atoms >= 2, "learner.atoms", f"must be >= 2, got {ln.atoms}")
    _check(ln.quantiles >= 1, "learner.quantiles", f"must be >= 1, got {ln.quantiles}")
    _check(ln.hl_sigma > 0.0, "learner.hl_sigma", f"must be > 0 (in bin widths; 0.75 is usual), got {ln.hl_sigma}")
    nonflat = [key for key, on in (("learner.objective=qr", ln.objective == "qr"),
                                   ("network.noisy", cfg.network.noisy)) if on]
    _check(ln.backend != "flat" or not nonflat, "learner.backend",
           f"flat trains TD, C51 and HL-Gauss on deepq's plain MLP only, not with {', '.join(nonflat)}; use "
           "learner.backend=auto (or autograd)")
    tr = cfg.train
    _check(tr.total_steps >= 1, "train.total_steps", f"must be >= 1, got {tr.total_steps}")
    _check(tr.learning_starts >= 0, "train.learning_starts", f"must be >= 0, got {tr.learning_starts}")
    _check(tr.learning_starts < tr.total_steps, "train.learning_starts",
           f"{tr.learning_starts} is not below train.total_steps={tr.total_steps}: no gradient step would run")
    _check(tr.train_freq >= 1, "train.train_freq", f"must be >= 1, got {tr.train_freq}")
    _check(tr.gradient_steps >= 1, "train.gradient_steps", f"must be >= 1, got {tr.gradient_steps}")
    _check(tr.device == "auto" or tr.device == "cpu" or tr.device.startswith("cuda"), "train.device",
           f"must be cpu, cuda, cuda:N or auto, got {tr.device!r}")
    _check(0 <= tr.torch_threads <= MAX_THREADS, "train.torch_threads",
           f"must be in [0, {MAX_THREADS}] (0 = torch's default; this machine has {os.cpu_count()} cores), "
           f"got {tr.torch_threads}")
    _check(cfg.eval.interval >= 0, "eval.interval", f"must be >= 0, got {cfg.eval.interval}")
    _check(1 <= cfg.eval.episodes <= MAX_EVAL_EPISODES, "eval.episodes",
           f"must be in [1, {MAX_EVAL_EPISODES}] (each is a live environment), got {cfg.eval.episodes}")
    _check(0 <= cfg.eval.gate_episodes <= 10_000, "eval.gate_episodes",
           f"must be in [0, 10000] (0 = off), got {cfg.eval.gate_episodes}")
    _check(cfg.eval.gate_z >= 0, "eval.gate_z", f"must be >= 0, got {cfg.eval.gate_z}")
    screen = cfg.eval.screen_episodes
    _check(screen is None or screen >= 1, "eval.screen_episodes", f"must be >= 1 or empty, got {screen}")
    _check(cfg.eval.confirm_episodes >= 0, "eval.confirm_episodes",
           f"must be >= 0 (0 = no confirmation), got {cfg.eval.confirm_episodes}")
    _check(cfg.eval.confirm_z >= 0.0, "eval.confirm_z", f"must be >= 0, got {cfg.eval.confirm_z}")
    _check(cfg.eval.target is None or math.isfinite(cfg.eval.target), "eval.target",
           f"must be a finite number or empty, got {cfg.eval.target}")
    _check(cfg.log.checkpoint_interval >= 0, "log.checkpoint_interval",
           f"must be >= 0, got {cfg.log.checkpoint_interval}")


# --- dict <-> dataclass with type coercion ----------------------------------------------------------------

def check_fields(obj: Any) -> None:
    """Coerce every field of a section (or the Config) in place to its declared type, or raise a ConfigError
    naming the key; a section-valued field must hold that section."""
    prefix = "" if isinstance(obj, Config) else f"{_section_name(type(obj))}."
    hints = _type_hints(type(obj))
    for f in fields(obj):
        value, tp, key = getattr(obj, f.name), hints[f.name], f"{prefix}{f.name}"
        if _is_section(tp):
            if not isinstance(value, tp):
                raise ConfigError(f"{key}: expected a deepq.config.schema.{tp.__name__}, got {type(value).__name__}")
            continue
        coerced = coerce(value, tp, key)
        choices = f.metadata.get("choices")
        if choices and coerced not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(choices)}; got {coerced!r}")
        if coerced is not value:
            object.__setattr__(obj, f.name, coerced)


@functools.lru_cache(maxsize=None)
def _section_name(cls: type) -> str:
    hints = _type_hints(Config)
    return next((f.name for f in fields(Config) if hints[f.name] is cls), cls.__name__)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _type_hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    hints = _type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known keys: {', '.join(names)}"
            raise ConfigError(f"unknown config key {prefix}{key}{hint}")
        tp = hints[key]
        if _is_section(tp):
            kwargs[key] = _build(tp, value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = coerce(value, tp, f"{prefix}{key}")
            choices = next(f for f in fields(cls) if f.name == key).metadata.get("choices")
            if choices and kwargs[key] not in choices:
                raise ConfigError(f"{prefix}{key}: must be one of {', '.join(choices)}; got {kwargs[key]!r}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the name check above
        raise ConfigError(f"{where}: {exc}") from None


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the field's declared type, or raise a one-line ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return coerce(value, args[0], key)
    if origin is dict or tp is dict:
        if isinstance(value, str):
            try:
                from deepq.config.sources import load_yaml

                value = load_yaml(value, key) if value.strip() else {}
            except (yaml.YAMLError, ConfigError):
                raise ConfigError(f"{key}: expected a mapping such as {{\"size\": 7}}; got {value!r}") from None
        value = {} if value is None else value
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{key}: expected a mapping of names to values such as {{\"size\": 7}}; got {value!r}")
        _check_plain(value, key)
        return _to_plain(value)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list such as 64,64; got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(coerce(v, inner, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip().replace("_", "")
            try:
                return int(text)  # exact, however many digits
            except ValueError:
                pass
            number = _float_or_none(text)  # 1e5 (YAML reads it as a string)
            if number is not None and number.is_integer():
                return int(number)
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = _float_or_none(value)
        elif isinstance(value, str):
            number = _float_or_none(value.strip().replace("_", ""))
        if number is None:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(number):  # a NaN or inf hyperparameter only ever turns the weights into NaN
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def _check_plain(value: Any, key: str) -> None:
    """Only what YAML writes and reads back the same (config.yaml must rebuild the run): no arrays or objects."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, f"{key}.{k}")
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(v, key)
    elif value is not None and type(value) not in (str, int, float, bool):
        raise ConfigError(f"{key}: must be a plain value (number, string, true/false, list or mapping), got a "
                          f"{type(value).__module__}.{type(value).__name__}; pass objects through an env factory")


def _float_or_none(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (ValueError, OverflowError):  # not a number, or an int too large for a float
        return None


def _to_plain(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _to_plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_to_plain(v) for v in data]
    return data


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """Nested config dict -> {dotted key: value}, e.g. {"learner": {"lr": 1e-3}} -> {"learner.lr": 1e-3}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """Set dotted keys (`learner.lr`) in a nested dict; unknown keys are caught by `Config.from_dict`."""
    data = _to_plain(data)
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                free = dotted.startswith("env.kwargs.")  # env.kwargs.size=7: the mapping's keys are free
                if child is not None or (part not in _section_names() and not free):
                    raise ConfigError(f"unknown config key {dotted}; run `deepq train --help` for the list")
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return data


def _section_names() -> set[str]:
    return {f.name for f in fields(Config) if _is_section(_type_hints(Config)[f.name])}


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is read as YAML (so 64,64 / true / 1e-3 all work)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value; write e.g. learner.lr=0.001")
    key, raw = text.split("=", 1)
    if "&" in raw or "*" in raw:  # anchors and aliases: expanded within bounds, or one line
        from deepq.config.sources import load_yaml

        return key.strip(), load_yaml(raw, f"override {key.strip()}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def read_yaml(path: str | Path) -> dict:
    """A YAML file's top-level mapping, read within bounds (size, depth, alias expansion: deepq.config.sources)."""
    from deepq.config.sources import read_yaml_file  # sources imports this module

    return read_yaml_file(path)


# --- presets ----------------------------------------------------------------------------------------------

def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str, _seen: tuple[str, ...] = ()) -> dict:
    """A preset's values; a preset may name a `base` preset whose values it overrides (the MinAtar games)."""
    name = preset_file_name(name)
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f"did you mean {close[0]}?" if close else f"available: {', '.join(preset_names())}"
        raise ConfigError(f"unknown preset {name!r}; {hint}")
    if name in _seen:
        raise ConfigError(f"preset {name!r} names itself as a base (through {' -> '.join(_seen)})")
    data = read_yaml(path)
    data.pop("description", None)
    base = data.pop("base", None)
    return _deep_merge(load_preset(base, _seen + (name,)), data) if base else data


def preset_file_name(name: str) -> str:
    """Preset files are named after their env id, with '/' (a namespace: MinAtar/Breakout-v1) as '-'."""
    return name.replace("/", "-")


# Environment families with one shared preset when no file is named after the id: (id matches, preset)
FAMILY_PRESETS = ((lambda name: name.startswith("ALE/") or name.endswith("NoFrameskip-v4"), "atari"),
                  (lambda name: name.startswith("MinAtar/"), "minatar"))


def default_preset_for(env_id: str) -> Optional[str]:
    """The tuned preset shipped for this environment id, if any (file named after the id), else its family's."""
    if (PRESET_DIR / f"{preset_file_name(env_id)}.yaml").is_file():
        return env_id
    name = env_id.rpartition(":")[2]
    return next((preset for matches, preset in FAMILY_PRESETS if matches(name)), None)


def resolve(env_id: Optional[str] = None, preset: Optional[str] = None, config_file: Optional[str] = None,
            overrides: Optional[dict[str, Any]] = None, seed: Optional[int] = None) -> Config:
    """Layer, lowest first: code defaults < preset (the env's tuned one by default) < file < overrides < args."""
    file_data = read_yaml(config_file) if config_file else {}
    file_data.pop("versions", None)  # a run's saved config.yaml is a valid --config
    wanted_env = env_id if env_id is not None else (file_data.get("env") or {}).get("id") or EnvConfig.id
    preset = preset or default_preset_for(wanted_env)
    data: dict = load_preset(preset) if preset and preset != NO_PRESET else {}
    data = _deep_merge(data, file_data)
    data = apply_overrides(data, overrides or {})
    if env_id is not None:
        data = apply_overrides(data, {"env.id": env_id})
    if seed is not None:
        data = apply_overrides(data, {"seed": seed})
    return Config.from_dict(data)


def _deep_merge(base: dict, top: dict) -> dict:
    out = _to_plain(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = _to_plain(value)
    return out


def help_rows() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every hyperparameter, in declaration order."""
    rows = []

    def walk(cls: type, prefix: str, instance: Any) -> None:
        hints = _type_hints(cls)
        for f in fields(cls):
            value = getattr(instance, f.name)
            if _is_section(hints[f.name]):
                walk(hints[f.name], f"{prefix}{f.name}.", value)
            else:
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
                choices = f.metadata.get("choices")
                text = f.metadata["help"] + (f" [{'|'.join(choices)}]" if choices else "")
                rows.append((f"{prefix}{f.name}", "" if shown is None else str(shown), text))

    walk(Config, "", Config())
    return rows
