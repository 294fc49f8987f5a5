"""What every run of a config is doing, from the runs' own files: ``python -m lssd.run.status [--configfile F ...]``.

For each run (dataset × direction × method × seed): whether it is finished, training (its lock is held), stopped
or not started; its epoch out of its ``max_epoch``; the last per-pair dev losses (``checkpoints/history.json``,
written at every validation); which pairs the current epoch distils (the log's ``LSSD epoch N: distilling ...``);
and the time per epoch (the ``end of epoch`` lines of the attempt logs), with the time left. It reads only files
(no Snakemake, no fairseq), so it works from the login node while the jobs run on a cluster's compute nodes
(with a shared file system), and on a finished or killed run alike.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from lssd import config as lssd_config
from lssd.io import DamagedFile, read_json
from lssd.method.history import ALL
from lssd.run.attempts import attempt_logs, run_lock_path

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
END_OF_EPOCH = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| INFO \| fairseq_cli\.train \| end of epoch (\d+) ")
DISTILLING = re.compile(r"\| LSSD epoch (\d+): distilling (.*)$")


@dataclass
class RunStatus:
    name: str
    state: str  # finished | training | stopped | not started
    epoch: int = 0
    max_epoch: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    distilling: tuple[int, list[str]] | None = None
    seconds_per_epoch: float | None = None
    holder: str = ""
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"{self.name}: {self.state}"
        if self.holder:
            head += f" ({self.holder})"
        if self.state != "not started":
            head += f", epoch {self.epoch}/{self.max_epoch}"
        if self.seconds_per_epoch:
            head += f", {format_duration(self.seconds_per_epoch)} per epoch"
            if self.state == "training" and self.max_epoch > self.epoch:
                head += f", about {format_duration(self.seconds_per_epoch * (self.max_epoch - self.epoch))} left"
        lines = [head]
        if self.losses:
            values = "  ".join(f"{pair} {loss:.3f}" for pair, loss in self.losses.items())
            lines.append(f"    dev loss (bits/token) after epoch {self.epoch}: {values}")
        if self.distilling is not None:
            epoch, pairs = self.distilling
            lines.append(f"    distilled in epoch {epoch}: {', '.join(pairs) if pairs else 'no pair'}")
        lines += [f"    ! {problem}" for problem in self.problems]
        return lines


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def lock_holder(lock_path: Path) -> str | None:
    """Who holds a run's lock ('pid ... on HOST since ...'), or None when nobody does."""
    if not lock_path.exists():
        return None
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return lock_path.read_text(encoding="utf-8", errors="replace").strip() or "held"
    finally:
        os.close(fd)
    return None


def epoch_times(log_paths: list[Path]) -> tuple[list[float], tuple[int, list[str]] | None]:
    """Durations of the epochs between two ``end of epoch`` lines of one attempt, and the last distilling line."""
    durations: list[float] = []
    distilling = None
    for path in log_paths:
        previous = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = END_OF_EPOCH.match(line)
            if match:
                moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
                if previous is not None:
                    durations.append((moment - previous).total_seconds())
                previous = moment
                continue
            match = DISTILLING.search(line)
            if match:
                pairs = [] if match.group(2) == "no pair" else match.group(2).split(", ")
                distilling = (int(match.group(1)), pairs)
    return durations, distilling


def run_status(workdir: Path, config: dict, dataset: str, direction: str, method: str, seed: int) -> RunStatus:
    run = workdir / "results" / "train" / dataset / direction / method / f"seed{seed}"
    save_dir = run / "checkpoints"
    max_epoch = lssd_config.training_settings(config, dataset, direction, method)["max_epoch"]
    status = RunStatus(f"{dataset}/{direction}/{method}/seed{seed}", "not started", max_epoch=max_epoch)
    holder = lock_holder(run_lock_path(save_dir))
    if holder:
        status.state, status.holder = "training", holder
    elif (run / "checkpoint_best.pt").exists() and (run / "history.json").exists():
        status.state = "finished"
    elif save_dir.exists():
        status.state = "stopped"
    history_path = save_dir / "history.json"
    if history_path.exists():
        try:
            history = read_json(history_path, required=(ALL,))
            status.epoch = len(history[ALL])
            status.losses = {pair: values[-1] for pair, values in history.items() if pair != ALL and values}
        except DamagedFile as error:
            status.problems.append(str(error))
    durations, status.distilling = epoch_times(attempt_logs(save_dir))
    if durations:
        status.seconds_per_epoch = statistics.median(durations[-10:])
    return status


def load_config(configfiles: list[Path]) -> dict:
    """The config as the workflow sees it: the files merged in order, the schema's defaults filled in."""
    from snakemake.utils import update_config, validate

    config: dict = {}
    for path in configfiles:
        update_config(config, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    validate(config, str(SCHEMA))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="what every run of a config is doing (from the runs' own files)")
    parser.add_argument(
        "--configfile",
        action="append",
        type=Path,
        default=[],
        help="as for snakemake: merged over config/config.yaml of the working directory (repeatable)",
    )
    parser.add_argument("--directory", type=Path, default=Path("."), help="the working directory (with results/)")
    args = parser.parse_args(argv)
    default = args.directory / "config" / "config.yaml"
    configfiles = ([default] if default.exists() else []) + [
        path if path.is_absolute() or path.exists() else args.directory / path for path in args.configfile
    ]
    if not configfiles:
        parser.error(f"no config: neither {default} nor --configfile")
    config = load_config(configfiles)
    for dataset, direction, method, seed in lssd_config.runs(config):
        status = run_status(args.directory, config, dataset, direction, method, seed)
        print("\n".join(status.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
