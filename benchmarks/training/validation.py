"""The baseline process's validation and checkpoint: fairseq's own ``validate`` over every pair's dev set, each
valid step timed per pair, then fairseq's own ``save_checkpoint``."""

from __future__ import annotations

import time
from pathlib import Path

from lssd import layout


def timed_validate(cfg, task, trainer, epoch_itr) -> dict:
    """fairseq's own validation over every subset (every pair's dev set), each valid step timed and counted for
    its pair."""
    import fairseq_cli.train as fairseq_train

    per_pair = {pair: {"seconds": 0.0, "sentences": 0, "batches": 0} for pair in task.lang_pairs}
    original = task.valid_step

    def timed_valid_step(sample, model, criterion):
        start = time.perf_counter()
        result = original(sample, model, criterion)
        seconds = time.perf_counter() - start
        pairs = task.sentence_pairs(sample).tolist()
        for index in set(pairs):  # (pure batches: one pair; a mixed one shares its time by sentences)
            entry = per_pair[task.lang_pairs[index]]
            entry["seconds"] += seconds * pairs.count(index) / len(pairs)
            entry["sentences"] += pairs.count(index)
            entry["batches"] += 1
        return result

    task.valid_step = timed_valid_step
    try:
        start = time.perf_counter()
        losses = fairseq_train.validate(cfg, trainer, task, epoch_itr, cfg.dataset.valid_subset.split(","))
        seconds = time.perf_counter() - start
    finally:
        del task.valid_step
    sums = task.lifecycle.valid_sums
    for pair, entry in per_pair.items():
        entry["target_tokens"] = int(sums.ntokens.get(pair, 0))
    return {"seconds": seconds, "loss": losses[0], "per_pair": per_pair}


def save(cfg, trainer, epoch_itr, loss) -> dict:
    """fairseq's own checkpoint save (last and best, with the optimizer's state): its time and file sizes."""
    from fairseq import checkpoint_utils

    start = time.perf_counter()
    checkpoint_utils.save_checkpoint(cfg.checkpoint, trainer, epoch_itr, loss)
    save_dir = Path(cfg.checkpoint.save_dir)
    return {
        "save_s": time.perf_counter() - start,
        "last_bytes": (save_dir / layout.LAST).stat().st_size,
        "best_bytes": (save_dir / layout.BEST).stat().st_size,
    }


def validate_and_save(cfg, task, trainer, epoch_itr) -> tuple[dict, dict]:
    """The validation (see timed_validate), then the checkpoint (see save)."""
    validation = timed_validate(cfg, task, trainer, epoch_itr)
    return validation, save(cfg, trainer, epoch_itr, validation["loss"])
