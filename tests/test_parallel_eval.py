"""eval.parallel: checks played by a forked worker while the training goes on give the very run of inline checks
(the same metrics, checkpoints and stop), including where a solve sends the run back to its step."""

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest
import torch

import deepq
from deepq.algo.agent import DQNAgent
from deepq.checkpoint import load_checkpoint
from deepq.evaluation.worker import other_cores_busy, unavailable_reason
from deepq.machine import others_running
from test_resume import assert_same_run
from tiny import tiny_cfg, tiny_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
                                reason="the worker is forked on Linux with 2+ cores")


def both_ways(tmp_path, cfg):
    """The same config trained with inline checks and with the worker; returns both agents."""
    inline = deepq.train(cfg.replace(**{"eval.parallel": False}), tmp_path / "inline", quiet=True)
    worker = deepq.train(cfg.replace(**{"eval.parallel": True}), tmp_path / "worker", quiet=True)
    assert not inline.result.eval_parallel and worker.result.eval_parallel
    assert not multiprocessing.active_children()  # the worker ended with its run
    assert_same_run(tmp_path / "inline", tmp_path / "worker")
    return inline, worker


def assert_same_end_state(a, b, skip_prefixes=()):
    """checkpoints/latest (the whole training state at the end) alike, tensor for tensor."""
    ta, sa = load_checkpoint(a / "checkpoints" / "latest.safetensors")
    tb, sb = load_checkpoint(b / "checkpoints" / "latest.safetensors")
    assert ta.keys() == tb.keys()
    different = [k for k in ta if not k.startswith(skip_prefixes) and not torch.equal(ta[k], tb[k])]
    assert not different, different
    assert sa["resume"]["loop"]["counters"] == sb["resume"]["loop"]["counters"]
    assert sa["resume"]["rng"] == sb["resume"]["rng"]


def test_a_solve_found_by_the_worker_ends_the_run_at_its_step(tmp_path):
    cfg = tiny_cfg(seed=4, **{"eval.stop_when_solved": True, "eval.threshold": 60.0, "eval.interval": 300,
                              "eval.confirm_episodes": 5, "eval.confirm_z": 0.0, "train.total_steps": 6000})
    inline, worker = both_ways(tmp_path, cfg)
    assert inline.result.solved and inline.result.stopped == "solved"
    assert worker.result.solved_at_env_steps == inline.result.solved_at_env_steps
    assert worker.result.env_steps == inline.result.env_steps == inline.result.solved_at_env_steps
    assert [c["mean"] for c in worker.result.confirmations] == [c["mean"] for c in inline.result.confirmations]
    assert_same_end_state(tmp_path / "inline", tmp_path / "worker")


def test_training_on_after_the_solve_goes_back_to_its_step(tmp_path):
    """The learning rate decays from the solve: the steps the run trained while the check was in flight used the
    rate before it, so the run must go back and train them again; checkpoints along the way wait for the check."""
    cfg = tiny_cfg(seed=1, **{"learner.lr_end": 0.0, "learner.lr_decay_from": "solved", "eval.threshold": 25.0,
                              "eval.confirm_episodes": 5, "eval.confirm_z": 0.0, "train.total_steps": 2400,
                              "log.checkpoint_interval": 500, "eval.interval": 600})
    inline, worker = both_ways(tmp_path, cfg)
    assert inline.result.solved and inline.result.stopped == "budget"
    assert worker.result.solved_at_env_steps == inline.result.solved_at_env_steps
    assert_same_end_state(tmp_path / "inline", tmp_path / "worker")


def test_a_target_after_the_solve_alike(tmp_path):
    cfg = tiny_cfg(seed=2, **{"eval.stop_when_solved": True, "eval.threshold": 30.0, "eval.target": 80.0,
                              "eval.interval": 300, "eval.confirm_episodes": 5, "eval.confirm_z": 0.0,
                              "train.total_steps": 5000})
    inline, worker = both_ways(tmp_path, cfg)
    assert inline.result.solved and inline.result.target_at_env_steps is not None
    assert worker.result.target_at_env_steps == inline.result.target_at_env_steps
    assert worker.result.best_confirmed == inline.result.best_confirmed
    assert_same_end_state(tmp_path / "inline", tmp_path / "worker")


