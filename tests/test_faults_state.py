"""Files from elsewhere (issue 14): a valid safetensors file whose JSON state is malformed, and a damaged or foreign
metrics.csv. Every reader (load_agent, evaluate, play, --resume, plot) answers with one DeepQError line."""

import copy
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepq
from deepq.checkpoint import load_checkpoint, save_checkpoint
from deepq.cli import main
from deepq.errors import DeepQError
from tiny import tiny_cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("state") / "run"
    deepq.train(tiny_cfg(**{"train.total_steps": 400, "log.checkpoint_interval": 200, "eval.interval": 0}), run,
                quiet=True)
    return run


def with_state(trained, tmp_path, change) -> tuple:
    """A copy of the run whose latest and final checkpoints hold `change(state)` as their JSON state."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for which in ("latest", "final"):
        path = run / "checkpoints" / f"{which}.safetensors"
        tensors, state = load_checkpoint(path)
        try:
            write_state(path, tensors, change(copy.deepcopy(state)))
        except KeyError:  # a change to the training state: final holds none
            pass
    return run


class RawJSON(str):
    """A state header given as JSON text (one too deep for Python's own encoder)."""


def write_state(path, tensors, state) -> None:
    if not isinstance(state, RawJSON):
        return save_checkpoint(path, tensors, state)
    from safetensors.torch import save_file

    from deepq.checkpoint import FORMAT

    save_file(tensors, str(path), metadata={"format": FORMAT, "state": str(state)})


def setter(*keys, value=None, delete=False):
    def change(state):
        node = state
        for key in keys[:-1]:
            node = node[key]
        if delete:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        return state
    return change


MALFORMED = {
    "a list": lambda s: [1, 2, 3],
    "a string": lambda s: "state",
    "a number": lambda s: 42,
    "deeply nested": lambda s: RawJSON("[" * 100_000 + "]" * 100_000),
    "deeply nested config": lambda s: RawJSON('{"spaces": {"env_id": "CartPole-v1", "n_actions": 2}, "config": '
                                              + "[" * 100_000 + "]" * 100_000 + "}"),
    "no spaces": setter("spaces", delete=True),
    "n_actions a string": setter("spaces", "n_actions", value="two"),
    "n_actions huge": setter("spaces", "n_actions", value=10**12),
    "obs_shape negative": setter("spaces", "obs_shape", value=[-4]),
    "obs_shape huge": setter("spaces", "obs_shape", value=[10**6, 10**6]),
    "obs_dtype unknown": setter("spaces", "obs_dtype", value="object"),
    "obs_low text": setter("spaces", "obs_low", value=["x", 1, 2, 3]),
    "counters a list": setter("counters", value=[1]),
    "config a string": setter("config", value="lr=1"),
    "resume a list": setter("resume", value=[]),
    "rng missing": setter("resume", "rng", delete=True),
    "rng state junk": setter("resume", "rng", "act", value={"bit_generator": "PCG64", "state": 7}),
    "env state junk": setter("resume", "env", value={"kind": "CartPoleVectorEnv", "rng": 1}),
    "loop missing": setter("resume", "loop", delete=True),
    "env_steps text": setter("resume", "loop", "counters", "env_steps", value="1e3"),
    "env_steps missing": setter("resume", "loop", "counters", "env_steps", delete=True),
    "env_steps negative": setter("resume", "loop", "counters", "env_steps", value=-5),
    "result unknown field": setter("resume", "loop", "result", "pwned", value=1),
    "result solved a string": setter("resume", "loop", "result", "solved", value="yes"),
    "loop config junk": setter("resume", "loop", "config", value={"train": [1]}),
    "metrics_bytes text": setter("resume", "loop", "metrics_bytes", value="all"),
}


def one_line_cli(capsys, *args) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (code, err)
    return err.strip()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_state_is_one_line_everywhere(trained, tmp_path, capsys, case):
    run = with_state(trained, tmp_path, MALFORMED[case])
    final = run / "checkpoints" / "final.safetensors"
    latest = run / "checkpoints" / "latest.safetensors"
    agent_only = not case.startswith(("rng", "env state", "loop", "env_steps", "result", "metrics", "resume"))
    if agent_only:
        for target in (run, final):
            with pytest.raises(DeepQError):
                deepq.load_agent(target)
        one_line_cli(capsys, "evaluate", str(final), "--episodes", "1")
        one_line_cli(capsys, "play", str(run), "--video", str(tmp_path / "v.gif"))
        assert not (tmp_path / "v.gif").exists()
    before = latest.read_bytes()
    line = one_line_cli(capsys, "train", "--resume", str(run), "train.total_steps=800", "--quiet")
    assert str(latest) in line or "config" in line, line
    assert latest.read_bytes() == before


@pytest.mark.parametrize("text", [
    b"\x00\x01\x02\xff\xfe binary",  # not text
    b"kind,env_steps,episodes,grad_steps\nepisode,ten,1,1\n",  # a non-numeric cell
    b"name,score\nalice,3\n",  # a foreign CSV
    b"",  # empty
    b"kind,env_steps,episodes,grad_steps\n\"unterminated,1,1,1\n" + b"x" * 200_000,  # a runaway quoted field
])
def test_damaged_or_foreign_metrics_csv_is_one_line_for_plot(trained, tmp_path, capsys, text):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "metrics.csv").write_bytes(text)
    line = one_line_cli(capsys, "plot", str(run), "--out", str(tmp_path / "c.png"))
    assert f"{run / 'metrics.csv'}" in line, line


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
PLACES = [(), ("spaces",), ("spaces", "n_actions"), ("spaces", "obs_shape"), ("spaces", "obs_low"),
          ("spaces", "obs_dtype"), ("counters",), ("config",), ("config", "network"), ("resume",),
          ("resume", "rng"), ("resume", "env"), ("resume", "loop"), ("resume", "loop", "counters"),
          ("resume", "loop", "result"), ("resume", "loop", "config"), ("resume", "loop", "time_s")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.sampled_from(PLACES), json_values)
