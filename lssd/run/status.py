"""What every run of a config is doing, from the runs' own files: ``python -m lssd.run.status [--configfile F ...]``.

For each run (dataset × direction × method × seed): whether it is finished (its outputs are published), training
(its lock is held), stopped or not started; its epoch out of the ``max_epoch`` it trains with (the last
``--max-epoch`` of its fairseq-train command, as its attempt log records it; else as the config builds it); the last
per-pair dev losses (``history.json``, written at every validation); which pairs the current epoch distils (the
log's ``LSSD epoch N: distilling ...``); the time per epoch (the ``end of epoch`` lines of the attempt logs), with
the time left; and why a stopped run stopped: failed (its last attempt log's error line), killed by a signal,
cancelled or killed without a word (a log that ends without the runner's final line), or ended by SLURM (the
``CANCELLED AT ... DUE TO TIME LIMIT`` line of the job's Snakemake log or SLURM log). It reads only files (no
Snakemake run, no fairseq), so it works from the login node while the jobs run on a cluster's compute nodes (with
a shared file system), and on a finished or killed run alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lssd import config as lssd_config
from lssd import config_files, layout
from lssd.method.history import ALL
from lssd.run.attempts import attempt_logs, run_lock_path
from lssd.run.commands import option_value, train_arguments
from lssd.run.disk_space import existing, free_bytes, gigabytes, run_bytes, stale_runs
from lssd.run.status_files import HistoryUnreadable, job_logs, lock_holder, read_history, read_logs, why_stopped


@dataclass
class RunStatus:
    name: str
    state: str  # finished | training | stopped | not started
    epoch: int | None = 0  # None: the history is unreadable
    max_epoch: int = 0
    max_update: int | None = None
    max_epoch_logged: bool = False  # max_epoch is the one of its logged command, not the config's
    losses: dict[str, float] = field(default_factory=dict)
    distilling: tuple[int, list[str]] | None = None
    seconds_per_epoch: float | None = None
    devices: str = ""  # what its last attempt trained on (the GPUs' names, "the CPU"), where its log says
    holder: str = ""
    why: str = ""  # why a stopped run stopped
    problems: list[str] = field(default_factory=list)

    def progress(self) -> str:
        """``epoch 3/10``, with what the bare count would hide (an empty or unreadable history, an early end)."""
        if self.epoch is None:
            return "epoch unknown (history unreadable)"
        if self.state == "finished" and self.epoch == 0:
            return "no epoch in its history"
        if self.epoch > self.max_epoch:
            return f"epoch {self.epoch}, more than its max_epoch {self.max_epoch}"
        text = f"epoch {self.epoch}/{self.max_epoch}"
        if self.state == "finished" and self.epoch < self.max_epoch:
            text += f" ({self.early_end()})"
        return text

    def early_end(self) -> str:
        """Why a finished run has fewer epochs than its max_epoch."""
        if not self.max_epoch_logged:
            return "max_epoch as the config sets it now: no attempt log says what it trained with"
        if self.max_update:
            return f"ended by its max_update {self.max_update}"
        return "fairseq stopped it before max_epoch"

    def head(self) -> str:
        head = f"{self.name}: {self.state}"
        if self.holder:
            head += f" ({self.holder})"
        if self.state != "not started":
            head += f", {self.progress()}"
        if self.seconds_per_epoch:
            head += f", {format_duration(self.seconds_per_epoch)} per epoch"
            if self.devices:
                head += f" on {self.devices}"
            if self.state == "training" and self.epoch is not None and self.max_epoch > self.epoch:
                head += f", about {format_duration(self.seconds_per_epoch * (self.max_epoch - self.epoch))} left"
        return head

    def lines(self) -> list[str]:
        lines = [self.head()]
        if self.why:
            lines.append(f"    why it stopped: {self.why}")
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


def add_history(status: RunStatus, path: Path) -> None:
    """The epochs validated and each pair's last dev loss, or why they cannot be read."""
    if not path.exists():
        return
    try:
        history = read_history(path)
    except HistoryUnreadable as error:
        status.epoch = None
        status.problems.append(str(error))
        return
    status.epoch = len(history[ALL])
    # an epoch without a validation is null: such a pair has no loss to show for the last epoch
    status.losses = {
        pair: values[-1] for pair, values in history.items() if pair != ALL and values and values[-1] is not None
    }
    if status.state == "finished" and status.epoch == 0:
        status.problems.append(f"history empty: {path}: no epoch was validated")


def run_state(run: Path, save_dir: Path) -> tuple[str, str]:
    """The run's state and, while it trains, who holds its lock."""
    holder = lock_holder(run_lock_path(save_dir))
    if holder:
        return "training", holder
    if (run / layout.BEST).exists() and (run / layout.HISTORY).exists():
        return "finished", ""
    if save_dir.exists():
        return "stopped", ""
    return "not started", ""


def config_arguments(config: dict, dataset: str, direction: str, method: str, seed: int, save_dir: Path) -> list[str]:
    """The fairseq-train arguments the workflow would give this run now (``extra_args`` may override
    ``--max-epoch``: the last value counts, for fairseq as for :func:`option_value`)."""
    return train_arguments(
        data_bin=layout.path("bin", dataset=dataset),
        save_dir=str(save_dir),
        pairs=lssd_config.pairs(config, dataset, direction),
        direction=direction,
        training=lssd_config.training_settings(config, dataset, direction, method),
        method=lssd_config.method_settings(config, method, direction, dataset),
        seed=seed,
    )


