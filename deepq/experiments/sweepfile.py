"""The sweep file: which configs a sweep trains, each on every seed.

    base:                                 # what every config starts from (all keys optional)
      env: CartPole-v1                    #   environment id (default: the preset's or CartPole-v1)
      preset: CartPole-v1                 #   named preset (default: the env's tuned one)
      config: my.yaml                     #   a --config file, relative to the sweep file
      overrides: {train.total_steps: 30000}   # dotted keys, as key=value on the command line
    seeds: [0, 1, 2]                      # or "0-4"; every config trains on every seed (default [0])
    grid:                                 # every combination of these values
      learner.double: [true, false]
      target.update_interval: [100, 500]
    random:                               # configs drawn at random, each crossed with every grid point
      samples: 8
      seed: 0                             # seeds the draw, so the same file always means the same configs
      space:
        learner.lr: {loguniform: [1e-4, 1e-2]}
        learner.gamma: {uniform: [0.95, 0.999]}
        replay.batch_size: {randint: [32, 256]}    # both ends included
        network.hidden_sizes: {choice: [[64, 64], [128, 128]]}
    max_failures: 2                       # retries of a crashed trial before it counts as failed

The configs are drawn here, once, rather than by Ray Tune's samplers: Tune draws a fresh value per trial, and a
comparison across seeds needs every seed of a config to share the same values. Every config is resolved and
validated before anything runs, so a bad key or value is a one-line error, not a crashed trial.
"""

from __future__ import annotations

import difflib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from deepq.config.schema import read_yaml, resolve
from deepq.errors import ConfigError, DeepQError

KEYS = ("base", "seeds", "grid", "random", "optuna", "max_failures")
OPTUNA_KEYS = ("samples", "seed", "pruner", "space")
PRUNERS = ("median", "asha", "none")
BASE_KEYS = ("env", "preset", "config", "overrides")
RANDOM_KEYS = ("samples", "seed", "space")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")


@dataclass(frozen=True)
class SweepConfig:
    """One point of the sweep: its id, the swept values that define it and the full resolved config."""

    config_id: int
    values: dict  # dotted key -> value, only the swept keys
    config: dict  # Config.to_dict(), seed excluded (each trial sets its own)

    @property
    def name(self) -> str:
        return f"config-{self.config_id:02d}"


@dataclass(frozen=True)
class SweepPlan:
    configs: list[SweepConfig]
    seeds: list[int]
    swept_keys: list[str]
    max_failures: int
    warnings: list = field(default_factory=list)  # swept keys without effect (no_effect_warnings)
    optuna: Optional[dict] = None  # an Optuna search (samples, seed, pruner, space) instead of fixed configs
    base: dict = field(default_factory=dict)  # how a config is resolved: env, preset, config (path), overrides

    def to_json(self) -> dict:
        """What a resumed sweep must match: every config in full, and the seeds."""
        data = {"seeds": self.seeds, "max_failures": self.max_failures,
                "configs": [{"id": c.config_id, "values": c.values, "config": c.config} for c in self.configs]}
        if self.optuna is not None:
            data["optuna"] = {k: v for k, v in self.optuna.items() if k != "draws"}
        return data

    def resolve_values(self, values: dict) -> dict:
        """The full config (Config.to_dict(), seed excluded) of the base with `values` (dotted keys) applied."""
        cfg = resolve(env_id=self.base.get("env"), preset=self.base.get("preset"), config_file=self.base.get("config"),
                      overrides={**self.base.get("overrides", {}), **values, "train.torch_threads": 1})
        config = cfg.to_dict()
        config.pop("seed")
        return config


