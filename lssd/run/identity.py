"""A run's identity (``<save-dir>/run_args.json``): the ``fairseq-train`` arguments that define the model
(``lssd.run.commands.identity_arguments``) and a SHA-256 of every data-bin file training reads. A run with another
identity moves the old checkpoint directory aside (``<save-dir>.stale-<time>``, never deleted) and trains from
scratch; a raised ``--max-epoch`` or ``--max-update`` is the same run trained longer; one lowered below the epochs
or updates already trained is another run; a run moved aside earlier that is this run comes back.

The record also holds what one update trains on, on the devices of the run (:func:`update_devices`): the tokens
per update (data-parallel workers × ``--max-tokens`` × ``--update-freq``: 8 GPUs × 8192 × 1 and 4 GPUs × 8192 × 2
are the same run) and fp16. An unfinished run resumed with another (:func:`devices_change`) would train its rest
as another experiment: the runner stops before fairseq and says so (``lssd.run.train_run``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from lssd import layout
from lssd.io import write_json
from lssd.run.commands import flag, identity_arguments, option_value

Say = Callable[[str], None]


ARGS_FILE = "run_args.json"


IDENTITY_FORMAT = 3


# How the plugin trains what the arguments describe, where it changed without a flag changing: a run trained by
# another recipe is another run. 1: epochs of up to 1.5x the data under temperature sampling and each pair's last
# batch dropped (the installed fairseq); 2: an epoch of the data's size and every sampled sentence batched (the
# original's fork); 3: recipe 2 for a single-teacher run (--lssd-single-teacher), whose teacher now changes only on
# a strict improvement (in 2 a tie took the newer epoch; other runs are unchanged, so they stay 2). Records without
# a recipe were trained by 1.
TRAINING_RECIPE = 2
SINGLE_TEACHER_RECIPE = 3
SINGLE_TEACHER_FLAG = flag("lssd_single_teacher")  # as commands.model_arguments writes task_args
RECIPES = {
    1: "epochs of up to 1.5x the data, each pair's last batch dropped",
    2: "epochs of the data's size, every sampled sentence batched",
    3: "epochs of the data's size, every sampled sentence batched, the single teacher replaced only when the "
    "overall dev loss beats every earlier one",
}


def training_recipe(args: list[str]) -> int:
    """The recipe a run of ``args`` is trained by now."""
    return SINGLE_TEACHER_RECIPE if SINGLE_TEACHER_FLAG in args else TRAINING_RECIPE


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


# what of ``devices`` defines the run (the parts of the product are kept for the reader)
COMPARED_DEVICES = ("tokens_per_update", "fp16")


def update_devices(world_size: int, args: list[str], fp16: bool) -> dict:
    """What one update trains on: its tokens (workers × ``--max-tokens`` × ``--update-freq``, per epoch where that
    is a schedule ``1,2``) and whether it runs in fp16."""
    max_tokens = int(option_value(args, "--max-tokens") or 0)
    update_freq = option_value(args, "--update-freq") or "1"
    tokens = ",".join(str(world_size * max_tokens * int(freq)) for freq in update_freq.split(","))
    return {
        "tokens_per_update": tokens, "fp16": bool(fp16),
        "world_size": world_size, "max_tokens": max_tokens, "update_freq": update_freq,
    }  # fmt: skip


def describe_devices(devices: dict) -> str:
    return (
        f"{devices.get('world_size')} worker(s) × {devices.get('max_tokens')} tokens × update_freq "
        f"{devices.get('update_freq')} = {devices.get('tokens_per_update')} tokens per update, "
        f"{'fp16' if devices.get('fp16') else 'fp32'}"
    )


def devices_change(recorded: dict | None, devices: dict) -> str | None:
    """How resuming on ``devices`` would change what the run's updates train on; None when it would not (or when
    the record predates devices)."""
    if recorded is None or all(recorded.get(key) == devices.get(key) for key in COMPARED_DEVICES):
        return None
    return f"this run trained with {describe_devices(recorded)}; resumed now, it would train with " + describe_devices(
        devices
    )


def run_identity(args: list[str], devices: dict | None = None) -> dict:
    """What defines a run's model: its model-defining arguments and the data it trains on (the data-bin is the
    first, positional, fairseq argument); with the ``devices`` of a new run (:func:`update_devices`)."""
    identity = {
        "format": IDENTITY_FORMAT, "recipe": training_recipe(args),
        "args": identity_arguments(args), "data": data_fingerprint(args[0]),
    }  # fmt: skip
    return {**identity, "devices": devices} if devices is not None else identity


def record_devices(save_dir: Path, devices: dict) -> None:
    """Record the devices the run trains on from now on (a new run, or a record of an earlier version)."""
    record = read_record(save_dir)
    if isinstance(record, dict) and record.get("devices") != devices:
        write_json(save_dir / ARGS_FILE, {**record, "devices": devices})


def option_map(args: list[str]) -> dict[str, str | None]:
    """``--flag value`` pairs of an argument list (the first positional argument under ``data-bin``)."""
    options: dict[str, str | None] = {}
    current: str | None = "data-bin"  # the flag the next positional argument is a value of
    for arg in args:
        if arg.startswith("--"):
            name, inline, value = arg.partition("=")
            options[name] = value if inline else None
            current = None if inline else name
        elif current is not None:
            options[current] = arg if options.get(current) is None else f"{options[current]} {arg}"
        else:
            options[arg] = None
    return options


def argument_changes(old: list[str], new: list[str], limit: int = 6) -> str:
    """What changed between two argument lists: ``--lr 0.002 → 0.003, --dropout 0.3 added``."""
    before, after = option_map(old), option_map(new)
    changes = []
    for name in [*before, *(name for name in after if name not in before)]:
        if name not in after:
            changes.append(f"{name} removed")
        elif name not in before:
            changes.append(f"{name} {after[name]} added" if after[name] is not None else f"{name} added")
        elif before[name] != after[name]:
            changes.append(f"{name} {before[name]} → {after[name]}")
    more = f", and {len(changes) - limit} more" if len(changes) > limit else ""
    return ", ".join(changes[:limit]) + more


def trained_epochs(save_dir: Path) -> int:
    """Epochs the run in ``save_dir`` has validated (its history file), 0 when unknown."""
    try:
        history = json.loads((save_dir / layout.HISTORY).read_text(encoding="utf-8"))
        return max((len(values) for values in history.values()), default=0)
    except (OSError, ValueError, AttributeError):
        return 0


def identity_change(recorded, wanted: dict) -> str | None:
    """Why a save dir recorded with ``recorded`` cannot be resumed as ``wanted``; None when it can."""
    if isinstance(recorded, list):  # written by an earlier version: the full argument list, no data
        recorded = {"args": identity_arguments(recorded), "data": None}
    if not isinstance(recorded, dict) or not isinstance(recorded.get("args"), list):
        return "the training arguments changed (the record holds none)"
    recipe = recorded.get("recipe", 1)
    if recipe != wanted.get("recipe", TRAINING_RECIPE):
        old, new = RECIPES.get(recipe, f"recipe {recipe}"), RECIPES[wanted.get("recipe", TRAINING_RECIPE)]
        return f"this run was trained by an earlier version of the pipeline ({old}; now: {new})"
    # (an earlier version's record may hold what is now compared elsewhere, as --update-freq)
    old_args = identity_arguments(recorded["args"])
    if old_args != wanted["args"]:
        return f"the training arguments changed ({argument_changes(old_args, wanted['args'])})"
    if recorded.get("data") is not None and recorded["data"] != wanted["data"]:
        old, new = recorded["data"], wanted["data"]
        changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
        return f"the training data changed ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})"
    return None


def unrecorded_parts(recorded, wanted: dict) -> list[str]:
    """What an earlier version's record lacks and this one records from now on."""
    recorded = {} if isinstance(recorded, list) else recorded
    return ["data"] if recorded.get("data") is None else []