def int_option(args: list[str], name: str) -> int | None:
    value = option_value(args, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def max_epoch_notes(status: RunStatus, trained_with: int | None, wanted: int) -> list[str]:
    """The config's max_epoch when it is not the one the run trains with (or it is below the epochs trained)."""
    notes = []
    if trained_with is not None and trained_with != wanted:
        notes.append(f"the config now sets max_epoch {wanted} (this run trained with {trained_with})")
    if status.epoch and 0 < wanted < status.epoch:
        notes.append(
            f"max_epoch {wanted} of the config is below the {status.epoch} epochs trained: "
            "the next snakemake run moves this run aside and trains it again from scratch"
        )
    return notes


def run_status(workdir: Path, config: dict, dataset: str, direction: str, method: str, seed: int) -> RunStatus:
    run = workdir / layout.run_dir(dataset, direction, method, seed)
    save_dir = workdir / layout.save_dir(dataset, direction, method, seed)
    logs = attempt_logs(save_dir)
    facts = read_logs(logs)
    wanted = config_arguments(config, dataset, direction, method, seed, save_dir)
    args = facts.command or wanted
    state, holder = run_state(run, save_dir)
    status = RunStatus(layout.run_key(dataset, direction, method, seed), state, holder=holder)
    status.max_epoch = int_option(args, "--max-epoch") or 0
    status.max_update = int_option(args, "--max-update")
    status.max_epoch_logged = facts.command is not None
    # a finished run's published history is what evaluation reads; the save dir's may be gone
    add_history(status, (run if state == "finished" else save_dir) / layout.HISTORY)
    status.distilling = facts.distilling
    status.devices = facts.devices
    if facts.durations:
        status.seconds_per_epoch = statistics.median(facts.durations[-10:])
    if state == "stopped":
        status.why = why_stopped(logs[-1] if logs else None, job_logs(workdir, dataset, direction, method, seed))
    trained_with = int_option(facts.command, "--max-epoch") if facts.command else None
    status.problems += facts.problems + max_epoch_notes(status, trained_with, int_option(wanted, "--max-epoch") or 0)
    return status


def other_runs(workdir: Path, runs: list[tuple[str, str, str, int]]) -> list[Path]:
    """Run directories on disk that the config does not ask for (another config's, or a method since removed)."""
    wanted = {workdir / layout.run_dir(*run) for run in runs}
    found = [path for path in sorted(workdir.glob(layout.run_dir("*", "*", "*", "*"))) if path.is_dir()]
    return [path for path in found if path not in wanted]


def config_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """config/config.yaml of the working directory (the Snakefile's configfile), then each --configfile, found
    here or in the working directory."""
    default = args.directory / "config" / "config.yaml"
    configfiles = ([default] if default.exists() else []) + [
        path if path.is_absolute() or path.exists() else args.directory / path for path in args.configfile
    ]
    if not configfiles:
        parser.error(f"no config: neither {default} nor --configfile")
    return configfiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="what every run of a config is doing (from the runs' own files)")
    parser.add_argument(
        "--configfile",
        "--configfiles",
        nargs="+",
        action="extend",
        type=Path,
        default=[],
        metavar="FILE",
        help="as for snakemake: merged in order over config/config.yaml of the working directory (several files, "
        "or the option repeated)",
    )
    parser.add_argument("--directory", type=Path, default=Path("."), help="the working directory (with results/)")
    args = parser.parse_args(argv)
    configfiles = config_paths(parser, args)
    from snakemake.exceptions import WorkflowError  # the schema's verdict

    try:
        config = config_files.load_config(configfiles)
    except (lssd_config.ConfigError, WorkflowError) as error:
        print(f"error: invalid config ({', '.join(map(str, configfiles))}): {error}", file=sys.stderr)
        return 2
    try:
        report(args.directory, config)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (head, less) has gone: the rest is not wanted, and Python's own flush at exit must not fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def report(workdir: Path, config: dict) -> None:
    runs = lssd_config.runs(config)
    for dataset, direction, method, seed in runs:
        print("\n".join(run_status(workdir, config, dataset, direction, method, seed).lines()))
    for path in other_runs(workdir, runs):
        print(f"{path}: not a run of this config (another --configfile, or a method since removed?)")
    print(disk_line(workdir, runs))


def disk_line(workdir: Path, runs: list[tuple[str, str, str, int]]) -> str:
    """What the config's runs hold on disk, what the runs moved aside in them hold (a changed config or data moves
    a run aside, and nothing deletes it), and the space left there."""
    directories = [workdir / layout.run_dir(*run) for run in runs]
    held = sum(run_bytes(directory) for directory in directories)
    stale = [entry for directory in directories for entry in stale_runs(directory / layout.CHECKPOINTS)]
    line = f"disk: {gigabytes(held)} in the runs of this config"
    if stale:
        line += (
            f", {gigabytes(sum(size for _, size in stale))} in {len(stale)} run{'s' if len(stale) > 1 else ''} moved "
            "aside in them (checkpoints.stale-*: no training reads them; delete those you no longer want)"
        )
    where = existing(Path(os.path.commonpath(directories))).resolve()  # results/ may be a link to a scratch disk
    return line + f"; {gigabytes(free_bytes(where))} free on the file system of {where}"


if __name__ == "__main__":
    sys.exit(main())
