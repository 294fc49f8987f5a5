"""One trainer per run (``<save-dir>.lock``, held by the runner and the fairseq processes it starts) and every
attempt's output kept in ``<save-dir>/logs/attempt-<N>.log``."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def lock_holders(lock_path: Path) -> list[str]:
    """The local processes that have ``lock_path`` open, as 'pid (command)'."""
    holders = []
    target = os.path.realpath(lock_path)
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.path.realpath(f"/proc/{entry}/fd/{fd}") == target for fd in fds):
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                holders.append(f"{entry} ({command.strip()[:120]})")
        except OSError:
            continue
    return holders


def run_lock_path(save_dir: Path) -> Path:
    """``<save-dir>.lock``: beside the save dir, so that it stays put when the save dir is moved aside."""
    return save_dir.with_name(save_dir.name + ".lock")


ATTEMPT_LOG = re.compile(r"attempt-(\d+)\.log")


def attempt_logs(save_dir: Path) -> list[Path]:
    """The run's attempt logs (``<save-dir>/logs/attempt-<N>.log``), oldest first."""
    logs = save_dir / "logs"
    numbered = []
    for path in logs.glob("attempt-*.log"):
        match = ATTEMPT_LOG.fullmatch(path.name)
        if match:
            numbered.append((int(match.group(1)), path))
    return [path for _, path in sorted(numbered)]


class RunLocked(RuntimeError):
    """Another trainer holds the run's lock."""


@contextlib.contextmanager
def training_lock(save_dir: Path, wait_s: float = 0.0, poll_s: float = 0.5) -> Iterator[int]:
    """Hold ``<save-dir>.lock`` (flock) for the block; yields the descriptor, for the trainer processes to inherit.

    Raises :class:`RunLocked` naming the holder when another trainer still holds it after ``wait_s`` seconds.
    """
    lock_path = run_lock_path(save_dir)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    recorded = Path(lock_path).read_text(encoding="utf-8", errors="replace").strip()
                    holders = lock_holders(lock_path)
                    raise RunLocked(
                        f"another trainer is training this run: {lock_path} is held ({recorded or 'no record'}"
                        + (f"; processes holding it here: {', '.join(holders)}" if holders else "")
                        + "). Wait for it to finish or stop it (kill the pids above), then run again."
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0
        )
        yield fd
    finally:
        os.close(fd)  # releases the lock unless a trainer process still has it open


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# what fairseq (or Python) prints when a write fails on a full disk or a quota: the runner reads it in the output
DISK_FULL_TEXTS = (b"No space left on device", b"Disk quota exceeded")


class BestEffortOutput:
    """Writes that never raise: what a failed write loses is counted, and said at the next write that succeeds."""

    def __init__(self, write_some: Callable[[memoryview], int]) -> None:
        self.write_some = write_some  # writes some of the bytes, returns how many (os.write's contract)
        self.lost = 0
        self.reason = ""

    def write(self, data: bytes) -> OSError | None:
        """Write ``data`` whole, or count what was lost; the error when a write failed."""
        lost = self.lost
        note = f"\n[lssd: {lost} bytes of output could not be written here ({self.reason})]\n" if lost else ""
        view = memoryview(note.encode() + data)
        try:
            while view:
                view = view[self.write_some(view) :]
        except OSError as error:
            self.reason = error.strerror or str(error)
            self.lost = lost + min(len(view), len(data))
            return error
        self.lost = 0
        return None


def write_stdout(data: memoryview) -> int:
    """Unbuffered to stdout's descriptor (so that a failed write is known, and lost, at once), after what print()
    buffered; through ``sys.stdout.buffer`` where stdout has no descriptor (a test's captured output)."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return len(data)
    try:
        sys.stdout.flush()
    except OSError:
        pass  # print()'s lines are lost then, not this write
    return os.write(descriptor, data)


class AttemptLog:
    """This attempt's console output, also kept in ``<save-dir>/logs/attempt-<N>.log``.

    Writing is best effort, never fatal: a failed write (a full disk under the log, or under the job's log that
    stdout goes to) costs those lines, not the training. The copier of fairseq's output would otherwise die with
    the error, and fairseq with it at its next line (a broken pipe), for a disk that may have room again by its next
    save. The lines that could not be kept are counted where they were lost as soon as it can be written again.
    ``disk_full`` says whether a write here failed for a full disk, or fairseq's output reported one.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.handle = None
        self.file: BestEffortOutput | None = None
        self.console = BestEffortOutput(write_stdout)
        self.pending: list[str] = []
        self.disk_full = False
        self.tail = b""  # the end of the previous output chunk: a phrase split between two chunks is still found

    def say(self, message: str) -> None:
        data = (message + "\n").encode()
        self.note(self.console.write(data))
        if self.file is None:
            self.pending.append(message + "\n")
        else:
            self.note(self.file.write(data))

    def open(self, save_dir: Path) -> None:
        self.path = save_dir / "logs" / f"attempt-{next_attempt_number(save_dir)}.log"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "ab", buffering=0)
        except OSError as error:  # a full disk: the attempt goes on, its output in the job's log only
            self.note(error)
            self.say(f"this attempt's log {self.path} cannot be written ({error.strerror or error})")
            return
        self.file = BestEffortOutput(self.handle.write)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        header = f"# attempt started {started} on {socket.gethostname()}, pid {os.getpid()}\n"
        self.note(self.file.write((header + "".join(self.pending)).encode()))
        self.pending = []
        self.note(self.console.write(f"this attempt's log: {self.path}\n".encode()))

    def write_bytes(self, data: bytes) -> None:
        """A chunk of the fairseq processes' output: to stdout and the attempt's log."""
        window = self.tail + data
        if any(text in window for text in DISK_FULL_TEXTS):
            self.disk_full = True
        self.tail = window[-64:]
        self.note(self.console.write(data))
        if self.file is not None:
            self.note(self.file.write(data))

    def note(self, error: OSError | None) -> None:
        if error is not None and error.errno in DISK_FULL_ERRNOS:
            self.disk_full = True

    def close(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError as error:
                self.note(error)
            self.handle = None
            self.file = None


def next_attempt_number(save_dir: Path) -> int:
    previous = attempt_logs(save_dir)
    return int(ATTEMPT_LOG.fullmatch(previous[-1].name).group(1)) + 1 if previous else 1