@pytest.mark.slow
def test_box2d_whose_state_cannot_be_put_back_stops_alike(tmp_path):
    """LunarLander's Box2D state cannot be captured: going back to the solve only ends the run (its episodes
    restart in the end state, as a resume would restart them)."""
    pytest.importorskip("Box2D")
    cfg = tiny_cfg("LunarLander-v3", seed=0, **{"eval.stop_when_solved": True, "eval.threshold": -150.0,
                                                 "eval.interval": 1000, "eval.episodes": 3, "eval.screen_episodes": None,
                                                 "eval.confirm_episodes": 3, "eval.confirm_z": 0.0,
                                                 "env.max_episode_steps": 200, "train.total_steps": 8000})
    inline, worker = both_ways(tmp_path, cfg)
    assert inline.result.solved
    assert worker.result.solved_at_env_steps == inline.result.solved_at_env_steps
    # its confirmations played half by the worker's helper, half by the worker: the inline returns
    assert [c["mean"] for c in worker.result.confirmations] == [c["mean"] for c in inline.result.confirmations]
    assert_same_end_state(tmp_path / "inline", tmp_path / "worker", skip_prefixes=("collector.",))


def test_a_confirmation_of_single_envs_is_played_in_halves_with_the_helper_and_gives_the_same_returns():
    """LunarLander's confirmations step one Box2D env at a time: the worker's helper plays the second half. The
    returns equal those of the episodes played one batch at a time; CartPole's arrays need no helper."""
    pytest.importorskip("Box2D")
    from deepq.evaluation.evaluate import EpisodeRunner
    from deepq.evaluation.solved import confirm, confirmation_seeds, play_confirmation
    from deepq.evaluation.worker import EvalWorker, _help, _Helping

    cfg = tiny_cfg("LunarLander-v3", seed=3, **{"eval.confirm_episodes": 7, "eval.confirm_z": 1.0,
                                                 "env.max_episode_steps": 150})
    agent = DQNAgent(8, 4, cfg)
    weights = {name: tensor.numpy() for name, tensor in agent.online.state_dict().items()}
    seeds = confirmation_seeds(cfg.seed, 500, 7)
    runner = EpisodeRunner(cfg.env, 7, cfg.env.max_episode_steps)
    one_by_one = [runner.run(agent.greedy, [seed])[0] for seed in seeds]
    assert play_confirmation(runner, agent.greedy, seeds).tolist() == pytest.approx(one_by_one, abs=1e-9)
    runner.close()
    context = multiprocessing.get_context("fork")
    helper_end, child = context.Pipe()
    helper = context.Process(target=_help, args=(child, (helper_end,), cfg, DQNAgent(8, 4, cfg)), daemon=True)
    helper.start()  # a fresh agent: the weights come with each request
    child.close()
    run_end, notices = context.Pipe()
    try:
        shared = confirm(cfg, agent.greedy, 500, -100.0, helper=_Helping(run_end, helper_end, weights))
        assert notices.recv() == ("confirming",)  # the run is told to pause while the two play
    finally:
        helper_end.close()
        helper.join(timeout=10)
    alone = confirm(cfg, agent.greedy, 500, -100.0)
    assert (shared.mean, shared.std, shared.bound, shared.passed) == (alone.mean, alone.std, alone.bound, alone.passed)
    assert shared.mean == pytest.approx(sum(one_by_one) / 7, abs=1e-9)
    lunar = EvalWorker(cfg, agent, [0, 1], -100.0)
    assert lunar._helper is not None and lunar._helper.is_alive()
    lunar.close()
    assert not lunar._helper.is_alive()
    cartpole = EvalWorker(tiny_cfg(), DQNAgent(4, 2, tiny_cfg()), [0, 1], 475.0)
    assert cartpole._helper is None
    cartpole.close()


