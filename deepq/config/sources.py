"""Where each value of a resolved config comes from: code default, preset, --config file, key=value, --env/--seed.

`deepq train --help` shows every hyperparameter with the value the run would use and its source, for the
`--env`, `--preset`, `--config` and key=value given with it; `deepq train ... --print-config` prints the resolved
config itself. The layering is `schema.resolve`'s, lowest first: code defaults < preset < file < overrides < args.
"""

from __future__ import annotations

from typing import Any, Optional

from deepq.config.schema import (NO_PRESET, Config, EnvConfig, apply_overrides, default_preset_for, flatten,
                                 help_rows, load_preset, read_yaml, resolve)


def resolve_with_sources(env_id: Optional[str] = None, preset: Optional[str] = None,
                         config_file: Optional[str] = None, overrides: Optional[dict[str, Any]] = None,
                         seed: Optional[int] = None) -> tuple[Config, dict[str, str]]:
    """(the config `resolve` builds from these arguments, {dotted key: source}) with sources `code default`,
    `preset NAME`, `--config FILE`, `key=value`, `--env` or `--seed`."""
    cfg = resolve(env_id=env_id, preset=preset, config_file=config_file, overrides=overrides, seed=seed)
    file_data = read_yaml(config_file) if config_file else {}
    file_data.pop("versions", None)
    wanted_env = env_id or (file_data.get("env") or {}).get("id") or EnvConfig.id
    name = preset or default_preset_for(wanted_env)
    layers: list[tuple[str, dict]] = []
    if name and name != NO_PRESET:
        layers.append((f"preset {name}", flatten(load_preset(name))))
    if config_file:
        layers.append((f"--config {config_file}", flatten(file_data)))
    if overrides:
        layers.append(("key=value", flatten(apply_overrides({}, overrides))))
    if env_id:
        layers.append(("--env", {"env.id": env_id}))
    if seed is not None:
        layers.append(("--seed", {"seed": seed}))
    sources = {key: "code default" for key in leaf_values(cfg)}
    for label, values in layers:
        for key in values:
            leaf = _leaf_of(key, sources)
            if leaf is not None:
                sources[leaf] = label
    return cfg, sources


def leaf_values(cfg: Config) -> dict[str, Any]:
    """{dotted key: value} for every hyperparameter, as `help_rows` lists them (a mapping such as env.kwargs is one
    value, not a section)."""
    data = cfg.to_dict()
    values = {}
    for key, _, _ in help_rows():
        node: Any = data
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


def _leaf_of(key: str, leaves: dict) -> Optional[str]:
    """The hyperparameter a layer's flattened key sets: itself, or the mapping it is inside (env.kwargs.size)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in leaves:
            return ".".join(parts[:n])
    return None
