"""The solved check (deepq/evaluation/solved.py): the env's own threshold, confirmed on fresh episodes.

Real environments and fixed policies whose returns are known: on CartPole-v1, always pushing left ends every
episode after 8-10 steps (return 8-10); alternating left and right lasts longer.
"""

import numpy as np
import pytest

import deepq
from deepq.config.schema import Config, resolve
from deepq.evaluation.evaluate import EpisodeRunner
from deepq.evaluation.solved import (CONFIRM_SEED_LOW, confirm, confirmation_seeds, confirmation_z, is_solved,
                                     solve_threshold, worth_evaluating)
from deepq.run.metrics import read_metrics


def left(obs_NO):  # CartPole: always push left, episodes of 8-10 steps
    return np.zeros(len(obs_NO), dtype=np.int64)


def cfg_for(env_id="CartPole-v1", **overrides):
    return Config().replace(**{"env.id": env_id, **overrides})


@pytest.mark.parametrize("env_id, threshold", [("CartPole-v1", 475.0), ("CartPole-v0", 195.0),
                                               ("Acrobot-v1", -100.0), ("MountainCar-v0", -110.0)])
def test_threshold_is_the_envs_own(env_id, threshold):
    assert solve_threshold(cfg_for(env_id)) == threshold
    assert solve_threshold(cfg_for(env_id, **{"eval.threshold": 12.5})) == 12.5


def test_a_preset_for_one_env_solves_another_at_that_envs_threshold():
    """Issue 12: --preset CartPole-v1 on Acrobot could never be solved (the preset's 485 applied to every env)."""
    cfg = resolve(env_id="Acrobot-v1", preset="CartPole-v1")
    assert solve_threshold(cfg) == -100.0


def test_no_shipped_preset_hard_codes_a_threshold():
    """A margin is a confirmation (eval.confirm_episodes / confirm_z), never a number tied to one env."""
    from deepq.config.schema import load_preset, preset_names

    for name in preset_names():
        if not name.startswith("notebook-"):  # the notebook mirrors keep their notebooks' own numbers
            assert (load_preset(name).get("eval") or {}).get("threshold") is None, name


def test_confirmation_seeds_are_fresh_and_reproducible():
    a = confirmation_seeds(3, 5000, 100)
    assert a == confirmation_seeds(3, 5000, 100)  # a resumed run confirms on the same episodes
    assert len(set(a)) == 100
    assert all(CONFIRM_SEED_LOW <= s < 2**32 for s in a)  # clear of test seeds 1000-1099 and eval seeds
    assert not set(a) & set(confirmation_seeds(3, 6000, 100))  # every check: new episodes
    assert not set(a) & set(confirmation_seeds(4, 5000, 100))


def test_below_the_threshold_never_runs_a_confirmation():
    seen = []
    cfg = cfg_for(**{"eval.confirm_episodes": 20})
    assert not is_solved(cfg, 9.0, 10.0, left, 1000, seen.append)
    assert seen == []
    assert not is_solved(cfg, 1e9, None, left, 1000, seen.append)  # no threshold: never solved
    assert seen == []


def test_without_confirmation_the_evaluation_decides():
    cfg = cfg_for(**{"eval.confirm_episodes": 0})
    assert is_solved(cfg, 10.0, 10.0, left, 1000)
    assert not is_solved(cfg, 9.99, 10.0, left, 1000)


def test_confirmation_on_fresh_episodes_overrules_a_lucky_evaluation():
    cfg = cfg_for(**{"eval.confirm_episodes": 30})
    seen = []
    # the in-training evaluation claims 200; the fresh episodes show the policy's real ~9.4
    assert not is_solved(cfg, 200.0, 100.0, left, 4000, seen.append)
    assert len(seen) == 1 and not seen[0].passed and 8 <= seen[0].mean <= 10 and seen[0].episodes == 30
    # at a threshold the policy really reaches, the confirmation passes
    assert is_solved(cfg, 200.0, 8.0, left, 4000, seen.append)
    assert seen[1].passed and seen[1].mean == seen[0].mean  # same step, same fresh episodes