def load_sweep(path: str | Path) -> SweepPlan:
    path = Path(path)
    data = read_yaml(path)
    where = f"sweep file {path}"
    _known(data, KEYS, where)
    base = _mapping(data.get("base"), f"{where}: base")
    _known(base, BASE_KEYS, f"{where}: base")
    overrides = _mapping(base.get("overrides"), f"{where}: base.overrides")
    config_file = base.get("config")
    if config_file is not None:
        config_file = str((path.parent / str(config_file)))
    seeds = _seeds(data.get("seeds", [0]), where)
    grid = _mapping(data.get("grid"), f"{where}: grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise DeepQError(f"{where}: grid.{key} must be a non-empty list of values, e.g. [0.001, 0.0025]")
    samples = _random_samples(data.get("random"), where)
    optuna = _optuna_spec(data.get("optuna"), where)
    if optuna is not None and (grid or samples):
        raise DeepQError(f"{where}: an optuna section searches the space itself; drop grid and random (or optuna)")
    _no_seed_key([*grid, *(samples[0] if samples else {})], where)
    both = [key for key in grid if samples and key in samples[0]]
    if both:
        raise DeepQError(f"{where}: {both[0]} is both in grid and in random.space; sweep each key one way")
    max_failures = data.get("max_failures", 2)
    if not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < 0:
        raise DeepQError(f"{where}: max_failures must be a whole number >= 0, got {max_failures!r}")

    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if samples:
        points = [{**point, **sample} for point in points for sample in samples]
    if optuna is not None:
        points = optuna.pop("draws")  # each end of every range, to validate before Ray starts; not trained
    configs = []
    for config_id, values in enumerate(points):
        try:
            # One thread per trial: each trial holds one CPU of the Ray cluster.
            cfg = resolve(env_id=base.get("env"), preset=base.get("preset"), config_file=config_file,
                          overrides={**overrides, **values, "train.torch_threads": 1})
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "the base config"
            raise DeepQError(f"{where}: {shown}: {exc}") from None
        config = cfg.to_dict()
        config.pop("seed")
        # The values as the config typed them: YAML reads 1e-3 as a string, the config as the number 0.001.
        configs.append(SweepConfig(config_id, {key: _lookup(config, key) for key in values}, config))
    swept = list(dict.fromkeys([*grid, *(samples or [{}])[0], *((optuna or {}).get("space") or {})]))
    base_spec = {"env": base.get("env"), "preset": base.get("preset"), "config": config_file, "overrides": overrides}
    return SweepPlan(configs=[] if optuna else configs, seeds=seeds, swept_keys=swept, max_failures=max_failures,
                     warnings=no_effect_warnings(swept, configs), optuna=optuna, base=base_spec)


def _optuna_spec(value: Any, where: str) -> Optional[dict]:
    """The optuna section: {samples, seed, pruner, space (as written), draws (configs to validate now)}."""
    if value is None:
        return None
    spec = _mapping(value, f"{where}: optuna")
    _known(spec, OPTUNA_KEYS, f"{where}: optuna")
    samples, seed, pruner = spec.get("samples"), spec.get("seed", 0), spec.get("pruner", "median")
    for key, number, low in (("samples", samples, 1), ("seed", seed, 0)):
        if not isinstance(number, int) or isinstance(number, bool) or number < low:
            raise DeepQError(f"{where}: optuna.{key} must be a whole number >= {low}, got {number!r}")
    if pruner not in PRUNERS:
        raise DeepQError(f"{where}: optuna.pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    space = _mapping(spec.get("space"), f"{where}: optuna.space")
    if not space:
        raise DeepQError(f"{where}: optuna.space is empty; give e.g. learner.lr: {{loguniform: [1.0e-4, 1.0e-2]}}")
    _no_seed_key(list(space), where)
    for key, dist in space.items():
        _check_distribution(key, dist, where, "optuna.space")
    ends = [{key: _end(dist, i) for key, dist in space.items()} for i in (0, -1)]
    return {"samples": samples, "seed": seed, "pruner": pruner, "space": space, "draws": ends}


def _end(dist: dict, i: int) -> Any:
    kind, args = next(iter(dist.items()))
    value = args[i] if kind == "choice" else _number(args[i])
    return int(value) if kind == "randint" else value


# A key that only matters under a setting: (key, the setting's key, the values under which it acts).
ONLY_UNDER = {
    "target.update_interval": ("target.kind", ("hard",)),
    "target.tau": ("target.kind", ("soft",)),
    "learner.double": ("target.kind", ("hard", "soft")),  # no target: one network chooses and values the next action
    "replay.alpha": ("replay.kind", ("prioritized",)),
    "replay.beta_start": ("replay.kind", ("prioritized",)),
    "replay.beta_steps": ("replay.kind", ("prioritized",)),
    "replay.priority_eps": ("replay.kind", ("prioritized",)),
    "replay.temperature": ("replay.kind", ("loss_softmax",)),
    "replay.sort_interval": ("replay.kind", ("loss_softmax",)),
    "exploration.duration": ("exploration.schedule", ("linear",)),
    "exploration.decay": ("exploration.schedule", ("exponential",)),
    "learner.huber_delta": ("learner.loss", ("huber",)),
    "eval.screen_episodes": ("eval.interval", None),  # any interval but 0
}


def no_effect_warnings(swept: list[str], configs: list[SweepConfig]) -> list[str]:
    """One line per swept key that has no effect in some of the configs (e.g. target.update_interval under a soft
    target): those configs differ in name only, and their seeds are spent twice on the same experiment."""
    lines = []
    for key in swept:
        if key not in ONLY_UNDER:
            continue
        setting, acting = ONLY_UNDER[key]
        idle = [c for c in configs if (_lookup(c.config, setting) == 0 if acting is None
                                       else _lookup(c.config, setting) not in acting)]
        if not idle:
            continue
        values = sorted({str(_lookup(c.config, setting)) for c in idle})
        where = "in every config" if len(idle) == len(configs) else f"in {len(idle)} of {len(configs)} configs"
        needs = "a non-zero eval.interval" if acting is None else f"{setting}={'|'.join(acting)}"
        lines.append(f"warning: {key} is swept but has no effect {where} ({setting}={', '.join(values)}; it acts "
                     f"only with {needs}): those configs train alike")
    return lines


def _lookup(config: dict, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _number(value: Any) -> Any:
    """A YAML bound as a number: PyYAML reads 1e-4 (no dot) as a string."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _known(data: dict, allowed: tuple, where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(allowed)}"
            raise DeepQError(f"{where}: unknown key {key!r}; {hint}")


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeepQError(f"{where} must be a mapping of keys to values, got {value!r}")
    return value


def _seeds(value: Any, where: str) -> list[int]:
    from deepq.experiments.multiseed import parse_seeds

    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        value = ",".join(map(str, value))
    if not isinstance(value, str):
        raise DeepQError(f"{where}: seeds must be a list of whole numbers or a range like 0-4, got {value!r}")
    try:
        return parse_seeds(value)
    except DeepQError as exc:
        raise DeepQError(f"{where}: {str(exc).replace('--seeds', 'seeds')}") from None


def _no_seed_key(keys: list, where: str) -> None:
    if "seed" in keys:
        raise DeepQError(f"{where}: the seed is not a hyperparameter to sweep; list the seeds under `seeds:`")


def _random_samples(value: Any, where: str) -> list[dict]:
    """The random configs, drawn once from a generator seeded by `random.seed`."""
    if value is None:
        return []
    spec = _mapping(value, f"{where}: random")
    _known(spec, RANDOM_KEYS, f"{where}: random")
    samples, seed = spec.get("samples"), spec.get("seed", 0)
    for key, number in (("samples", samples), ("seed", seed)):
        if not isinstance(number, int) or isinstance(number, bool) or number < (1 if key == "samples" else 0):
            raise DeepQError(f"{where}: random.{key} must be a whole number >= {1 if key == 'samples' else 0}, "
                             f"got {number!r}")
    space = _mapping(spec.get("space"), f"{where}: random.space")
    if not space:
        raise DeepQError(f"{where}: random.space is empty; give e.g. learner.lr: {{loguniform: [1.0e-4, 1.0e-2]}}")
    draws = {key: _check_distribution(key, dist, where) for key, dist in space.items()}
    rng = np.random.default_rng(seed)
    return [{key: draw(rng) for key, draw in draws.items()} for _ in range(samples)]


def _check_distribution(key: str, dist: Any, where: str, section: str = "random.space"):
    """A function rng -> value (a plain Python number or item), or a one-line error naming the key."""
    at = f"{where}: {section}.{key}"
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise DeepQError(f"{at} must be one of {{uniform|loguniform|randint: [low, high]}} or "
                         f"{{choice: [values]}}, got {dist!r}")
    kind, args = next(iter(dist.items()))
    if kind != "choice" and isinstance(args, list):
        args = [_number(a) for a in args]
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise DeepQError(f"{at}: choice needs a non-empty list of values")
        return lambda rng: args[int(rng.integers(len(args)))]
    numbers = isinstance(args, list) and len(args) == 2 and all(
        isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    if not numbers or not args[0] < args[1]:
        raise DeepQError(f"{at}: {kind} needs [low, high] with low < high, got {args!r}")
    low, high = args
    if kind == "uniform":
        return lambda rng: float(rng.uniform(low, high))
    if kind == "loguniform":
        if low <= 0:
            raise DeepQError(f"{at}: loguniform needs low > 0, got {low}")
        return lambda rng: float(math.exp(rng.uniform(math.log(low), math.log(high))))
    if not all(isinstance(a, int) for a in args):
        raise DeepQError(f"{at}: randint needs whole-number bounds, got {args!r}")
    return lambda rng: int(rng.integers(low, high + 1))