def test_where_the_worker_is_not_used():
    cfg = tiny_cfg()
    assert unavailable_reason(cfg, [], "cpu", True) is None
    assert "callbacks" in unavailable_reason(cfg, [object()], "cpu", True)
    assert "eval.interval=0" in unavailable_reason(cfg.replace(**{"eval.interval": 0}), [], "cpu", True)
    assert "cuda" in unavailable_reason(cfg, [], "cuda", True)
    assert "torch_threads" in unavailable_reason(cfg.replace(**{"train.torch_threads": 2}), [], "cpu", True)
    # state that cannot be put back: fine when the solve ends the run, not when the run trains on after it
    assert unavailable_reason(cfg.replace(**{"eval.stop_when_solved": True}), [], "cpu", False) is None
    assert "cannot be put back" in unavailable_reason(cfg, [], "cpu", False)  # tiny trains on (stop_when_solved off)
    assert "cannot be put back" in unavailable_reason(
        cfg.replace(**{"eval.stop_when_solved": True, "eval.target": 400.0}), [], "cpu", False)


def test_asked_for_on_one_core_says_why_and_evaluates_inline(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "deepq.cli", "train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "run"),
         *tiny_cli(**{"train.total_steps": 600, "eval.parallel": True})],
        capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert proc.returncode == 0, proc.stderr
    assert ("deepq: note: eval.parallel=true, but evaluating in the training process: this process may use one "
            "core only") in proc.stderr
    assert '"eval_parallel": 0' in (tmp_path / "run" / "summary.json").read_text()


def test_left_empty_it_evaluates_inline_while_the_other_cores_are_busy(tmp_path):
    """On a machine whose other cores run other work, a worker would slow the training: auto (empty) plays every
    check inline, silently; asked for, the worker plays them all. The run is held to two cores, one of them taken
    by a busy loop."""
    two = set(sorted(os.sched_getaffinity(0))[:2])
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.sched_setaffinity(0, two))
    try:
        deadline = time.monotonic() + 10
        while (others_running() or 0) < 1 and time.monotonic() < deadline:  # the loop is running once Python is up
            time.sleep(0.05)
        runs = {}
        for name, parallel in (("auto", None), ("asked", True)):
            proc = subprocess.run(
                [sys.executable, "-m", "deepq.cli", "train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / name),
                 *tiny_cli(**{"train.total_steps": 600, "eval.parallel": parallel})],
                capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.sched_setaffinity(0, two))
            assert proc.returncode == 0, proc.stderr
            assert "note: eval.parallel" not in proc.stderr
            runs[name] = json.loads((tmp_path / name / "summary.json").read_text())["eval_parallel"]
    finally:
        hog.kill()
        hog.wait()
    assert runs["auto"] == 0 and runs["asked"] > 0


def test_others_running_counts_a_busy_process():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert others_running() >= 1
        cores = len(os.sched_getaffinity(0))
        if cores == 2:  # one other core, taken
            assert other_cores_busy()
    finally:
        hog.kill()
        hog.wait()


@pytest.mark.slow
def test_ctrl_c_with_a_check_in_flight_saves_a_state_that_resumes_exactly(tmp_path):
    """A real SIGINT at whatever moment (a check may be in flight): the checkpoint waits for the check's outcome,
    and the resumed run ends as the run never stopped."""
    import signal
    import threading

    from deepq.run.interrupts import Interrupted

    cfg = tiny_cfg(seed=3, **{"train.total_steps": 30000, "log.checkpoint_interval": 5000, "eval.interval": 300,
                              "eval.episodes": 5, "eval.parallel": True})
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(Interrupted):
            deepq.train(cfg, tmp_path / "run", quiet=True)
    finally:
        timer.cancel()
    assert not multiprocessing.active_children()
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")