def moved_aside_runs(save_dir: Path) -> list[Path]:
    """The runs moved aside from ``save_dir`` (``<save-dir>.stale-<time>``, by ``move_aside``), in name order."""
    return sorted(save_dir.parent.glob(f"{save_dir.name}.stale-*"))


def move_aside(save_dir: Path, reason: str, say: Say, note: str = "") -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stale = save_dir.with_name(f"{save_dir.name}.stale-{stamp}")
    number = 1
    while stale.exists():  # moved aside twice in one second
        number += 1
        stale = save_dir.with_name(f"{save_dir.name}.stale-{stamp}-{number}")
    say(f"{reason}: moving the old {save_dir} to {stale}{note}")
    os.replace(save_dir, stale)


def resume_problem(save_dir: Path, recorded, wanted: dict, args: list[str], trained_updates=None) -> str | None:
    """Why the run in ``save_dir`` (recorded as ``recorded``) cannot be resumed as ``wanted`` trained to the limits
    of ``args``; None when it can."""
    reason = identity_change(recorded, wanted)
    max_epoch = option_value(args, "--max-epoch")
    done = trained_epochs(save_dir)
    if reason is None and max_epoch is not None and 0 < int(max_epoch) < done:
        reason = f"max_epoch {max_epoch} is below the {done} epochs this run has trained"
    max_update = int(option_value(args, "--max-update") or 0)
    if reason is None and max_update > 0 and trained_updates is not None:
        updates = trained_updates(save_dir)
        if updates > max_update:
            reason = f"max_update {max_update} is below the {updates} updates this run has trained"
    return reason


