"""What ``python -m lssd.run.status`` reads from a run's own files: whether its lock is held, its history, its attempt
logs (the epochs' durations, the distilling line, the last fairseq-train command, how the last attempt ended) and its
job's Snakemake and SLURM logs (SLURM's cancellation line). Only reading: no Snakemake, no fairseq."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lssd import layout
from lssd.io import DamagedFile, parse_json_file
from lssd.method.history import ALL

END_OF_EPOCH = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| INFO \| fairseq_cli\.train \| end of epoch (\d+) ")
DISTILLING = re.compile(r"\| LSSD epoch (\d+): distilling (.*)$")
# what lssd.run.train_run and lssd.run.attempts write into an attempt log
ATTEMPT_STARTED = re.compile(r"^# attempt started (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")
COMMAND = "$ "
FAILED = re.compile(r"fairseq-train failed with exit code (-?\d+)")
# lssd.run.gpus.describe_cuda's line: the GPUs an attempt was given, as torch saw them
CUDA_DEVICES = re.compile(r"^torch \S+ \(CUDA \S+\) sees \d+ GPU\(s\): (.+)$")
# a Python exception's last line, a logged error, an argparse or runner error
ERROR_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)\b.*|.*\| ERROR \|.*|.*\berror: .*)$")
# slurmstepd, on the job's stderr: "*** JOB 12 ON node1 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***"
SLURM_CANCELLED = re.compile(r"CANCELLED AT \S+(?: DUE TO ([A-Z][A-Z ]*[A-Z]))?")
# the default of snakemake-executor-plugin-slurm: <dir>/rule_<rule>/<wildcard values joined by _>/<jobid>.log
SLURM_LOGS = Path(".snakemake") / "slurm_logs" / "rule_train"
TAIL_BYTES = 65536
ERROR_SEARCH_LINES = 200


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


class HistoryUnreadable(ValueError):
    """A history file that is not what the task writes; the message names the file."""


def history_shape_error(data) -> str | None:
    """Why ``data`` is not ``{pair: [bits/token or null, ...], "all": [...]}``; None when it is."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object of per-pair lists"
    if ALL not in data:
        return f"no '{ALL}' list"
    for pair, values in data.items():
        numbers = isinstance(values, list) and all(
            value is None or isinstance(value, (int, float)) and not isinstance(value, bool) for value in values
        )
        if not numbers:
            return f"'{pair}' is not a list of losses"
    return None


def read_history(path: Path) -> dict[str, list]:
    try:
        data = parse_json_file(path)
    except DamagedFile as error:
        raise HistoryUnreadable(f"history unreadable: {path}: {error}") from None
    problem = history_shape_error(data)
    if problem:
        raise HistoryUnreadable(f"history unreadable: {path}: {problem}")
    return data


@dataclass
class LogFacts:
    durations: list[float] = field(default_factory=list)
    distilling: tuple[int, list[str]] | None = None
    command: list[str] | None = None  # the last fairseq-train command line an attempt ran
    devices: str = ""  # what that attempt trained on: its GPUs' names, "the CPU", or "" (not logged)
    problems: list[str] = field(default_factory=list)


def read_logs(log_paths: list[Path]) -> LogFacts:
    """From the attempt logs: the epochs' durations (between two ``end of epoch`` lines of one attempt), the last
    distilling line, the last fairseq-train command and what it trained on."""
    facts = LogFacts()
    for path in log_paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            facts.problems.append(f"attempt log unreadable: {path}: {error.strerror}")
            continue
        previous, cards = None, ""
        for line in text.splitlines():
            if line.startswith(COMMAND):
                facts.command = line[len(COMMAND) :].split()
                facts.devices = cards or ("the CPU" if "--cpu" in facts.command else "")
                continue
            match = CUDA_DEVICES.match(line)
            if match:
                cards = match.group(1)
                continue
            match = END_OF_EPOCH.match(line)
            if match:
                moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
                if previous is not None:
                    facts.durations.append((moment - previous).total_seconds())
                previous = moment
                continue
            match = DISTILLING.search(line)
            if match:
                pairs = [] if match.group(2) == "no pair" else match.group(2).split(", ")
                facts.distilling = (int(match.group(1)), pairs)
    return facts