def test_confirmation_matches_a_plain_run_on_its_seeds():
    cfg = cfg_for(**{"eval.confirm_episodes": 25})
    outcome = confirm(cfg, left, 7000, 5.0)
    runner = EpisodeRunner("CartPole-v1", 25, vectorize=False)
    try:
        returns = runner.run(left, confirmation_seeds(cfg.seed, 7000, 25))
    finally:
        runner.close()
    assert outcome.mean == pytest.approx(returns.mean()) and outcome.std == pytest.approx(returns.std())
    assert outcome.min == returns.min() and outcome.passed


def test_the_margin_is_in_standard_errors_of_the_confirmation():
    base = cfg_for(**{"eval.confirm_episodes": 50, "eval.confirm_z": 0.0})
    plain = confirm(base, left, 100, 0.0)
    assert plain.std > 0
    se = plain.std / np.sqrt(50)
    just_below = plain.mean - 1.9 * se  # passes with no margin or z = 1, not with z = 2
    assert confirm(base, left, 100, just_below).passed
    assert confirm(base.replace(**{"eval.confirm_z": 1.0}), left, 100, just_below).passed
    assert not confirm(base.replace(**{"eval.confirm_z": 2.0}), left, 100, just_below).passed


def test_a_growing_z_holds_the_kth_try_to_alpha_over_k_squared():
    """z 3: alpha = P(Z > 3) = 0.0013499; the 2nd try at alpha / 4 = 0.00033747 is z 3.3996 (normal table: P(Z >
    3.40) = 0.00033693, a little less), the 3rd at alpha / 9 = 0.00014999 is z 3.6153 (P(Z > 3.62) = 0.00014730);
    z 2: alpha = 0.02275, the 2nd try at 0.0056876 is z 2.5310 (P(Z > 2.53) = 0.0057031, a little more)."""
    grows = cfg_for(**{"eval.confirm_z": 3.0, "eval.confirm_z_grows": True})
    assert [round(confirmation_z(grows, k), 4) for k in (1, 2, 3)] == [3.0, 3.3996, 3.6153]
    assert round(confirmation_z(grows.replace(**{"eval.confirm_z": 2.0}), 2), 4) == 2.5310
    assert confirmation_z(grows, 10**6) > confirmation_z(grows, 10**5) > 6  # far out in the tail, still finite
    assert [confirmation_z(cfg_for(**{"eval.confirm_z": 3.0}), k) for k in (1, 2, 9)] == [3.0, 3.0, 3.0]  # off


def test_a_later_try_must_clear_a_wider_margin():
    cfg = cfg_for(**{"eval.confirm_episodes": 50, "eval.confirm_z": 2.0, "eval.confirm_z_grows": True})
    plain = confirm(cfg, left, 100, 0.0)
    between = plain.mean - 2.3 * plain.std / np.sqrt(50)  # passes at z 2 (1st try), not at z 2.53 (2nd)
    first, second = confirm(cfg, left, 100, between, attempt=1), confirm(cfg, left, 100, between, attempt=2)
    assert first.passed and first.z == 2.0
    assert not second.passed and round(second.z, 4) == 2.5310 and second.mean == first.mean
    assert is_solved(cfg, 1e9, between, left, 100) and not is_solved(cfg, 1e9, between, left, 100, attempt=2)


def test_training_stops_only_on_a_confirmed_agent(tmp_path):
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={
        "train.total_steps": 6000, "eval.interval": 500, "eval.episodes": 5, "eval.screen_episodes": None,
        "eval.threshold": 60, "eval.confirm_episodes": 40, "log.tensorboard": False, "log.plot": False})
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    r = agent.result
    assert r.solved and r.stopped == "solved" and r.confirmations
    last = r.confirmations[-1]
    assert last["passed"] and last["mean"] >= 60 and last["episodes"] == 40
    assert last["env_steps"] == r.solved_at_env_steps
    assert all(not c["passed"] for c in r.confirmations[:-1])
    import json

    assert json.loads((tmp_path / "run" / "summary.json").read_text())["confirmations"] == r.confirmations


