"""What the two methods' measurements give together: per-update times, the paper-size epoch, validation's share
of it, lssd.run.memory's arithmetic beside the measured RSS, and its GPU prediction."""

from __future__ import annotations

import statistics

from lssd.run import memory

from .settings import DTYPE_BYTES


def gpu_memory(result: dict, teachers: int, *, fp16: bool, teacher_bytes: int) -> dict[str, int]:
    arch = result["arch"]
    shape = memory.TrainingShape(
        parameters=result["parameters"],
        target_vocab=result["target_vocab"],
        max_tokens=result["max_tokens"],
        encoder_layers=arch["encoder_layers"],
        decoder_layers=arch["decoder_layers"],
        d_model=arch["encoder_embed_dim"],
        ffn_dim=max(arch["encoder_ffn_embed_dim"], arch["decoder_ffn_embed_dim"]),
        fp16=fp16,
        teachers=teachers,
        teacher_bytes=teacher_bytes,
    )
    return memory.training_memory(shape)


def epoch_figures(base: dict, options, base_s: float, lssd_s: float) -> dict:
    """An epoch at the paper's size: its batches, updates and training time per method."""
    built = base["built_epoch"]
    # the built epoch's batches, scaled to --train-pairs if the built set is smaller (a small set's pure batches
    # each span a wider range of lengths: more padding, more batches per sentence than at the paper's size)
    batches = options.train_pairs * built["batches"] / built["sentences"]
    epoch_updates = batches / base["update_freq"]
    return {
        "train_pairs": options.train_pairs,
        "built_sentences": built["sentences"],
        "batches": batches,
        "updates": epoch_updates,
        # the length arithmetic alone (no padding): sentences x (mean pieces + language token + </s>) / max_tokens
        "updates_without_padding": options.train_pairs
        * (options.mean_length + 2)
        / base["max_tokens"]
        / base["update_freq"],
        "baseline_s": epoch_updates * base_s,
        "lssd_whole_s": epoch_updates * lssd_s,
    }


def validation_figures(base: dict, layout: dict, epoch: dict) -> dict:
    """The measured validation, scaled to the real dev sets, and its share of an epoch's training."""
    validation = base["validation"]
    dev_built = sum(layout["valid"].values())
    dev_real = sum(layout["real_valid"].values())
    # validation time grows with the dev sentences (the same length distribution); from a --dev-scale < 1 this
    # overstates it: the small pairs' few sentences make small batches, slower per sentence
    validation_real_s = validation["seconds"] * dev_real / dev_built
    return {
        "measured_s": validation["seconds"],
        "dev_sentences": dev_built,
        "real_dev_sentences": dev_real,
        "real_s": validation_real_s,
        "share_of_baseline_epoch": validation_real_s / epoch["baseline_s"],
        "share_of_lssd_epoch": validation_real_s / epoch["lssd_whole_s"],
    }


def cpu_memory_check(base: dict, teachers: dict) -> dict:
    """lssd.run.memory's parameter, optimizer and teacher terms in this run's setting (fp32 on CPU) beside the
    RSS increases measured for them."""
    p = base["parameters"]
    teacher_bytes = DTYPE_BYTES[teachers["dtype"]]
    cpu = memory.model_state_bytes(p, fp16=False, teachers=teachers["count"], teacher_bytes=teacher_bytes)
    rss = base["rss"]
    checks = {
        "model weights": (cpu["weights"], rss["model"] - rss["data"]),
        "gradients + Adam state": (cpu["gradients"] + cpu["adam"], rss["state"] - rss["loaded"]),
        "teacher pool": (cpu["teachers"], teachers["rss_increase"]),
        "one teacher": (cpu["teachers"] // teachers["count"], teachers["rss_increase"] / teachers["count"]),
    }
    return {
        name: {"predicted": predicted, "measured": measured, "ratio": measured / predicted}
        for name, (predicted, measured) in checks.items()
    }


def figures(results: dict, layout: dict, options) -> dict:
    """What the measurements give together: per-update times, the paper-size epoch, validation's share of it, the
    memory arithmetic beside the measured RSS, and the GPU prediction."""
    base, lssd = results["baseline"], results["lssd_whole"]
    base_s, lssd_s = statistics.median(base["update_s"]), statistics.median(lssd["update_s"])
    epoch = epoch_figures(base, options, base_s, lssd_s)
    teachers = lssd["teachers"]
    return {
        "update_s": {"baseline": base_s, "lssd_whole": lssd_s, "ratio": lssd_s / base_s},
        "tokens_per_update": statistics.median(base["tokens_per_update"]),
        "epoch": epoch,
        "validation": validation_figures(base, layout, epoch),
        "checkpoint_vs_teacher_file": base["checkpoint"]["last_bytes"] / teachers["file_bytes"],
        "teacher_pool": {
            "teachers": teachers["count"],
            "pairs": teachers["pairs"],
            "parameter_bytes": teachers["parameter_bytes"],
            "expected_parameter_bytes": teachers["pairs"] * base["parameters"] * DTYPE_BYTES[teachers["dtype"]],
        },
        "peak_rss": {"baseline": base["peak_rss_training"], "lssd_whole": lssd["peak_rss_training"]},
        "cpu_memory_check": cpu_memory_check(base, teachers),
        "gpu_memory": {
            "setting": f"fp16, teachers fp16 (the plugin's auto on GPU), max_tokens {base['max_tokens']}",
            "baseline": gpu_memory(base, 0, fp16=True, teacher_bytes=memory.FP16),
            "lssd_whole": gpu_memory(base, teachers["pairs"], fp16=True, teacher_bytes=memory.FP16),
        },
    }
