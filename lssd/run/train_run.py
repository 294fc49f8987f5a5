"""Run ``fairseq-train`` for one run of the DAG, resumably, and publish its final artifacts atomically.

* The checkpoint directory (``--save-dir``) is never a Snakemake output, so a killed or timed-out job that is
  started again resumes from ``checkpoint_last.pt`` (fairseq's own resume).
* A run's identity is kept in ``<save-dir>/run_args.json``: the ``fairseq-train`` arguments that define the model
  (not the logging or checkpoint-retention flags, not ``--user-dir``: ``lssd.run.commands.identity_arguments``) and
  a SHA-256 of every data-bin file training reads (dictionaries, ``lang_list.txt``, ``LS_dict.*``, train and
  valid binaries). A rerun with another identity (the config or the data changed) moves the old directory aside
  to ``<save-dir>.stale-<time>`` and trains from scratch: never resumed with other data, never deleted. A raised
  ``--max-epoch`` is the same run trained longer: it resumes; one lowered below the epochs already trained is
  another run.
* One trainer per run: ``<save-dir>.lock`` is held (``flock``) for the training's lifetime, by this runner and
  the fairseq processes it starts (they inherit it, so it stays held by a trainer left running after its
  Snakemake was killed); a second runner waits ``--lock-wait`` seconds, then stops naming the holder.
* An unreadable or missing ``checkpoint_last.pt`` (fairseq copies it non-atomically: a kill during the copy
  tears it) is replaced by the newest readable checkpoint before fairseq resumes, which says so in the log.
* Every attempt's output is also kept in ``<save-dir>/logs/attempt-<N>.log`` (Snakemake deletes a job's log
  when it starts the job again).
* The device flags are chosen here, at run time: ``--cpu`` without CUDA, ``--fp16`` on a GPU when asked for,
  and the data-parallel world size: every GPU the job sees (``--distributed-world-size N``; fairseq spawns one
  process per GPU on this node), or without a GPU ``--cpu-workers N`` CPU processes (default 1) that this
  runner starts itself, one ``fairseq-train`` per rank, joined by gloo over loopback (``lssd.run.cli``).
* When training ends, ``checkpoint_best.pt`` (the lowest overall dev loss), the per-pair history and the LSSD
  records are copied to the rule's declared outputs, and, unless ``--keep-epoch-checkpoints``, the epoch and
  mid-epoch checkpoints (kept during training as the fallback above) are deleted.

Usage::

    python -m lssd.run.train_run --save-dir DIR --best OUT.pt --history OUT.json [--records OUT.json] [--fp16] \
        [--cpu-workers N] [--log-interval N] [--keep-epoch-checkpoints] -- <fairseq-train args>
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from lssd.io import copy_file, write_json
from lssd.run import gpus
from lssd.run.cli import (
    cpu_worker_environment,
    file_init_method,
    process_arguments,
    split_passthrough,
    visible_gpu_count,
)
from lssd.run.commands import identity_arguments, option_value, runtime_train_arguments

ARGS_FILE = "run_args.json"
IDENTITY_FORMAT = 2
FAIRSEQ_TRAIN = (sys.executable, "-m", "fairseq_cli.train")
# the data-bin files fairseq-train reads (the test split and the manifest do not change a trained model)
TRAINING_DATA = re.compile(r"(dict\..*\.txt|LS_dict\..*\.txt|lang_list\.txt|(train|valid)\..*\.(bin|idx))")
EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+|_\d+_\d+)\.pt")
Say = Callable[[str], None]


def data_fingerprint(data_bin: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every data-bin file that training reads, by file name."""
    root = Path(data_bin)
    if not root.is_dir():
        raise FileNotFoundError(f"data-bin {root} does not exist")
    digests = {}
    for path in sorted(root.iterdir()):
        if path.is_file() and TRAINING_DATA.fullmatch(path.name):
            with open(path, "rb") as handle:
                digests[path.name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def run_identity(args: list[str]) -> dict:
    """What defines a run's model: its model-defining arguments and the data it trains on (the data-bin is the
    first, positional, fairseq argument)."""
    return {"format": IDENTITY_FORMAT, "args": identity_arguments(args), "data": data_fingerprint(args[0])}


def trained_epochs(save_dir: Path) -> int:
    """Epochs the run in ``save_dir`` has validated (its history file), 0 when unknown."""
    try:
        history = json.loads((save_dir / "history.json").read_text(encoding="utf-8"))
        return max((len(values) for values in history.values()), default=0)
    except (OSError, ValueError, AttributeError):
        return 0


def identity_change(recorded, wanted: dict) -> str | None:
    """Why a save dir recorded with ``recorded`` cannot be resumed as ``wanted``; None when it can."""
    if isinstance(recorded, list):  # written by an earlier version: the full argument list, no data
        recorded = {"args": identity_arguments(recorded), "data": None}
    if not isinstance(recorded, dict) or recorded.get("args") != wanted["args"]:
        return "the training arguments changed"
    if recorded.get("data") is not None and recorded["data"] != wanted["data"]:
        old, new = recorded["data"], wanted["data"]
        changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
        return f"the training data changed ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})"
    return None


def move_aside(save_dir: Path, reason: str, say: Say) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stale = save_dir.with_name(f"{save_dir.name}.stale-{stamp}")
    number = 1
    while stale.exists():  # moved aside twice in one second
        number += 1
        stale = save_dir.with_name(f"{save_dir.name}.stale-{stamp}-{number}")
    say(f"{reason}: moving the old {save_dir} to {stale}")
    os.replace(save_dir, stale)


def prepare_save_dir(save_dir: Path, args: list[str], say: Say = print) -> None:
    """Create the save dir, or move an existing one aside when it holds another run (see the module's doc)."""
    wanted = run_identity(args)
    record = save_dir / ARGS_FILE
    reason = None
    if record.exists():
        try:
            recorded = json.loads(record.read_text(encoding="utf-8"))
            reason = identity_change(recorded, wanted)
        except ValueError:
            recorded, reason = None, f"{record} is unreadable"
        max_epoch = option_value(args, "--max-epoch")
        done = trained_epochs(save_dir)
        if reason is None and max_epoch is not None and 0 < int(max_epoch) < done:
            reason = f"max_epoch {max_epoch} is below the {done} epochs this run has trained"
        if reason is None:
            detail = f"{done} epochs trained, max_epoch {max_epoch}" if done else "no epoch finished yet"
            if isinstance(recorded, list) or recorded.get("data") is None:
                # an earlier version recorded the arguments only: the data is recorded from now on
                write_json(record, wanted)
                say(f"resuming in {save_dir} (same arguments; its data was not recorded, from now on it is; {detail})")
            else:
                say(f"resuming in {save_dir} (same arguments and data; {detail})")
            return
    elif save_dir.exists() and any(save_dir.glob("checkpoint*.pt")):
        reason = f"{save_dir} has checkpoints of unknown settings"
    if reason:
        move_aside(save_dir, reason, say)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, wanted)


