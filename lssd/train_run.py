"""Run ``fairseq-train`` for one run of the DAG, resumably, and publish its final artifacts atomically.

* The checkpoint directory (``--save-dir``) is never a Snakemake output, so a killed or timed-out job that is
  started again resumes from ``checkpoint_last.pt`` (fairseq's own resume).
* The exact ``fairseq-train`` arguments are kept in ``<save-dir>/run_args.json``. If a rerun asks for different
  settings (the config changed), the old directory is moved aside to ``<save-dir>.stale-<time>``, never
  silently resumed and never deleted.
* The device flags are chosen here, at run time: ``--cpu`` without CUDA, ``--fp16`` on a GPU when asked for.
* When training ends, ``checkpoint_best.pt`` (the lowest overall dev loss), the per-pair history and the LSSD
  records are copied to the rule's declared outputs.

Usage::

    python -m lssd.train_run --save-dir DIR --best OUT.pt --history OUT.json [--records OUT.json] [--fp16] \
        -- <fairseq-train args>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lssd.cli import device_arguments, split_passthrough
from lssd.io import copy_file, write_json

ARGS_FILE = "run_args.json"


def prepare_save_dir(save_dir: Path, args: list[str]) -> None:
    """Create the save dir, or move an existing one aside when it was trained with different arguments."""
    record = save_dir / ARGS_FILE
    reason = None
    if record.exists():
        if json.loads(record.read_text(encoding="utf-8")) == args:
            print(f"resuming in {save_dir} (same arguments)", flush=True)
            return
        reason = "the training arguments changed"
    elif save_dir.exists() and any(save_dir.glob("checkpoint*.pt")):
        reason = f"{save_dir} has checkpoints of unknown settings"
    if reason:
        stale = save_dir.with_name(f"{save_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        print(f"{reason}: moving the old {save_dir} to {stale}", flush=True)
        os.replace(save_dir, stale)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, args)


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.train_run", "fairseq-train")
    if parts is None:
        return 2
    own_args, fairseq_args = parts
    parser = argparse.ArgumentParser(description="resumable fairseq-train for one run")
    parser.add_argument("--save-dir", required=True, type=Path)
    parser.add_argument("--best", required=True, type=Path, help="where to copy checkpoint_best.pt")
    parser.add_argument("--history", required=True, type=Path, help="where to copy the per-pair history")
    parser.add_argument("--records", type=Path, help="where to copy the LSSD records (teachers, switch, gates)")
    parser.add_argument("--fp16", action="store_true", help="train in fp16 when a GPU is used")
    options = parser.parse_args(own_args)

    prepare_save_dir(options.save_dir, fairseq_args)
    command = [sys.executable, "-m", "fairseq_cli.train", *fairseq_args, *device_arguments(options.fp16)]
    print("$ " + " ".join(command), flush=True)
    completed = subprocess.run(command)
    if completed.returncode != 0:
        print(f"fairseq-train failed with exit code {completed.returncode}", file=sys.stderr)
        return completed.returncode

    published = {
        options.save_dir / "history.json": options.history,
        options.save_dir / "records.json": options.records,
        options.save_dir / "checkpoint_best.pt": options.best,  # last: the rule's main output
    }
    for source, target in published.items():
        if target is None:
            continue
        if not source.exists():
            print(f"fairseq-train finished but {source} is missing", file=sys.stderr)
            return 1
        copy_file(source, target)
        print(f"published {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