def test_each_try_of_a_run_is_held_to_its_own_margin(tmp_path):
    """With eval.confirm_z_grows the run counts its confirmations and holds the k-th to confirmation_z(k): this
    seed's second try (bound 250.6 at z 1) passes 250 with a fixed z and fails at the second try's z 1.75."""
    def run(grows):
        cfg = resolve(env_id="CartPole-v1", seed=0, overrides={
            "train.total_steps": 8000, "eval.interval": 500, "eval.episodes": 5, "eval.screen_episodes": None,
            "eval.threshold": 250, "eval.confirm_episodes": 40, "eval.confirm_z": 1.0, "eval.confirm_z_grows": grows,
            "log.tensorboard": False, "log.plot": False})
        return cfg, deepq.train(cfg, tmp_path / f"grows-{grows}", quiet=True).result

    _, fixed = run(False)
    cfg, grown = run(True)
    assert [c["passed"] for c in fixed.confirmations] == [False, True]
    assert [c["passed"] for c in grown.confirmations] == [False, False, True]
    assert grown.solved_at_env_steps > fixed.solved_at_env_steps
    assert fixed.confirmations[1]["mean"] == grown.confirmations[1]["mean"]  # the same agent, a wider margin
    for k, c in enumerate(grown.confirmations, start=1):
        assert c["z"] == round(confirmation_z(cfg, k), 4)
        assert c["bound"] == pytest.approx(c["mean"] - confirmation_z(cfg, k) * c["std"] / np.sqrt(40))
        assert c["passed"] == (c["bound"] >= 250)


def test_confirm_keys_are_validated():
    with pytest.raises(deepq.DeepQError, match="eval.confirm_episodes"):
        cfg_for(**{"eval.confirm_episodes": -1})
    with pytest.raises(deepq.DeepQError, match="eval.confirm_z"):
        cfg_for(**{"eval.confirm_z": -0.5})


def test_a_target_trains_on_past_the_solve_to_a_confirmed_better_agent(tmp_path):
    """eval.target: solved is recorded at the threshold's first confirmed check; training stops at the first
    check confirmed at or above the target (one confirmation per check decides both)."""
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={
        "train.total_steps": 20000, "eval.interval": 500, "eval.episodes": 5, "eval.screen_episodes": None,
        "eval.threshold": 60, "eval.target": 300, "eval.confirm_episodes": 40, "log.tensorboard": False,
        "log.plot": False})
    r = deepq.train(cfg, tmp_path / "run", quiet=True).result
    assert r.solved and r.stopped == "target"
    assert r.solved_at_env_steps < r.target_at_env_steps == r.env_steps
    last = r.confirmations[-1]
    assert last["env_steps"] == r.target_at_env_steps and last["bound"] >= 300
    assert all(c["bound"] < 300 for c in r.confirmations[:-1])  # no earlier check was confirmed at the target
    solving = [c for c in r.confirmations if c["env_steps"] == r.solved_at_env_steps]
    assert len(solving) == 1 and solving[0]["passed"] and solving[0]["bound"] >= 60
    assert all(not c["passed"] for c in r.confirmations if c["env_steps"] < r.solved_at_env_steps)
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["target_at_env_steps"] == r.target_at_env_steps and summary["stopped"] == "target"


def test_the_gate_skips_only_while_training_is_clearly_below_the_threshold():
    """Returns 10, 20, 30, 40: mean 25, std sqrt(125) = 11.18, standard error 11.18 / sqrt(4) = 5.59; at z 2 the
    gate opens at thresholds up to 25 + 11.18 = 36.18."""
    gate = cfg_for(**{"eval.gate_episodes": 4, "eval.gate_z": 2.0})
    recent = [0.0, 10.0, 20.0, 30.0, 40.0]  # the last 4 count
    assert worth_evaluating(gate, recent, 36.0) and not worth_evaluating(gate, recent, 36.5)
    assert worth_evaluating(gate.replace(**{"eval.gate_z": 3.0}), recent, 41.0)  # 25 + 16.77 = 41.77
    assert worth_evaluating(gate, recent[:3], 1e9)  # fewer than 4 episodes so far: evaluate
    assert worth_evaluating(gate, recent, None)  # no threshold: nothing to gate against
    assert worth_evaluating(cfg_for(), recent, 1e9)  # eval.gate_episodes 0: off


