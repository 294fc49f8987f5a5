"""One trainer per run (``<save-dir>.lock``, held by the runner and the fairseq processes it starts) and every
attempt's output kept in ``<save-dir>/logs/attempt-<N>.log``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
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


class AttemptLog:
    """This attempt's console output, also kept in ``<save-dir>/logs/attempt-<N>.log``."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.handle = None
        self.pending: list[str] = []

    def say(self, message: str) -> None:
        print(message, flush=True)
        if self.handle is None:
            self.pending.append(message + "\n")
        else:
            self.handle.write(message + "\n")
            self.handle.flush()

    def open(self, save_dir: Path) -> None:
        (save_dir / "logs").mkdir(parents=True, exist_ok=True)
        previous = attempt_logs(save_dir)
        number = int(ATTEMPT_LOG.fullmatch(previous[-1].name).group(1)) + 1 if previous else 1
        self.path = save_dir / "logs" / f"attempt-{number}.log"
        self.handle = open(self.path, "a", encoding="utf-8")
        self.handle.write(
            f"# attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on {socket.gethostname()}, pid {os.getpid()}\n"
        )
        self.handle.writelines(self.pending)
        self.handle.flush()
        self.pending = []
        print(f"this attempt's log: {self.path}", flush=True)

    def write_bytes(self, data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        if self.handle is not None:
            self.handle.write(data.decode("utf-8", errors="replace"))
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
