"""Where each value of a resolved config comes from: code default, preset, --config file, key=value, --env/--seed.

`deepq train --help` shows every hyperparameter with the value the run would use and its source, for the
`--env`, `--preset`, `--config` and key=value given with it; `deepq train ... --print-config` prints the resolved
config itself. The layering is `schema.resolve`'s, lowest first: code defaults < preset < file < overrides < args.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from deepq.config.schema import (NO_PRESET, Config, EnvConfig, apply_overrides, default_preset_for, flatten,
                                 help_rows, load_preset, read_yaml, resolve)
from deepq.errors import ConfigError


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


# --- reading YAML safely ------------------------------------------------------------------------------------------
# yaml.safe_load runs no code, but a 1 KB file of nested aliases ("billion laughs") expands to billions of nodes in
# whatever walks the result, an alias inside its own anchor makes a cycle, and a deeply nested list exhausts the
# stack. The file's events are checked first, in one pass without recursion, against these bounds (issue 14).
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64  # nested mappings and lists; a config has 3
MAX_YAML_NODES = 100_000  # nodes once every alias is expanded


def read_yaml_file(path: str | Path) -> dict:
    """A YAML file's top-level mapping (as `schema.read_yaml`), refused in one line when it is missing, binary,
    too large, too deep, self-referencing or expanding past MAX_YAML_NODES nodes, or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; give the path to a YAML file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror or exc})") from None
    data = load_yaml(raw, f"config file {path}") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def load_yaml(text: str | bytes, where: str = "the YAML text") -> Any:
    """`yaml.safe_load` within the bounds above; anything else is a one-line ConfigError naming `where`."""
    if isinstance(text, bytes):
        if len(text) > MAX_YAML_BYTES:
            raise ConfigError(f"{where} is larger than {MAX_YAML_BYTES} bytes; a config is a few KB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not a text file (not UTF-8); give a YAML file") from None
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_YAML_BYTES} bytes; a config is a few KB")
    if "\x00" in text:
        raise ConfigError(f"{where} is not a text file (it holds NUL bytes); give a YAML file")
    try:
        _check_events(text, where)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where} is not valid YAML{at}; fix the syntax") from None


def _check_events(text: str, where: str) -> None:
    """Walk the parser's events (iteratively) to bound nesting depth and the size with aliases expanded."""
    sizes: dict[str, int] = {}  # anchor -> nodes of its value, expanded
    open_nodes: list[list] = []  # [anchor, nodes so far] of each mapping or list being read
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            if len(open_nodes) > MAX_YAML_DEPTH:
                raise ConfigError(f"{where} nests deeper than {MAX_YAML_DEPTH} levels; a config has 3")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, nodes = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if any(event.anchor == a for a, _ in open_nodes):
                raise ConfigError(f"{where} has an alias (*{event.anchor}) inside its own anchor: it refers to "
                                  "itself; write the value out")
            anchor, nodes = None, sizes.get(event.anchor, 1)  # an undefined alias: the loader says so
        else:
            continue
        if anchor is not None:
            sizes[anchor] = nodes
        if open_nodes:
            open_nodes[-1][1] += nodes
        if nodes + sum(n for _, n in open_nodes) > MAX_YAML_NODES:  # the document so far, aliases expanded
            raise ConfigError(f"{where} expands to more than {MAX_YAML_NODES} values (aliases of aliases?); a "
                              "config has about a hundred")