def test_a_gated_run_skips_early_evaluations_and_still_solves(tmp_path):
    base = {"train.total_steps": 2400, "train.learning_starts": 300, "eval.interval": 300, "eval.episodes": 2,
            "eval.threshold": 40.0, "replay.n_step": 1, "log.tensorboard": False, "log.plot": False}
    gated = resolve(env_id="CartPole-v1", seed=1, overrides={**base, "eval.gate_episodes": 5, "eval.gate_z": 1.0})
    r = deepq.train(gated, tmp_path / "gated", quiet=True).result
    assert r.solved and r.skipped_evaluations >= 1
    rows = read_metrics(tmp_path / "gated" / "metrics.csv")
    evals = [int(row["env_steps"]) for row in rows if row["kind"] == "eval"]
    assert len(evals) + r.skipped_evaluations == r.solved_at_env_steps // 300  # every check ran or was skipped
    assert evals[-1] == r.solved_at_env_steps
    plain = deepq.train(gated.replace(**{"eval.gate_episodes": 0}), tmp_path / "plain", quiet=True).result
    assert plain.skipped_evaluations == 0 and plain.solved_at_env_steps <= r.solved_at_env_steps


def test_a_target_below_the_threshold_is_refused_in_one_line(tmp_path):
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={"eval.target": 400, "train.total_steps": 2000})
    with pytest.raises(deepq.DeepQError, match="eval.target=400 is below the solved threshold 475"):
        deepq.train(cfg, quiet=True)
    with pytest.raises(deepq.DeepQError, match="eval.target"):
        cfg_for(**{"eval.target": float("inf")})
    no_threshold = cfg_for("CliffWalking-v1", **{"eval.target": -20, "train.total_steps": 2000,
                                                 "env.wrappers": ["gymnasium.wrappers:FlattenObservation"]})
    with pytest.raises(deepq.DeepQError, match="CliffWalking-v1 has no reward_threshold: set eval.threshold"):
        deepq.train(no_threshold, quiet=True)


def _target_run(path, total_steps, seed):
    """CartPole with a low threshold (60) and a target (450) that the run may or may not confirm within its budget
    (the learning rate constant, so a shorter budget is the same run cut short)."""
    cfg = resolve(env_id="CartPole-v1", seed=seed, overrides={
        "train.total_steps": total_steps, "eval.interval": 250, "eval.episodes": 5, "eval.screen_episodes": None,
        "eval.threshold": 60, "eval.target": 450, "eval.confirm_episodes": 20, "eval.confirm_z": 6,
        "learner.lr_end": None, "log.tensorboard": False, "log.plot": False, "log.checkpoint_interval": 0})
    return deepq.train(cfg, path, quiet=True)


def _since_solve(result) -> list[dict]:
    return [c for c in result.confirmations if c["env_steps"] >= result.solved_at_env_steps]


def _budget_short_of_the_target(tmp_path) -> tuple[int, int]:
    """(seed, budget) of a run that solves, then confirms at least 3 times without reaching the target. Which seeds
    do depends on the machine's floating-point path, so the first that does is found here: a run that ends its
    6,700 env steps so, or one that reaches the target after 3+ failed tries, stopped 100 env steps before that."""
    for seed in range(11, 31):
        r = _target_run(tmp_path / f"probe-{seed}", 6700, seed).result
        if not r.solved:
            continue
        tries = len(_since_solve(r))
        if r.stopped == "budget" and tries >= 3:
            return seed, 6700
        if r.stopped == "target" and tries >= 4:
            return seed, r.target_at_env_steps - 100  # well before the check at the target (every 250)
    pytest.fail("no seed in 11-30 confirms 3+ times short of the target")


