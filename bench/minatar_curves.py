"""Learning curves of each MinAtar game's preset (`deepq train --env MinAtar/<Game>-v1`: the `minatar` preset, or
the game's own where one ships, as for Asterix and Seaquest), measured on this machine: greedy evaluation every
50k env steps (10 episodes), wall-clock and training env steps/s, per seed, then a table at a few checkpoints,
the first evaluation at the MinAtar paper's 5M-frame score, and the final agent on 100 greedy episodes (reset
seeds 1000-1099, cached in the run's final-score.json).

    python bench/minatar_curves.py --games Breakout SpaceInvaders --seeds 100 101 102 --steps 1000000
    python bench/minatar_curves.py --report-only --out runs/minatar-curves     # the table from finished runs
    python bench/minatar_curves.py --report-only --out runs/minatar-curves --plot curves.png   # and the curves

Each run is a real `deepq train` process (one at a time unless --parallel); the runs stay in --out. `--report-only`
reads any run directories named <Game>-seed<N> in --out (a run trained or resumed by hand too). The presets are
not tuned per seed: the seeds in docs/pixels.md are the first each ran on. The MinAtar paper's DQN after 5M frames (read off its
figure): Breakout 10, SpaceInvaders 43, Asterix 17, Freeway 50, Seaquest 20.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

PAPER_5M = {"Breakout": 10, "SpaceInvaders": 43, "Asterix": 17, "Freeway": 50, "Seaquest": 20}


def run_dir(out: Path, game: str, seed: int) -> Path:
    return out / f"{game}-seed{seed}"


def train(out: Path, game: str, seed: int, steps: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "deepq.cli", "train", "--env", f"MinAtar/{game}-v1", "--seed", str(seed),
           "--run-dir", str(run_dir(out, game, seed)), "--overwrite", f"train.total_steps={steps}",
           "log.progress=false", "log.tensorboard=false"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def curve(path: Path) -> list[tuple[int, float, float]]:
    """(env steps, eval mean, elapsed s) of every evaluation in a run's metrics.csv."""
    rows = []
    with open(path / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "eval" and row["eval/mean_return"]:
                rows.append((int(row["env_steps"]), float(row["eval/mean_return"]),
                             float(row["time/elapsed_s"] or "nan")))
    return rows


def final_score(path: Path, episodes: int = 100) -> tuple[float, float]:
    """The run's final agent on `episodes` greedy episodes (reset seeds 1000...), cached in final-score.json: a
    10-episode in-training evaluation of a MinAtar game swings by several points from one check to the next."""
    cache = path / "final-score.json"
    if not cache.is_file():
        import deepq

        ev = deepq.evaluate(path, episodes=episodes, seed=1000)
        cache.write_text(json.dumps({"episodes": episodes, "mean": ev.mean, "std": ev.std}))
    done = json.loads(cache.read_text())
    return done["mean"], done["std"] / done["episodes"] ** 0.5


def report(out: Path, games: list[str], seeds: list[int], marks: list[int]) -> None:
    print(f"| game | seed | " + " | ".join(f"eval at {m // 1000}k" for m in marks) +
          " | best eval | first eval >= the paper's | final agent, 100 episodes | train s | env steps/s | "
          "paper DQN at 5M frames |")
    print("|---|---|" + "---|" * len(marks) + "---|---|---|---|---|---|")
    for game in games:
        for seed in seeds:
            path = run_dir(out, game, seed)
            if not (path / "summary.json").is_file():
                print(f"| {game} | {seed} | (not finished) |")
                continue
            summary = json.loads((path / "summary.json").read_text())
            points = curve(path)
            cells = []
            for m in marks:
                near = [mean for steps, mean, _ in points if abs(steps - m) <= 5000]
                cells.append(f"{near[0]:.1f}" if near else "-")
            secs = summary["train_seconds"]
            paper = PAPER_5M.get(game)
            reached = [steps for steps, mean, _ in points if paper is not None and mean >= paper]
            best = max((mean for _, mean, _ in points), default=float("nan"))
            final, se = final_score(path)
            print(f"| {game} | {seed} | " + " | ".join(cells) +
                  f" | {best:.1f} | {f'{reached[0] // 1000}k' if reached else 'not yet'} | {final:.1f} ± {se:.1f} | "
                  f"{secs:.0f} | "
                  f"{summary['env_steps'] / secs:.0f} | {paper if paper is not None else '-'} |")


def plot(out: Path, games: list[str], seeds: list[int], path: Path) -> None:
    """One panel per game: each seed's evaluation curve against env steps, the paper's 5M-frame score dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(games), figsize=(4 * len(games), 3.2), squeeze=False)
    for ax, game in zip(axes[0], games):
        for seed in seeds:
            run = run_dir(out, game, seed)
            if (run / "metrics.csv").is_file():
                points = curve(run)
                ax.plot([s / 1e6 for s, _, _ in points], [m for _, m, _ in points], label=f"seed {seed}", lw=1.2)
        if game in PAPER_5M:
            ax.axhline(PAPER_5M[game], color="gray", ls="--", lw=1, label="paper DQN, 5M frames")
        ax.set_title(f"MinAtar/{game}-v1")
        ax.set_xlabel("env steps (millions)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("greedy evaluation, mean of 10")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["Breakout", "SpaceInvaders"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("runs/minatar-curves"))
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--plot", type=Path, help="also draw the curves into this PNG")
    args = parser.parse_args()
    if not args.report_only:
        jobs = [(g, s) for g in args.games for s in args.seeds]
        running: list[tuple[str, int, subprocess.Popen]] = []
        while jobs or running:
            while jobs and len(running) < args.parallel:
                game, seed = jobs.pop(0)
                running.append((game, seed, train(args.out, game, seed, args.steps)))
            game, seed, proc = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode:
                print(f"{game} seed {seed} failed ({proc.returncode}): {err.strip()[-300:]}", file=sys.stderr)
    marks = [m for m in (100_000, 250_000, 500_000, 1_000_000, 2_000_000) if m <= args.steps]
    report(args.out, args.games, args.seeds, marks)
    if args.plot:
        plot(args.out, args.games, args.seeds, args.plot)


if __name__ == "__main__":
    main()
