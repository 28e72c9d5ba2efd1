"""Property-based tests (hypothesis): the config parser never fails other than with a one-line ConfigError, and
the replay buffers behave as a plain Python list of transitions would."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepq.config.schema import Config, ConfigError, help_rows, parse_override
from deepq.data.priority import priorities
from deepq.data.replay import LossSoftmaxReplayBuffer, PrioritizedReplayBuffer, ReplayBuffer

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = [key for key, _, _ in help_rows()]

# --- the config parser ----------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.integers(min_value=-3, max_value=200_000), st.just(10**400), st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1.0), st.text(max_size=12),
    st.sampled_from(["", "none", "true", "1e-3", "64,64", "[32]", "huber", "mse", "prioritized", "hard", "cpu",
                     "1_000", "nan", "inf", "-1", "0.5", "CartPole-v1", "linear", "step", "1e400"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))


def nest(flat: dict) -> dict:
    out: dict = {}
    for dotted, value in flat.items():
        node = out
        *sections, leaf = dotted.split(".")
        for part in sections:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def one_line_config_error_or_config(build):
    try:
        cfg = build()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        return None
    assert isinstance(cfg, Config)
    return cfg


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_config_from_random_dicts_is_a_config_or_one_line_error(flat):
    cfg = one_line_config_error_or_config(lambda: Config.from_dict(nest(flat)))
    if cfg is not None:  # a valid config survives its own round trip and holds no NaN or inf
        assert Config.from_dict(cfg.to_dict()) == cfg
        for section in cfg.to_dict().values():
            for value in section.values() if isinstance(section, dict) else [section]:
                assert not (isinstance(value, float) and not math.isfinite(value)), value


@FAST
@given(st.sampled_from(KEYS), values)
def test_any_single_value_is_a_config_or_one_line_error(key, value):
    test_config_from_random_dicts_is_a_config_or_one_line_error.hypothesis.inner_test({key: value})


@FAST
@given(st.dictionaries(st.sampled_from(KEYS + ["learner.lrr", "nope", "learner", "learner.lr.x", ""]), values,
                       max_size=4))
def test_dotted_overrides_are_a_config_or_one_line_error(flat):
    one_line_config_error_or_config(lambda: Config().replace(**flat))


@FAST
@given(st.lists(st.text(max_size=30), max_size=4))
def test_command_line_overrides_are_a_config_or_one_line_error(texts):
    def build():
        return Config().replace(**dict(parse_override(text) for text in texts))

    one_line_config_error_or_config(build)


# --- the replay buffers against a list -------------------------------------------------------------------------

OBS = 2


def transition(i: int):
    """Transition number i, recognisable in every field."""
    return (np.full(OBS, i, np.float32), i, float(i), np.full(OBS, i + 0.5, np.float32), float(i % 2),
            0.9 ** (1 + i % 3))


def add_batch(buffer, numbers):
    if not numbers:  # a vector step whose sub-envs all reset stores nothing
        empty = np.zeros((0, OBS), np.float32)
        return buffer.add(empty, np.zeros(0, np.int64), np.zeros(0, np.float32), empty, np.zeros(0, np.float32))
    obs, action, reward, next_obs, done, discount = zip(*(transition(i) for i in numbers))
    return buffer.add(np.stack(obs), np.array(action), np.array(reward, np.float32), np.stack(next_obs),
                      np.array(done, np.float32), np.array(discount, np.float32))


def stored(buffer) -> set[int]:
    return set(buffer.action[:len(buffer)].tolist())


ops = st.lists(st.one_of(st.tuples(st.just("add"), st.integers(0, 9)),
                         st.tuples(st.just("sample"), st.integers(1, 12))), max_size=25)


@FAST
@given(st.integers(1, 12), ops, st.integers(0, 2**32 - 1))
def test_uniform_buffer_matches_a_list(capacity, operations, seed):
    buffer = ReplayBuffer(capacity, (OBS,), gamma=0.9)
    model: list[int] = []  # transition numbers, oldest first; the ring keeps the newest `capacity`
    rng = np.random.default_rng(seed)
    counter = 0
    for op, n in operations:
        if op == "add":
            numbers = list(range(counter, counter + n))
            counter += n
            slots = add_batch(buffer, numbers)
            assert len(slots) == n
            model = (model + numbers)[-capacity:]
            assert len(buffer) == len(model) and buffer.pos == counter % capacity
            assert stored(buffer) == set(model)
            for slot, i in zip(slots[-capacity:], numbers[-capacity:]):  # each slot holds what was written to it
                assert buffer.action[slot] == i
        elif len(buffer):
            batch = buffer.sample(n, rng)
            assert set(batch.action.tolist()) <= set(model)
            i = batch.action
            assert np.array_equal(batch.obs[:, 0], i) and np.array_equal(batch.next_obs[:, 1], i + 0.5)
            assert np.array_equal(batch.reward, i.astype(np.float32)) and np.array_equal(batch.done, i % 2)
            assert np.allclose(batch.discount, 0.9 ** (1 + i % 3))
    copy = ReplayBuffer(capacity, (OBS,), gamma=0.9)  # and a checkpoint round trip keeps all of it
    copy.load_state_arrays(buffer.state_arrays())
    assert copy.pos == buffer.pos and stored(copy) == stored(buffer)


@FAST
@given(st.integers(1, 12), ops, st.lists(st.floats(-50, 50), min_size=12, max_size=12),
       st.integers(0, 2**32 - 1))
def test_prioritized_buffer_matches_a_list(capacity, operations, td_errors, seed):
    alpha, eps = 0.6, 1e-3
    buffer = PrioritizedReplayBuffer(capacity, (OBS,), 0.9, alpha=alpha, priority_eps=eps, beta=0.4)
    priority: dict[int, float] = {}  # slot -> priority, the reference
    max_priority = 1.0
    rng = np.random.default_rng(seed)
    counter = 0
    for op, n in operations:
        if op == "add":
            slots = add_batch(buffer, list(range(counter, counter + n)))
            counter += n
            for slot in slots:
                priority[int(slot)] = max_priority  # new transitions enter at the max priority
        elif len(buffer):
            batch = buffer.sample(n, rng)
            assert set(batch.indices.tolist()) <= set(priority) and np.all(batch.weights <= 1.0)
            td_B = np.array([td_errors[s % len(td_errors)] for s in batch.indices])  # one TD error per slot
            buffer.update_priorities(batch.indices, td_B)
            for slot, p in zip(batch.indices.tolist(), priorities(td_B, alpha, eps)):
                priority[slot] = p
                max_priority = max(max_priority, p)
        total = sum(priority.values())
        assert buffer.tree.total == pytest.approx(total, rel=1e-12)
        assert buffer.max_priority == pytest.approx(max_priority, rel=1e-12)
        if priority:
            slots = np.array(sorted(priority))
            assert np.allclose(buffer.probabilities(slots), [priority[s] / total for s in slots.tolist()])
    copy = PrioritizedReplayBuffer(capacity, (OBS,), 0.9, alpha=alpha, priority_eps=eps, beta=0.4)
    copy.load_state_arrays(buffer.state_arrays())
    assert np.array_equal(copy.tree.tree, buffer.tree.tree) and copy.max_priority == buffer.max_priority


@FAST
@given(st.integers(2, 8), st.lists(st.floats(0.0, 10.0), min_size=8, max_size=8), st.integers(0, 2**32 - 1))
def test_prioritized_sampling_frequencies_follow_the_priorities(capacity, td_errors, seed):
    buffer = PrioritizedReplayBuffer(capacity, (OBS,), 0.9, alpha=1.0, priority_eps=0.1, beta=0.4)
    slots = add_batch(buffer, list(range(capacity)))
    buffer.update_priorities(slots, np.array(td_errors[:capacity]))
    expected = (np.abs(td_errors[:capacity]) + 0.1) / np.sum(np.abs(td_errors[:capacity]) + 0.1)
    draws = np.concatenate([buffer.sample(64, np.random.default_rng(seed + k)).indices for k in range(60)])
    observed = np.bincount(draws, minlength=capacity) / len(draws)
    assert np.allclose(observed, expected, atol=0.03)  # 3840 draws: a few standard deviations at most


@FAST
@given(st.integers(2, 10), st.integers(0, 6), ops, st.integers(0, 2**32 - 1))
def test_loss_softmax_buffer_keeps_what_it_stored(capacity, sort_interval, operations, seed):
    buffer = LossSoftmaxReplayBuffer(capacity, (OBS,), 0.9, temperature=1.0, sort_interval=sort_interval)
    written: list[int] = []
    rng = np.random.default_rng(seed)
    counter = 0
    for op, n in operations:
        if op == "add":
            before = stored(buffer)
            add_batch(buffer, list(range(counter, counter + n)))
            written += list(range(counter, counter + n))
            counter += n
            assert len(buffer) == min(len(written), capacity)
            assert stored(buffer) <= before | set(written[-n:] if n else [])
        elif len(buffer):
            batch = buffer.sample(n, rng)
            assert set(batch.action.tolist()) <= stored(buffer)
            assert np.array_equal(batch.obs[:, 0], batch.action)  # rows stay whole through the sorts
            buffer.update_priorities(batch.indices, batch.action.astype(np.float64) / 10)
        if len(buffer):
            assert np.isclose(buffer.probabilities().sum(), 1.0)
    if written:
        assert written[-1] in stored(buffer)  # the newest transition is never the one overwritten


# --- YAML files and override strings, from anywhere (issue 14) ---------------------------------------------------

YAML_BITS = ["a", "b", "seed", "env", "id", "kwargs", "learner", "lr", "train", "total_steps", ":", " ", "\n", "  ",
             "-", "[", "]", "{", "}", ",", "&x", "*x", "&y", "*y", "!!binary", "!!python/object", "!!str", "'", '"',
             "#", "|", ">", "1e3", "0x10", "nan", ".inf", "~", "null", "yes", "2020-01-01", "\t", "%YAML 1.1", "---",
             "...", "\\", "é", "\x00", "\x85", "?"]
yaml_texts = st.one_of(st.text(max_size=80), st.lists(st.sampled_from(YAML_BITS), max_size=40).map("".join))


@FAST
@given(yaml_texts)
def test_any_yaml_text_loads_or_is_one_line_config_error(text):
    from deepq.config.sources import load_yaml

    try:
        load_yaml(text)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)


@FAST
@given(yaml_texts)
def test_any_run_config_yaml_is_a_config_or_one_deepq_error(tmp_path_factory, text):
    from deepq.errors import DeepQError
    from deepq.run.runs import read_run_config

    run = tmp_path_factory.mktemp("run")
    (run / "config.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(read_run_config(run), Config)
    except DeepQError as exc:
        assert str(exc) and "\n" not in str(exc)


@FAST
@given(st.lists(st.lists(st.sampled_from(list("=.,-_[]{}: '\"0123456789aelnrstx&*") + KEYS), max_size=8).map("".join),
                max_size=4))
def test_override_strings_from_anywhere_are_a_config_or_one_line_error(texts):
    """`key=value` strings built from the characters overrides are made of (the test above: any text)."""
    test_command_line_overrides_are_a_config_or_one_line_error.hypothesis.inner_test(texts)
