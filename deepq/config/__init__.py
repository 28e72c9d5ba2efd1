"""Configuration: the schema of every hyperparameter (`schema`), its loading and layering, and the presets
(`presets/*.yaml`). `deepq.config.resolve(...)` and `deepq.config.Config` are the public entry points."""

from deepq.config.schema import (  # noqa: F401
    PRESET_DIR, Config, EnvConfig, EvalConfig, ExplorationConfig, LearnerConfig, LogConfig, NetworkConfig,
    ReplayConfig, TargetConfig, TrainConfig, apply_overrides, coerce, default_preset_for, flatten, help_rows,
    load_preset, parse_override, preset_names, read_yaml, resolve, validate)