def read_record(save_dir: Path):
    return json.loads((save_dir / ARGS_FILE).read_text(encoding="utf-8"))


def say_resuming(save_dir: Path, recorded, wanted: dict, args: list[str], say: Say) -> None:
    done = trained_epochs(save_dir)
    max_epoch = option_value(args, "--max-epoch")
    detail = f"{done} epochs trained, max_epoch {max_epoch}" if done else "no epoch finished yet"
    missing = unrecorded_parts(recorded, wanted)
    if missing:
        # an earlier version recorded less: the rest is recorded from now on (the devices: by the runner)
        write_json(save_dir / ARGS_FILE, {key: value for key, value in wanted.items() if key != "devices"})
        what = " and ".join(f"its {part}" for part in missing)
        say(f"resuming in {save_dir} (same arguments; {what} not recorded, from now on recorded; {detail})")
    else:
        say(f"resuming in {save_dir} (same arguments and data; {detail})")


def moved_aside_match(save_dir: Path, wanted: dict, args: list[str], trained_updates=None) -> Path | None:
    """The newest run moved aside from ``save_dir`` that is this run (a config set back to it): it is resumed (or,
    when finished, published again) instead of training anew."""
    candidates = sorted(moved_aside_runs(save_dir), key=lambda p: p.stat().st_mtime_ns)
    for candidate in reversed(candidates):
        try:
            recorded = read_record(candidate)
        except (OSError, ValueError):
            continue
        if not isinstance(recorded, dict) or recorded.get("data") is None:
            continue  # (what it was trained on is not fully known)
        if resume_problem(candidate, recorded, wanted, args, trained_updates) is None:
            return candidate
    return None


def prepare_save_dir(
    save_dir: Path, args: list[str], say: Say = print, devices: dict | None = None, trained_updates=None
) -> None:
    """Create the save dir, or move an existing one aside when it holds another run (see the module's doc); a run
    moved aside earlier that is this run comes back. ``trained_updates(save_dir)`` gives the updates a run has
    trained (for a lowered ``--max-update``)."""
    wanted = run_identity(args, devices)
    reason = None
    if (save_dir / ARGS_FILE).exists():
        try:
            recorded = read_record(save_dir)
            reason = resume_problem(save_dir, recorded, wanted, args, trained_updates)
        except ValueError:
            recorded, reason = None, f"{save_dir / ARGS_FILE} is unreadable"
        if reason is None:
            say_resuming(save_dir, recorded, wanted, args, say)
            return
    elif save_dir.exists() and any(save_dir.glob("checkpoint*.pt")):
        reason = f"{save_dir} has checkpoints of unknown settings"
    if reason:
        finished = (save_dir / layout.BEST).exists() and (save_dir / layout.HISTORY).exists()
        kept = " (kept whole: setting the config back to it brings it back, published without training)"
        move_aside(save_dir, reason, say, note=kept if finished else "")
    earlier = moved_aside_match(save_dir, wanted, args, trained_updates)
    if earlier is not None:
        say(f"{earlier} holds this run (the same arguments and data; moved aside earlier): bringing it back")
        os.replace(earlier, save_dir)
        say_resuming(save_dir, read_record(save_dir), wanted, args, say)
        return
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json(save_dir / ARGS_FILE, wanted)