def readable_checkpoint(path: Path) -> bool:
    """A complete torch checkpoint (its zip directory present and every member's CRC right)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def recover_last_checkpoint(save_dir: Path, say: Say = print) -> bool:
    """Make ``checkpoint_last.pt`` readable before fairseq resumes from it; False when nothing readable is left.

    fairseq writes its first checkpoint of a save atomically and copies it to the others (``checkpoint_best.pt``,
    ``checkpoint_last.pt``) in place: a kill during that copy leaves a torn file that every retry would fail on.
    The newest readable checkpoint replaces it (the epoch checkpoint kept for this purpose holds the same state;
    the task then restores the history, teachers and records from it).
    """
    last = save_dir / "checkpoint_last.pt"
    if last.exists() and readable_checkpoint(last):
        return True
    others = [path for path in save_dir.glob("checkpoint*.pt") if path.name != last.name]
    if not last.exists() and not others:
        return True  # a new run
    for candidate in sorted(others, key=lambda path: path.stat().st_mtime_ns, reverse=True):
        if readable_checkpoint(candidate):
            state = "is unreadable (torn by a kill during fairseq's copy)" if last.exists() else "is missing"
            say(f"{last} {state}: resuming from {candidate.name}, the newest readable checkpoint")
            copy_file(candidate, last)
            return True
    return False


def prune_fallback_checkpoints(save_dir: Path, say: Say = print) -> None:
    """After a finished training: delete the epoch and mid-epoch checkpoints (``checkpoint_last.pt`` verified)."""
    if not readable_checkpoint(save_dir / "checkpoint_last.pt"):
        say(f"keeping the epoch checkpoints: {save_dir / 'checkpoint_last.pt'} is not readable")
        return
    for path in save_dir.iterdir():
        if EPOCH_CHECKPOINT.fullmatch(path.name):
            path.unlink()


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


def training_commands(
    fairseq_args: list[str],
    *,
    gpu_count: int,
    fp16: bool = False,
    cpu_workers: int = 1,
    init_method: str | None = None,
    program: tuple[str, ...] | None = None,
) -> list[list[str]]:
    """The ``fairseq-train`` command of each process to start: one, or one per CPU worker.

    ``--cpu`` among the fairseq arguments means CPU training whatever GPUs are visible. ``program`` is the
    command line that runs fairseq-train (default ``FAIRSEQ_TRAIN``; the tests substitute an instrumented one).
    """
    if "--cpu" in fairseq_args:
        gpu_count = 0
    base = [*(program or FAIRSEQ_TRAIN), *fairseq_args]
    flags = process_arguments(gpu_count=gpu_count, fp16=fp16, cpu_workers=cpu_workers, init_method=init_method)
    return [[*base, *process_flags] for process_flags in flags]


def run_processes(
    commands: list[list[str]],
    env: dict[str, str] | None = None,
    poll_s: float = 0.2,
    log: AttemptLog | None = None,
    pass_fds: tuple[int, ...] = (),
) -> int:
    """Run the workers of one training together; 0 when all succeed, else the first failure's exit code.

    When one worker fails the others are stopped: they would otherwise wait forever in their next collective.
    Their output goes to this process's stdout and, with ``log``, to the attempt's log file too. ``pass_fds``
    are inherited by every worker (the run's lock).
    """
    for command in commands:
        message = "$ " + " ".join(command)
        log.say(message) if log else print(message, flush=True)
    processes: list[subprocess.Popen] = []
    reader, writer = os.pipe()
    copier = threading.Thread(target=copy_output, args=(reader, log), daemon=True)
    copier.start()
    # a SIGTERM (Snakemake cancelling the job) stops the workers too, through the finally below
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM)) if in_main_thread else None
    try:
        try:
            for command in commands:
                processes.append(subprocess.Popen(command, env=env, stdout=writer, stderr=writer, pass_fds=pass_fds))
        finally:
            os.close(writer)  # the workers hold the only write ends: the copier stops when they all exit
        while True:
            codes = [process.poll() for process in processes]
            failed = [code for code in codes if code not in (None, 0)]
            if failed:
                return failed[0]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(poll_s)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        copier.join(timeout=30)


def copy_output(reader: int, log: AttemptLog | None) -> None:
    """Copy the workers' output (one pipe) to stdout and the attempt log until every worker has closed it."""
    with os.fdopen(reader, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            if log is not None:
                log.write_bytes(chunk)
            else:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()


def train(
    fairseq_args: list[str],
    *,
    fp16: bool = False,
    cpu_workers: int = 1,
    program: tuple[str, ...] | None = None,
    log: AttemptLog | None = None,
    pass_fds: tuple[int, ...] = (),
) -> int:
    """Train with the device flags of this machine; the exit code of the (first failed) process."""
    gpu_count = visible_gpu_count()
    with tempfile.TemporaryDirectory(prefix="lssd-rendezvous-") as rendezvous:
        # a fresh store file per start: a stale one from a killed run would make the workers hang
        init_method = file_init_method(os.path.join(rendezvous, "store"))
        commands = training_commands(
            fairseq_args,
            gpu_count=gpu_count,
            fp16=fp16,
            cpu_workers=cpu_workers,
            init_method=init_method,
            program=program,
        )
        if cpu_workers > 1 and len(commands) == 1:
            print(f"--cpu-workers {cpu_workers} ignored: training on the GPUs this job sees", flush=True)
        env = None
        if len(commands) > 1:
            interfaces = [name for _, name in socket.if_nameindex()]
            env = cpu_worker_environment(dict(os.environ), len(commands), interfaces, os.cpu_count() or 1)
        return run_processes(commands, env, log=log, pass_fds=pass_fds)


def parse_options(own_args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="resumable fairseq-train for one run")
    parser.add_argument("--save-dir", required=True, type=Path)
    parser.add_argument("--best", required=True, type=Path, help="where to copy checkpoint_best.pt")
    parser.add_argument("--history", required=True, type=Path, help="where to copy the per-pair history")
    parser.add_argument("--records", type=Path, help="where to copy the LSSD records (teachers, switch, gates)")
    parser.add_argument("--fp16", action="store_true", help="train in fp16 when a GPU is used")
    parser.add_argument(
        "--cpu-workers",
        type=int,
        default=1,
        metavar="N",
        help="without a GPU: train data-parallel in N CPU processes (gloo, loopback only); ignored on GPUs",
    )
    parser.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="GPUs this job was given (the rule's gpu resource): claims N distinct GPUs of a shared machine, "
        "0 hides them (lssd.run.gpus); default: use what CUDA_VISIBLE_DEVICES shows",
    )
    parser.add_argument("--log-interval", type=int, default=100, metavar="N", help="fairseq's --log-interval")
    parser.add_argument(
        "--keep-epoch-checkpoints",
        action="store_true",
        help="keep every epoch checkpoint (default: only checkpoint_last.pt, checkpoint_best.pt and the teachers)",
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="write TensorBoard logs to <save-dir>/tensorboard (fairseq's --tensorboard-logdir)",
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for another trainer of this run to end before giving up",
    )
    options = parser.parse_args(own_args)
    if options.cpu_workers < 1:
        parser.error("--cpu-workers must be at least 1")
    return options


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.run.train_run", "fairseq-train")
    if parts is None:
        return 2
    own_args, model_args = parts
    options = parse_options(own_args)
    fairseq_args = [
        *model_args,
        *runtime_train_arguments(
            log_interval=options.log_interval,
            keep_epoch_checkpoints=options.keep_epoch_checkpoints,
            tensorboard_dir=str(options.save_dir / "tensorboard") if options.tensorboard else None,
        ),
    ]
    log = AttemptLog()
    try:
        with training_lock(options.save_dir, wait_s=options.lock_wait) as lock_fd:
            prepare_save_dir(options.save_dir, fairseq_args, log.say)
            log.open(options.save_dir)
            if not recover_last_checkpoint(options.save_dir, log.say):
                move_aside(options.save_dir, f"no readable checkpoint in {options.save_dir}", log.say)
                log.close()
                prepare_save_dir(options.save_dir, fairseq_args, log.say)
                log.open(options.save_dir)
            returncode = claim_gpus_and_train(options, fairseq_args, log, lock_fd)
            if returncode == 0:
                returncode = publish(options, log)
    except RunLocked as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 3
    finally:
        log.close()
    return returncode


def claim_gpus_and_train(options: argparse.Namespace, fairseq_args: list[str], log: AttemptLog, lock_fd: int) -> int:
    try:
        with gpus.claim(options.gpus or 0, setting="run.gpus_per_training") as devices:
            if options.gpus is not None:
                # before torch is imported: CUDA reads the variable once, when it initialises
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
                if devices:
                    log.say(f"using GPU(s) {','.join(devices)}")
            returncode = train(
                fairseq_args, fp16=options.fp16, cpu_workers=options.cpu_workers, log=log, pass_fds=(lock_fd,)
            )
    except gpus.GPUError as error:
        log.say(f"error: {error}")
        return 2
    if returncode != 0:
        log.say(f"fairseq-train failed with exit code {returncode}")
    return returncode


def publish(options: argparse.Namespace, log: AttemptLog) -> int:
    """Copy the finished run's artifacts to the rule's outputs (the best checkpoint last: the main output)."""
    save_dir = options.save_dir
    published = {
        save_dir / "history.json": options.history,
        save_dir / "records.json": options.records,
        save_dir / "checkpoint_best.pt": options.best,
    }
    for source, target in published.items():
        if target is None:
            continue
        if not source.exists():
            log.say(f"fairseq-train finished but {source} is missing")
            return 1
        if source.suffix == ".pt" and not readable_checkpoint(source):
            log.say(
                f"fairseq-train finished but {source} is unreadable: delete it and {save_dir / 'checkpoint_last.pt'}"
            )
            return 1
        copy_file(source, target)
        log.say(f"published {target}")
    if not options.keep_epoch_checkpoints:
        prune_fallback_checkpoints(save_dir, log.say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