def tail_lines(path: Path) -> list[str]:
    """The last lines of a log (its last 64 KiB: a long run's log is mostly training progress)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return lines[1:] if size > TAIL_BYTES else lines  # the first one is cut


def attempt_start(log: Path) -> float | None:
    """When an attempt started (its log's first line), as a time stamp; None when the log does not say."""
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
    except OSError:
        return None
    match = ATTEMPT_STARTED.match(first)
    return time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) if match else None


def job_logs(workdir: Path, dataset: str, direction: str, method: str, seed: int) -> list[Path]:
    """Where a training job's stderr (and so SLURM's cancellation line) goes: the rule's log file, and with the
    SLURM executor the newest of the job's SLURM logs (one per submission; a successful job's is deleted)."""
    rule_log = workdir / layout.log("train", dataset=dataset, direction=direction, method=method, seed=seed)
    slurm_dir = workdir / SLURM_LOGS / f"{dataset}_{direction}_{method}_{seed}"
    slurm = sorted(slurm_dir.glob("*.log"), key=lambda path: path.stat().st_mtime) if slurm_dir.is_dir() else []
    return [rule_log, *slurm[-1:]]


def slurm_cancellation(logs: list[Path], since: float | None) -> str | None:
    """SLURM's word on why it ended the job, from a job log written after ``since`` (the last attempt's start:
    an older job's time limit is not why this attempt stopped)."""
    for path in logs:
        # + 2 s: the attempt's start is logged to the second
        if not path.is_file() or (since is not None and path.stat().st_mtime + 2 < since):
            continue
        for line in reversed(tail_lines(path)):
            match = SLURM_CANCELLED.search(line)
            if match:
                due = match.group(1)
                what = "time limit" if due == "TIME LIMIT" else f"cancelled by SLURM ({(due or 'scancel').lower()})"
                return f"{what}: {line.strip()} ({path})"
    return None


def failure(code: int, before: list[str], log: Path) -> str:
    """A failed attempt: killed by a signal (a negative exit code), else its last error line."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory, or kill -9?)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}: fairseq-train exit code {code} ({log})"
    # near the failure only: a traceback (one per worker) is tens of lines; an error logged hours before is not it
    recent = before[-ERROR_SEARCH_LINES:]
    errors = [line.strip() for line in recent if ERROR_LINE.match(line) and not line.startswith(COMMAND)]
    if errors:
        return f"failed: {errors[-1]} (exit code {code}; {log})"
    return f"failed with exit code {code}, no error line in {log}"


def attempt_outcome(log: Path) -> str:
    """How an attempt ended, from the runner's last line in its log (it writes one unless it was killed)."""
    lines = tail_lines(log)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        match = FAILED.fullmatch(line)
        if match:
            # the runner's own diagnosis after the failure (a full disk) says more than fairseq's last error line
            said = [later.strip() for later in lines[index + 1 :] if later.startswith("error: ")]
            if said:
                return f"failed: {said[-1]} (exit code {match.group(1)}; {log})"
            return failure(int(match.group(1)), lines[:index], log)
        if line.startswith(("training finished but ", "fairseq-train finished but ")):  # (earlier versions)
            return f"failed: {line} ({log})"
        if line.startswith("published "):
            return f"its last attempt published its outputs, which are missing now ({log})"
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    if last.startswith("error: "):
        return f"failed: {last} ({log})"
    return f"cancelled or killed: {log} ends without a final status line (and the run's lock is free)"


def why_stopped(last_log: Path | None, job_log_paths: list[Path]) -> str:
    since = attempt_start(last_log) if last_log else None
    cancelled = slurm_cancellation(job_log_paths, since)
    if cancelled:
        return cancelled
    if last_log is None:
        return f"no attempt log: it stopped before training started (see {job_log_paths[0]})"
    return attempt_outcome(last_log)
