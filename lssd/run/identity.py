"""A run's identity (``<save-dir>/run_args.json``): the ``fairseq-train`` arguments that define the model
(``lssd.run.commands.identity_arguments``) and a SHA-256 of every data-bin file training reads. A run with another
identity moves the old checkpoint directory aside (``<save-dir>.stale-<time>``, never deleted) and trains from
scratch; a raised ``--max-epoch`` is the same run trained longer; one lowered below the epochs already trained is
another run."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from lssd.io import write_json
from lssd.run.commands import identity_arguments, option_value

Say = Callable[[str], None]


ARGS_FILE = "run_args.json"


IDENTITY_FORMAT = 2


# the data-bin files fairseq-train reads (the test split and the manifest do not change a trained model)
TRAINING_DATA = re.compile(r"(dict\..*\.txt|LS_dict\..*\.txt|lang_list\.txt|(train|valid)\..*\.(bin|idx))")


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