def test_a_budget_spent_before_the_target_ends_on_the_best_confirmed_agent(tmp_path):
    """eval.target not reached: the run's agent (final.safetensors and the agent returned) is the one confirmed at
    the highest level since the solve, not the last one; summary.json says from when it is."""
    import json

    from deepq.checkpoint import load_checkpoint
    from deepq.run.runs import checkpoint_path

    seed, budget = _budget_short_of_the_target(tmp_path)
    agent = _target_run(tmp_path / "run", budget, seed)
    r = agent.result
    assert r.solved and r.stopped == "budget" and r.target_at_env_steps is None
    since_solve = _since_solve(r)
    best = max(since_solve, key=lambda c: c["bound"])
    assert len(since_solve) >= 3 and best["bound"] < 450
    assert r.best_confirmed == {"env_steps": best["env_steps"], "bound": best["bound"]}
    assert r.final_from_env_steps == best["env_steps"] < r.env_steps
    final, state = load_checkpoint(checkpoint_path(tmp_path / "run", "final"))
    assert state["counters"]["env_steps"] == best["env_steps"]
    confirmed, _ = load_checkpoint(checkpoint_path(tmp_path / "run", "confirmed"))
    latest, _ = load_checkpoint(checkpoint_path(tmp_path / "run", "latest"))
    w = "online.0.weight" if "online.0.weight" in final else next(k for k in final if k.startswith("online."))
    assert all((final[k] == confirmed[k]).all() for k in final)
    assert not (final[w] == latest[w]).all()  # the last agent is kept for a resume, not as the run's agent
    assert (agent.tensors()[w] == final[w]).all()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_from_env_steps"] == best["env_steps"] and summary["stopped"] == "budget"

    # Stopped short of that budget and resumed to it: the best confirmed agent comes back from its checkpoint.
    _target_run(tmp_path / "short", best["env_steps"] + 50, seed)
    resumed = deepq.resume(tmp_path / "short", total_steps=budget, quiet=True)
    assert resumed.result.solved_at_env_steps == r.solved_at_env_steps
    assert resumed.result.final_from_env_steps == best["env_steps"]
    assert all((resumed.tensors()[k] == agent.tensors()[k]).all() for k in final if not k.startswith("optim."))


def test_a_budget_spent_before_any_solve_ends_on_the_best_confirmed_agent(tmp_path):
    """Never solved, but confirmations ran (each check that reached the threshold, none confirmed at it): the run's
    agent is the one whose confirmation came closest (highest bound), not the last one, which no fresh episodes
    ever measured; summary.json says from when it is."""
    import json

    from deepq.checkpoint import load_checkpoint
    from deepq.run.runs import checkpoint_path

    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={
        "train.total_steps": 4000, "eval.interval": 250, "eval.episodes": 5, "eval.screen_episodes": None,
        "eval.threshold": 30, "eval.confirm_episodes": 10, "eval.confirm_z": 50, "eval.confirm_z_grows": False,
        "log.tensorboard": False, "log.plot": False, "log.checkpoint_interval": 0})
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    r = agent.result
    assert not r.solved and r.stopped == "budget"
    assert len(r.confirmations) >= 2 and not any(c["passed"] for c in r.confirmations)
    best = max(r.confirmations, key=lambda c: c["bound"])
    assert r.best_confirmed == {"env_steps": best["env_steps"], "bound": best["bound"]}
    assert r.final_from_env_steps == best["env_steps"] < r.env_steps
    final, state = load_checkpoint(checkpoint_path(tmp_path / "run", "final"))
    latest, _ = load_checkpoint(checkpoint_path(tmp_path / "run", "latest"))
    assert state["counters"]["env_steps"] == best["env_steps"]
    w = next(k for k in final if k.startswith("online.") and k.endswith("weight"))
    assert not (final[w] == latest[w]).all() and (agent.tensors()[w] == final[w]).all()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_from_env_steps"] == best["env_steps"] and summary["solved"] is False
