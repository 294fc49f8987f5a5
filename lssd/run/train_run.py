"""Run ``fairseq-train`` for one run of the DAG, resumably, and publish its final artifacts atomically.

* The checkpoint directory (``--save-dir``) is never a Snakemake output, so a killed or timed-out job that is
  started again resumes from ``checkpoint_last.pt`` (fairseq's own resume), once the run's identity is checked
  (``lssd.run.identity``: another config or other data moves the old directory aside and trains from scratch).
* One trainer per run, every attempt's output kept in ``<save-dir>/logs/attempt-<N>.log`` (``lssd.run.attempts``);
  a torn ``checkpoint_last.pt`` is replaced by the newest readable checkpoint (``lssd.run.checkpoints``).
* The device flags are chosen here, at run time: ``--cpu`` without CUDA, ``--fp16`` on a GPU when asked for,
  and the data-parallel world size: every GPU the job sees (``--distributed-world-size N``; fairseq spawns one
  process per GPU on this node), or without a GPU ``--cpu-workers N`` CPU processes (default 1) that this
  runner starts itself, one ``fairseq-train`` per rank, joined by gloo over loopback (``lssd.run.cli``).
* When training ends, ``checkpoint_best.pt`` (the lowest overall dev loss), the per-pair history and the LSSD
  records are copied to the rule's declared outputs, once every pair's best checkpoint (``<save-dir>/teachers``,
  unless ``--no-pair-best``) is checked, and, unless ``--keep-epoch-checkpoints``, the epoch and mid-epoch
  checkpoints (kept during training as the fallback above) are deleted, as is a ``crash.pt`` (fairseq's state at
  a training step that failed in an earlier attempt; the attempt's log names it).

Usage::

    python -m lssd.run.train_run --save-dir DIR --best OUT.pt --history OUT.json [--records OUT.json] [--fp16] \
        [--cpu-workers N] [--log-interval N] [--keep-epoch-checkpoints] [--no-pair-best] -- <fairseq-train args>
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lssd import layout
from lssd.io import copy_file
from lssd.run import gpus, resume
from lssd.run.attempts import DISK_FULL_ERRNOS, AttemptLog, RunLocked, training_lock
from lssd.run.checkpoints import (
    crash_checkpoint_note,
    prune_fallback_checkpoints,
    readable_checkpoint,
    recover_last_checkpoint,
    remove_crash_checkpoint,
)
from lssd.run.cli import split_passthrough, world_size
from lssd.run.commands import runtime_train_arguments
from lssd.run.disk_space import disk_full_note, free_bytes, remove_partial_saves, space_problem
from lssd.run.identity import (
    devices_change,
    move_aside,
    prepare_save_dir,
    read_record,
    record_devices,
    trained_epochs,
    update_devices,
)
from lssd.run.processes import train
from lssd.run.software import note_software


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
    gpus.add_job_gpu_options(parser, "run.gpus_per_training")
    parser.add_argument("--log-interval", type=int, default=100, metavar="N", help="fairseq's --log-interval")
    parser.add_argument(
        "--keep-epoch-checkpoints",
        action="store_true",
        help="keep every epoch checkpoint (default: only checkpoint_last.pt, checkpoint_best.pt and the teachers)",
    )
    parser.add_argument(
        "--no-pair-best",
        action="store_true",
        help="keep no per-pair best checkpoints (evaluation.per_pair_best false; default: a model-only file of each "
        "pair's best epoch in <save-dir>/teachers, an LSSD run's teachers being the same files)",
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
            pair_best_checkpoints=not options.no_pair_best,
        ),
    ]
    log = AttemptLog()
    try:
        with training_lock(options.save_dir, wait_s=options.lock_wait) as lock_fd:
            try:
                need_cuda = "--cpu" not in fairseq_args
                given = gpus.given_gpus(options.gpus, options.gres)
                with gpus.job_gpus(given, setting="run.gpus_per_training", say=log.say, need_cuda=need_cuda):
                    return resume_and_train(options, fairseq_args, log, lock_fd)
            except OSError as error:
                if error.errno not in DISK_FULL_ERRNOS:
                    raise
                # the runner's own writes (publishing, a record): what fairseq trained is in its checkpoints
                log.say(f"error: {error}: {disk_full_note(options.save_dir)}")
                return 1
            except gpus.GPUError as error:
                log.say(f"error: {error}")
                if log.handle is None:
                    log.open(options.save_dir)  # the attempt's log keeps why it stopped
                return 2
    except RunLocked as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 3
    finally:
        log.close()


def training_devices(options: argparse.Namespace, fairseq_args: list[str]) -> tuple[int, dict]:
    """The GPUs this job trains on (0 with ``--cpu``), and the devices that shape its updates (its identity's)."""
    gpu_count = 0 if "--cpu" in fairseq_args else gpus.visible_gpu_count()
    workers = world_size(gpu_count=gpu_count, cpu_workers=options.cpu_workers)
    return gpu_count, update_devices(workers, fairseq_args, options.fp16 and gpu_count > 0)


def prepare_run(options: argparse.Namespace, fairseq_args: list[str], devices: dict, log: AttemptLog):
    """The save dir ready to train in (a run of another identity moved aside, a torn checkpoint_last.pt
    replaced), this attempt's log open; the progress of the checkpoint it resumes from (None: a new run)."""
    save_dir = options.save_dir
    if save_dir.is_dir():
        remove_partial_saves(save_dir, log.say)
    prepare_save_dir(save_dir, fairseq_args, log.say, devices=devices, trained_updates=resume.trained_updates)
    log.open(save_dir)
    if not recover_last_checkpoint(save_dir, log.say):
        move_aside(save_dir, f"no readable checkpoint in {save_dir}", log.say)
        log.close()
        prepare_save_dir(save_dir, fairseq_args, log.say, devices=devices)
        log.open(save_dir)
    return resume.checkpoint_progress(save_dir)


def devices_problem(save_dir: Path, devices: dict, progress) -> str | None:
    """Why the run cannot resume on these devices (another batch per update or precision for its rest); else the
    devices are recorded (a new run, a run killed before its first checkpoint, a record of an earlier version)."""
    recorded = read_record(save_dir).get("devices")
    change = devices_change(recorded, devices) if progress is not None else None
    if change:
        return (
            f"{change}. The rest of the run would be another experiment: restore the setting (the GPUs per training "
            "or run.cpu_workers_per_training, max_tokens × update_freq, run.fp16), or start the run anew: move it "
            f"aside (mv {save_dir} {save_dir}.stale-manual) and run again"
        )
    record_devices(save_dir, devices)
    return None


def resume_and_train(options: argparse.Namespace, fairseq_args: list[str], log: AttemptLog, lock_fd: int) -> int:
    gpu_count, devices = training_devices(options, fairseq_args)
    progress = prepare_run(options, fairseq_args, devices, log)
    note_software(options.save_dir, log.say)
    if progress is not None and resume.finished(progress, fairseq_args):
        epochs = trained_epochs(options.save_dir)
        log.say(f"the run is already trained ({epochs} epochs, {progress.updates} updates): "
                "publishing its outputs without starting fairseq")  # fmt: skip
        return publish(options, log, distils=resume.distils(fairseq_args))
    problem = devices_problem(options.save_dir, devices, progress)
    if progress is not None:
        problem = problem or resume.check_teachers(options.save_dir, progress, fairseq_args, log.say)
        problem = problem or space_problem(options.save_dir, free_bytes(options.save_dir))
    if problem:
        log.say(f"error: {problem}")
        return 2
    started_ns = time.time_ns()
    returncode = train(
        fairseq_args,
        fp16=options.fp16,
        cpu_workers=options.cpu_workers,
        log=log,
        pass_fds=(lock_fd,),
        gpu_count=gpu_count,
    )
    if returncode != 0:
        remove_partial_saves(options.save_dir, log.say)  # first: on a full disk, the space for what is said here
        log.say(f"fairseq-train failed with exit code {returncode}")
        if log.disk_full:
            log.say(f"error: {disk_full_note(options.save_dir)}")
        note = crash_checkpoint_note(options.save_dir, started_ns)
        if note:
            log.say(note)
        return returncode
    return publish(options, log, distils=resume.distils(fairseq_args))


def publish(options: argparse.Namespace, log: AttemptLog, distils: bool = False) -> int:
    """Copy the finished run's artifacts to the rule's outputs (the best checkpoint last: the main output); an LSSD
    run (``distils``) keeps its teachers' files."""
    save_dir = options.save_dir
    problem = None if options.no_pair_best else resume.check_pair_best(save_dir, log.say)
    if problem:
        # a warning, not a failure: the model is the result (the per-pair best evaluation names the file again,
        # and the workflow leaves the run out of the per-pair best rows from its next start)
        log.say(f"warning: {problem}; the run is published without a per-pair best evaluation")
    published = {
        save_dir / layout.HISTORY: options.history,
        save_dir / layout.RECORDS: options.records,
        save_dir / layout.BEST: options.best,
    }
    for source, target in published.items():
        if target is None:
            continue
        if not source.exists():
            log.say(f"training finished but {source} is missing")
            return 1
        if source.suffix == ".pt" and not readable_checkpoint(source):
            log.say(f"training finished but {source} is unreadable: delete it and {save_dir / 'checkpoint_last.pt'}")
            return 1
        copy_file(source, target)
        log.say(f"published {target}")
    if not options.keep_epoch_checkpoints:
        prune_fallback_checkpoints(save_dir, log.say)
    remove_crash_checkpoint(save_dir, log.say)
    resume.prune_kept_files(save_dir, pair_best=not options.no_pair_best, teachers=distils)
    return 0


if __name__ == "__main__":
    sys.exit(main())