def test_any_json_state_header_loads_or_is_one_deepq_error(trained, tmp_path_factory, place, value):
    """Arbitrary JSON at any place of the state: load_checkpoint and load_agent succeed or raise DeepQError."""
    path = tmp_path_factory.mktemp("h") / "x.safetensors"
    tensors, state = load_checkpoint(trained / "checkpoints" / "latest.safetensors")
    state = value if not place else setter(*place, value=value)(state)
    save_checkpoint(path, tensors, state)
    try:
        deepq.load_agent(path)
    except DeepQError as exc:
        assert "\n" not in str(exc)


# --- YAML that would eat the machine -----------------------------------------------------------------------------

def laughs(levels: int = 9) -> str:
    """The billion laughs: 9 levels of 9 aliases each, about 1 KB of text, 9^9 values expanded."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "env:\n  kwargs:\n" + "".join(f"    {line}\n" for line in lines)


HOSTILE_YAML = {
    "billion laughs": (laughs(), "expands to more than 100000 values"),
    "self-reference": ("env:\n  kwargs: &k {again: *k}\n", "inside its own anchor: it refers to itself"),
    "3000 deep": ("env:\n  kwargs: {x: " + "[" * 3000 + "]" * 3000 + "}\n", "nests deeper than 64 levels"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a text file"),
    "NUL bytes": ("seed: 1\x00\n", "is not a text file"),
    "not YAML": ("env: [1, 2\n", "is not valid YAML at line"),
}


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_config_yaml_is_one_line_and_fast(trained, tmp_path, capsys, case):
    import time

    text, message = HOSTILE_YAML[case]
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "config.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.perf_counter()
    for args in (["train", "--resume", str(run), "--quiet"], ["evaluate", str(run), "--episodes", "1"]):
        assert message in one_line_cli(capsys, *args)
    with pytest.raises(DeepQError, match=message.replace("(", r"\(")):
        deepq.load_agent(run)
    assert time.perf_counter() - started < 5


def test_env_kwargs_laughs_are_one_line(capsys):
    assert "expands to more than 100000 values" in one_line_cli(
        capsys, "train", "--env-kwargs", laughs().split("kwargs:\n", 1)[1].replace("\n    ", "\n").strip(),
        "--print-config")
