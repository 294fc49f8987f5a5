"""The training side at the paper's model and vocabulary sizes, on CPU: time per update, memory, checkpoint and
teacher files, per-pair validation against an epoch's training, and the GPU memory arithmetic checked on CPU.

``--size ted`` is TED-8-Diverse's preset (``transformer_iwslt_de_en``, ``trainings.ted`` of config/paper.yaml),
``--size wmt`` WMT-6's (``transformer_wmt_en_de``, ``trainings.wmt``), each with its dataset's language pairs in
config order and the settings the workflow would train them with (config/config.yaml, then config/paper.yaml, the
schema's defaults filled in). The data-bin is synthetic but has the real shape (the layout lssd.data.binarize
writes): random pieces with log-normal sentence lengths (mean ``--mean-length`` pieces), written with fairseq's
mmap index writer; the vocabularies of the paper's recipes (TED: one 8K SentencePiece model per language, the
foreign ones merged into one dictionary that every non-English language shares, and an 8K English dictionary;
WMT: one 64K joint dictionary); the real dev set sizes (``--dev-scale``: a share of them); the paper's training
set sizes (or ``--train-sentences`` in all, split over the pairs in proportion to them). Training is fairseq's own
Trainer over the plugin's task (``lssd_multilingual_translation``, pure batches), on CPU, fp32:

* the baseline and LSSD-Whole (``lssd_distillation``), each in a fresh process (its peak RSS its own), the same
  seed and batches; LSSD with a full teacher pool: one frozen teacher per pair, made and written to disk by the
  plugin's own ``TeacherFiles.copy`` (as a run makes them), every pair distilled in every batch;
* seconds per update (after ``--warmup`` untimed updates of one batch each; LSSD's timed updates all distil),
  and the RSS the process holds after each stage: data, model, model + gradients + Adam state (after the first
  update, freed memory returned to the OS first), teacher pool; its peak RSS (``ru_maxrss``) over training;
* in the baseline's process: fairseq's own ``validate`` over every pair's dev set (the task's per-pair valid
  step, timed per pair), then ``checkpoint_utils.save_checkpoint`` (checkpoint_last.pt and checkpoint_best.pt,
  with the optimizer's state), against one teacher file of the LSSD process (model only);
* an epoch at the paper's size: its updates as fairseq batches the built epoch (its padding of these lengths;
  scaled to ``--train-pairs`` when a smaller set is built), its training time at the measured time per update,
  and the validation's share of it (scaled to the real dev sets when ``--dev-scale`` < 1);
* the GPU memory arithmetic (``lssd.run.memory``) for the paper's GPU setting (fp16, teachers in fp16), and its
  parameter, optimizer and teacher terms in this run's setting (fp32 on CPU) beside the RSS measured for them.

Usage::

    python benchmarks/paper_training.py --size ted --updates 3 --dev-scale 0.25 --json ted.json
    python benchmarks/paper_training.py --size wmt --update-freq 1 --updates 1 --dev-scale 0.05 --json wmt.json
    python benchmarks/paper_training.py --tiny --json tiny.json     # seconds: a tiny model, the same mechanics
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead_measure import model_bytes, quiet_interpreter  # noqa: E402

from lssd.run import memory  # noqa: E402

DATASETS = {"ted": "ted8_diverse", "wmt": "wmt6"}
METHODS = ("baseline", "lssd_whole")
# the real dev sets: TED-8-Diverse's (the TED talks' dev splits of Qi et al. 2018) and WMT-6's newsdev/newstest
# sets as config/paper.yaml names them (newstest2013 fr/de, newsdev2017 zh, newsdev2018 et, newsdev2016 ro,
# newstest2016 tr)
DEV_SIZES = {
    "ted8_diverse": {
        "bos": 474,
        "mar": 767,
        "hin": 854,
        "mkd": 640,
        "ell": 3344,
        "bul": 4082,
        "fra": 4320,
        "kor": 4441,
    },
    "wmt6": {"fra": 3000, "deu": 3000, "zho": 2002, "est": 2000, "ron": 1999, "tur": 3000},
}
# dictionary sizes: TED's 8 per-language 8K models merged (their pieces overlap: fewer than 64K), its 8K English
# model; WMT's one 64K joint model
DICT_SIZES = {"ted": 60000, "wmt": 64000}
LANGUAGE_VOCAB = 8000  # TED: each language's own SentencePiece model, a window of the merged dictionary
PIVOT_VOCAB = 8000
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
NSPECIAL = 4  # fairseq's <s> <pad> </s> <unk>, before the dictionary file's symbols
TINY = {  # seconds instead of minutes: the same code paths on a 1+1-layer model and small data
    "model": {"encoder_layers": 1, "decoder_layers": 1, "encoder_embed_dim": 32, "decoder_embed_dim": 32,
              "encoder_ffn_embed_dim": 64, "decoder_ffn_embed_dim": 64, "encoder_attention_heads": 2,
              "decoder_attention_heads": 2},
    "dict_size": 600, "pivot_dict_size": 300, "language_vocab": 200, "max_tokens": 512, "train_sentences": 400,
    "dev_scale": 0.01, "updates": 2,
}  # fmt: skip


# --------------------------------------------------------------------------------------------- config and data
def paper_config() -> dict:
    """config/config.yaml with config/paper.yaml on top and the schema's defaults filled in: what the workflow
    trains the paper's runs with (``snakemake --configfile config/paper.yaml``)."""
    import snakemake.utils
    import yaml

    from lssd import config_checks

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    snakemake.utils.update_config(config, yaml.safe_load((REPO / "config" / "paper.yaml").read_text(encoding="utf-8")))
    config_checks.validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    return config


def data_layout(options, config: dict) -> dict:
    """What the synthetic data-bin holds: languages, dictionaries, and sentences per pair and split."""
    dataset = DATASETS[options.size]
    spec = config["datasets"][dataset]
    langs = [lang for lang in spec["languages"] if lang != spec["pivot"]]
    reference = {lang: spec["languages"][lang]["reference_size"] for lang in langs}
    joint = spec["spm"]["recipe"] == "joint"
    train = dict(reference)  # by default the paper's training sets: fairseq then batches the paper's epoch itself
    if options.train_sentences:
        total = sum(reference.values())
        # every pair gets some sentences: the epoch's pure batches come from every pair
        floor = max(16, options.train_sentences // (8 * len(langs)))
        train = {lang: max(floor, round(options.train_sentences * size / total)) for lang, size in reference.items()}
    dev = {lang: max(1, round(DEV_SIZES[dataset][lang] * options.dev_scale)) for lang in langs}
    return {
        "dataset": dataset,
        "langs": langs,
        "pivot": spec["pivot"],
        "recipe": spec["spm"]["recipe"],
        "foreign_dict": options.dict_size,
        "pivot_dict": options.dict_size if joint else options.pivot_dict_size,
        "language_vocab": None if joint else min(options.language_vocab, options.dict_size),
        "train": train,
        "valid": dev,
        "real_valid": dict(DEV_SIZES[dataset]),
        "reference_train": reference,
        "mean_length": options.mean_length,
    }


def sentence_lengths(rng, count: int, mean: float, longest: int):
    """Log-normal lengths in pieces with mean ``mean`` (sigma 0.6: most sentences between a third and three times
    the mean, as subword-segmented TED and news sentences), at least 1 and at most ``longest``."""
    import numpy as np

    sigma = 0.6
    lengths = rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, size=count)
    return np.clip(np.rint(lengths), 1, longest).astype(np.int64)


def write_split(prefix: Path, lengths, low: int, high: int, vocab_size: int, rng):
    """One side of one split as fairseq-preprocess writes it (mmap format: each sentence's ids, then </s>): ids
    drawn uniformly from ``[low, high)``, the tokens written in one block and the index by fairseq's own index
    writer (what its dataset builder's ``finalize`` calls; a per-sentence ``add_item`` takes minutes at the
    paper's 766K-5M sentences). Returns the ids (without </s>) for the dictionaries' counts."""
    import numpy as np
    from fairseq.data import indexed_dataset

    dtype = indexed_dataset.best_fitting_int_dtype(vocab_size)
    sizes = lengths + 1
    tokens = rng.integers(low, high, size=int(sizes.sum()), dtype=np.int64).astype(dtype)
    ends = np.cumsum(sizes) - 1
    tokens[ends] = 2  # fairseq's </s>
    tokens.tofile(f"{prefix}.bin")
    with indexed_dataset.MMapIndexedDataset.Index.writer(f"{prefix}.idx", dtype) as index:
        index.write(sizes.tolist())
    keep = np.ones(len(tokens), dtype=bool)
    keep[ends] = False
    return tokens[keep]


def dictionary_lines(prefix: str, counts) -> list[str]:
    # fairseq's dictionary format, <symbol> <count>; the file's order is the index order the ids were drawn in
    return [f"{prefix}{index} {int(count)}" for index, count in enumerate(counts)]


def build_data_bin(layout: dict, out: Path, seed: int = 1) -> None:
    """The data-bin lssd.data.binarize would write for ``layout``, from random pieces (see the module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    langs, pivot = layout["langs"], layout["pivot"]
    foreign_size, pivot_size = layout["foreign_dict"], layout["pivot_dict"]
    joint = layout["recipe"] == "joint"
    longest = 200  # pieces (with the language token and </s>: far inside max_positions 1024)
    window = layout["language_vocab"]

    def vocabulary(lang: str) -> tuple[int, int]:
        """The ids a language's pieces are drawn from (after fairseq's 4 special symbols)."""
        if lang == pivot:  # English: its own dictionary, or all of the joint one
            low, high = 0, pivot_size
        elif joint:
            low, high = 0, foreign_size
        else:  # this language's own 8K model: a window of the merged dictionary; the windows cover all of it
            position = langs.index(lang)
            low = round(position * (foreign_size - window) / max(1, len(langs) - 1))
            high = low + window
        return low + NSPECIAL, high + NSPECIAL

    foreign_counts = np.zeros(foreign_size + NSPECIAL, dtype=np.int64)
    pivot_counts = np.zeros(pivot_size + NSPECIAL, dtype=np.int64)
    for lang in langs:
        for split in ("train", "valid"):
            count = layout[split][lang]
            source = sentence_lengths(rng, count, layout["mean_length"], longest)
            # the other side's length follows the source's (translations of one sentence), with some spread
            target = np.clip(np.rint(source * rng.lognormal(0.0, 0.15, size=count)), 1, longest).astype(np.int64)
            used = {}
            for side, lengths in ((lang, source), (pivot, target)):
                vocab_size = (pivot_size if side == pivot else foreign_size) + NSPECIAL
                ids = write_split(out / f"{split}.{lang}-{pivot}.{side}", lengths, *vocabulary(side), vocab_size, rng)
                used[side] = np.bincount(ids, minlength=vocab_size)
            if split == "train":  # the dictionaries count the training sides, as binarize does
                counts = used[lang]
                order = [index for index in np.argsort(-counts, kind="stable") if index >= NSPECIAL and counts[index]]
                own = [f"f{index - NSPECIAL} {int(counts[index])}" for index in order]
                (out / f"LS_dict.{lang}.txt").write_text("\n".join(own) + "\n", encoding="utf-8")
                foreign_counts += used[lang]
                (foreign_counts if joint else pivot_counts)[: len(used[pivot])] += used[pivot]
    foreign = "\n".join(dictionary_lines("f", foreign_counts[NSPECIAL:])) + "\n"
    english = foreign if joint else "\n".join(dictionary_lines("e", pivot_counts[NSPECIAL:])) + "\n"
    (out / f"dict.{pivot}.txt").write_text(english, encoding="utf-8")
    for lang in langs:  # one shared dictionary for every non-English language (binarize's dict.<lang>.txt)
        (out / f"dict.{lang}.txt").write_text(foreign, encoding="utf-8")
    (out / "lang_list.txt").write_text("\n".join([*langs, pivot]) + "\n", encoding="utf-8")
    (out / "layout.json").write_text(json.dumps(layout, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------------------------- one method's process
def current_rss() -> int:
    """Bytes resident now (not the peak), after returning freed heap memory to the OS: what the process holds."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS then also counts freed memory the allocator keeps
        pass
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def fairseq_arguments(options, config: dict, method: str, save_dir: str) -> list[str]:
    """The method's fairseq-train arguments as the workflow builds them for the paper's dataset, on CPU."""
    from lssd import config as lssd_config
    from lssd.run import commands

    dataset = DATASETS[options.size]
    training = lssd_config.training_settings(config, dataset, options.direction, method)
    if options.tiny:
        training["model"] = {**training.get("model", {}), **TINY["model"]}
    if options.max_tokens:
        training["max_tokens"] = options.max_tokens
    if options.update_freq:
        training["update_freq"] = options.update_freq
    args = commands.train_arguments(
        data_bin=options.data_bin,
        save_dir=save_dir,
        pairs=lssd_config.pairs(config, dataset, options.direction),
        direction=options.direction,
        training=training,
        method=lssd_config.method_settings(config, method, options.direction, dataset),
        seed=config["run"]["seeds"][0],
    )
    args += commands.runtime_train_arguments(log_interval=100, keep_epoch_checkpoints=False)
    return [*args, "--cpu", "--no-progress-bar", "--lssd-teacher-precision", options.teacher_precision]


def build_teacher_pool(task, trainer) -> dict:
    """One frozen teacher per pair, each written to its file, every pair distilled from the next epoch on.

    The pool's own rules make it: at "epoch 1" every pair improves (one copy), at epoch k + 1 only pair k does
    (a copy of its own); in epoch P + 2 no pair improved at the last validation, so all of them distil."""
    lifecycle = task.lifecycle
    keys = [task.teacher_key(pair) for pair in task.lang_pairs]
    before = current_rss()
    start = time.perf_counter()
    for index, key in enumerate(keys):
        epoch = index + 1
        losses = dict.fromkeys(keys, 1.0)
        losses[key] = 1.0 if index == 0 else 0.5
        lifecycle.pool.update(epoch, losses, lambda e=epoch: lifecycle.teachers.copy(trainer.model, e))
    seconds = time.perf_counter() - start
    lifecycle.start_epoch(len(keys) + 2)
    if not all(lifecycle.kd_on.values()):
        raise RuntimeError(f"not every pair distils: {lifecycle.kd_on}")
    teachers = [lifecycle.pool.teacher(key) for key in keys]
    if len({id(teacher) for teacher in teachers}) != len(keys):
        raise RuntimeError("the pairs share teachers: the pool is not one teacher per pair")
    parameter_bytes = [sum(p.numel() * p.element_size() for p in teacher.parameters()) for teacher in teachers]
    return {
        "count": len(lifecycle.pool.copies),
        "pairs": len(keys),
        "dtype": str(next(teachers[0].parameters()).dtype).replace("torch.", ""),
        "pool_bytes": lifecycle.pool.memory_bytes(),
        "parameter_bytes": sum(parameter_bytes),
        "parameter_bytes_each": parameter_bytes[0],
        "rss_increase": current_rss() - before,
        "file_bytes": os.path.getsize(lifecycle.teachers.path(1)),
        "build_s": seconds,
    }


def validate_and_save(cfg, task, trainer, epoch_itr) -> tuple[dict, dict]:
    """fairseq's own validation over every subset (every pair's dev set), each valid step timed and counted for
    its pair, then fairseq's own checkpoint save (last and best, with the optimizer's state)."""
    import fairseq_cli.train as fairseq_train
    from fairseq import checkpoint_utils

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
    validation = {"seconds": seconds, "loss": losses[0], "per_pair": per_pair}
    start = time.perf_counter()
    checkpoint_utils.save_checkpoint(cfg.checkpoint, trainer, epoch_itr, losses[0])
    save_dir = Path(cfg.checkpoint.save_dir)
    checkpoint = {
        "save_s": time.perf_counter() - start,
        "last_bytes": (save_dir / "checkpoint_last.pt").stat().st_size,
        "best_bytes": (save_dir / "checkpoint_best.pt").stat().st_size,
    }
    return validation, checkpoint


def run_method(options, method: str) -> dict:
    """One method in this process, from its data to its timed updates (and, for the baseline, the validation and
    the checkpoint); every figure of its own as a dict."""
    import numpy as np
    import torch

    torch.set_num_threads(options.threads)
    started = time.perf_counter()
    stages = {}  # wall seconds of each stage: what a longer run's time is made of
    rss = {"start": current_rss()}
    from fairseq import options as fairseq_options
    from fairseq import tasks, utils
    from fairseq.data import iterators
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    config = paper_config()
    save_dir = os.path.join(options.work_dir, method)
    argv = fairseq_arguments(options, config, method, save_dir)
    parsed = fairseq_options.parse_args_and_arch(fairseq_options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(parsed)
    utils.import_user_module(cfg.common)
    np.random.seed(cfg.common.seed)
    utils.set_torch_seed(cfg.common.seed)  # the same initial model and batches for both methods
    rss["imported"] = current_rss()
    task = tasks.setup_task(cfg.task)
    for subset in cfg.dataset.valid_subset.split(","):  # fairseq-train loads the dev sets before the model
        task.load_dataset(subset, combine=False, epoch=1)
    rss["data"] = current_rss()
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    rss["model"] = current_rss()
    trainer = Trainer(cfg, task, model, criterion)
    epoch_itr = trainer.get_train_iterator(epoch=1, load_dataset=True)
    trainer.begin_epoch(epoch_itr.epoch)
    update_freq = cfg.optimization.update_freq[0]
    iterator = iterators.GroupedIterator(epoch_itr.next_epoch_itr(shuffle=True), update_freq)
    wanted = options.warmup + options.updates
    updates = [samples for _, samples in zip(range(wanted), iterator, strict=False)]
    if len(updates) < wanted:
        raise SystemExit(f"the built epoch holds {len(updates)} updates, fewer than {wanted}: raise --train-sentences")
    rss["loaded"] = current_rss()
    stages["setup"] = time.perf_counter() - started
    for samples in updates[: options.warmup]:
        # one batch each: the first update allocates every gradient and Adam's state whatever its batches, and a
        # WMT update of update_freq 2 batches would cost minutes more
        trainer.train_step(samples[:1])
    rss["state"] = current_rss()
    stages["warmup"] = time.perf_counter() - started - sum(stages.values())
    teachers = build_teacher_pool(task, trainer) if task.distilling() else None
    if teachers:
        rss["pool"] = current_rss()
        stages["teacher pool"] = time.perf_counter() - started - sum(stages.values())
    seconds, tokens = [], []
    for samples in updates[options.warmup :]:
        with quiet_interpreter():
            start = time.perf_counter()
            trainer.train_step(samples)
            seconds.append(time.perf_counter() - start)
        tokens.append(sum(int(sample["ntokens"]) for sample in samples))
    peak_training = peak_rss()
    stages["timed"] = sum(seconds)
    rss["trained"] = current_rss()
    parameters = sum(p.numel() for p in model.parameters())
    result = {
        "method": method,
        "criterion": cfg.criterion._name,
        "parameters": parameters,
        "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "model_bytes": model_bytes(model),
        "source_vocab": len(task.source_dictionary),
        "target_vocab": len(task.target_dictionary),
        "arch": {
            name: getattr(parsed, name)
            for name in (
                "arch",
                "encoder_layers",
                "decoder_layers",
                "encoder_embed_dim",
                "encoder_ffn_embed_dim",
                "decoder_ffn_embed_dim",
            )
        },  # fmt: skip
        "max_tokens": cfg.dataset.max_tokens,
        "update_freq": update_freq,
        "pairs": list(task.lang_pairs),
        "built_epoch": {"batches": len(epoch_itr), "sentences": len(task.datasets[cfg.dataset.train_subset])},
        "update_s": seconds,
        "tokens_per_update": tokens,
        "rss": rss,
        "stages_s": stages,
        "peak_rss_training": peak_training,
        "teachers": teachers,
    }
    if method == "baseline":
        result["validation"], result["checkpoint"] = validate_and_save(cfg, task, trainer, epoch_itr)
        stages["validation"] = result["validation"]["seconds"]
        stages["checkpoint"] = result["checkpoint"]["save_s"]
    result["wall_s"] = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------------------------- the figures
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


def figures(results: dict, layout: dict, options) -> dict:
    """What the measurements give together: per-update times, the paper-size epoch, validation's share of it, the
    memory arithmetic beside the measured RSS, and the GPU prediction."""
    base, lssd = results["baseline"], results["lssd_whole"]
    base_s, lssd_s = statistics.median(base["update_s"]), statistics.median(lssd["update_s"])
    built = base["built_epoch"]
    # the built epoch's batches, scaled to --train-pairs if the built set is smaller (a small set's pure batches
    # each span a wider range of lengths: more padding, more batches per sentence than at the paper's size)
    batches = options.train_pairs * built["batches"] / built["sentences"]
    epoch_updates = batches / base["update_freq"]
    validation = base["validation"]
    dev_built = sum(layout["valid"].values())
    dev_real = sum(layout["real_valid"].values())
    # validation time grows with the dev sentences (the same length distribution); from a --dev-scale < 1 this
    # overstates it: the small pairs' few sentences make small batches, slower per sentence
    validation_real_s = validation["seconds"] * dev_real / dev_built
    teachers = lssd["teachers"]
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
        "update_s": {"baseline": base_s, "lssd_whole": lssd_s, "ratio": lssd_s / base_s},
        "tokens_per_update": statistics.median(base["tokens_per_update"]),
        "epoch": {
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
        },
        "validation": {
            "measured_s": validation["seconds"],
            "dev_sentences": dev_built,
            "real_dev_sentences": dev_real,
            "real_s": validation_real_s,
            "share_of_baseline_epoch": validation_real_s / (epoch_updates * base_s),
            "share_of_lssd_epoch": validation_real_s / (epoch_updates * lssd_s),
        },
        "checkpoint_vs_teacher_file": base["checkpoint"]["last_bytes"] / teachers["file_bytes"],
        "teacher_pool": {
            "teachers": teachers["count"],
            "pairs": teachers["pairs"],
            "parameter_bytes": teachers["parameter_bytes"],
            "expected_parameter_bytes": teachers["pairs"] * p * teacher_bytes,
        },
        "peak_rss": {"baseline": base["peak_rss_training"], "lssd_whole": lssd["peak_rss_training"]},
        "cpu_memory_check": {
            name: {"predicted": predicted, "measured": measured, "ratio": measured / predicted}
            for name, (predicted, measured) in checks.items()
        },
        "gpu_memory": {
            "setting": f"fp16, teachers fp16 (the plugin's auto on GPU), max_tokens {base['max_tokens']}",
            "baseline": gpu_memory(base, 0, fp16=True, teacher_bytes=memory.FP16),
            "lssd_whole": gpu_memory(base, teachers["pairs"], fp16=True, teacher_bytes=memory.FP16),
        },
    }


def size(value: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def report(record: dict) -> None:
    results, fig, layout = record["results"], record["figures"], record["layout"]
    base, lssd = results["baseline"], results["lssd_whole"]
    machine = record["machine"]
    options = record["options"]
    print(f"{options['size']} ({layout['dataset']}, {options['direction']}): {base['arch']['arch']}, "
          f"{base['parameters'] / 1e6:.1f}M parameters, vocabularies {base['source_vocab']} (source) / "
          f"{base['target_vocab']} (target), {len(base['pairs'])} pairs, max_tokens {base['max_tokens']} x "
          f"update_freq {base['update_freq']}")  # fmt: skip
    print(f"machine: {machine['platform']}, {machine['cpus']} CPUs, {options['threads']} threads, "
          f"torch {machine['torch']}; fp32 on CPU")  # fmt: skip
    print()
    print(f"{'':34}{'baseline':>14}{'lssd_whole':>14}{'ratio':>8}")
    times = fig["update_s"]
    print(f"{'seconds per update (median)':34}{times['baseline']:>14.2f}{times['lssd_whole']:>14.2f}"
          f"{times['ratio']:>8.3f}")  # fmt: skip
    print(f"{'  updates timed':34}{' '.join(f'{s:.2f}' for s in base['update_s']):>14}"
          f"{' '.join(f'{s:.2f}' for s in lssd['update_s']):>14}")  # fmt: skip
    peak_base, peak_lssd = fig["peak_rss"]["baseline"], fig["peak_rss"]["lssd_whole"]
    print(f"{'peak RSS in training':34}{size(peak_base):>14}{size(peak_lssd):>14}{peak_lssd / peak_base:>8.3f}")
    epoch = fig["epoch"]
    print(f"{'an epoch at the paper size':34}{duration(epoch['baseline_s']):>14}{duration(epoch['lssd_whole_s']):>14}")
    how = (
        "fairseq's batching of the built epoch"
        if epoch["built_sentences"] == epoch["train_pairs"]
        else (f"the batches per sentence of a built epoch of {epoch['built_sentences']}, which overstates the padding")
    )
    print(
        f"  ({epoch['train_pairs']} training pairs: {epoch['batches']:.0f} batches ({how}), {epoch['updates']:.0f} "
        f"updates on one worker; {epoch['updates_without_padding']:.0f} by length arithmetic without padding)"
    )
    print()
    teachers = lssd["teachers"]
    print(
        f"teacher pool: {teachers['count']} teachers for {teachers['pairs']} pairs, {teachers['dtype']}, "
        f"{size(teachers['pool_bytes'])} held ({size(teachers['parameter_bytes_each'])} of parameters each), "
        f"RSS +{size(teachers['rss_increase'])}, made and written in {duration(teachers['build_s'])}"
    )
    checkpoint = base["checkpoint"]
    print(
        f"files: checkpoint_last.pt {size(checkpoint['last_bytes'])}, checkpoint_best.pt "
        f"{size(checkpoint['best_bytes'])} (saved in {duration(checkpoint['save_s'])}); one teacher file "
        f"{size(teachers['file_bytes'])} (the checkpoint: {fig['checkpoint_vs_teacher_file']:.2f}x)"
    )
    print()
    validation = fig["validation"]
    print(
        f"validation (fairseq's validate, every pair's dev set): {duration(validation['measured_s'])} for "
        f"{validation['dev_sentences']} dev sentences; at the real {validation['real_dev_sentences']}: "
        f"{duration(validation['real_s'])} = {validation['share_of_baseline_epoch']:.1%} of a baseline epoch's "
        f"training, {validation['share_of_lssd_epoch']:.1%} of an LSSD epoch's"
    )
    if validation["dev_sentences"] < validation["real_dev_sentences"]:
        print("  (scaled by sentences from a share of the dev sets: an upper bound, their batches being smaller)")
    print(f"{'  pair':14}{'sentences':>10}{'target tokens':>15}{'seconds':>10}")
    for pair, entry in base["validation"]["per_pair"].items():
        print(f"  {pair:12}{entry['sentences']:>10}{entry['target_tokens']:>15}{entry['seconds']:>10.2f}")
    print()
    print("memory arithmetic (lssd.run.memory) against this run (fp32 on CPU, RSS increases):")
    print(f"{'':26}{'predicted':>14}{'measured':>14}{'ratio':>8}")
    for name, check in fig["cpu_memory_check"].items():
        print(f"{name:26}{size(check['predicted']):>14}{size(check['measured']):>14}{check['ratio']:>8.3f}")
    print()
    print(f"wall time: data-bin {duration(layout['build_s'])}; " + "; ".join(
        f"{method} process {duration(result['wall_s'])} (" + ", ".join(
            f"{stage} {duration(seconds)}" for stage, seconds in result["stages_s"].items()) + ")"
        for method, result in results.items()))  # fmt: skip
    print()
    gpu = fig["gpu_memory"]
    print(f"predicted GPU memory per GPU ({gpu['setting']}):")
    print(f"{'':22}{'baseline':>14}{'lssd_whole':>14}")
    for part in gpu["baseline"]:
        print(f"{part:22}{size(gpu['baseline'][part]):>14}{size(gpu['lssd_whole'][part]):>14}")


# --------------------------------------------------------------------------------------------- the command
def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(DATASETS), default="ted", help="the TED or the WMT preset")
    parser.add_argument("--direction", choices=["m2o", "o2m"], default="m2o")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and data (seconds): for the test")
    parser.add_argument("--dict-size", type=int, help="TED: the merged foreign dictionary; WMT: the joint one")
    parser.add_argument("--pivot-dict-size", type=int, help=f"TED: the English dictionary (default {PIVOT_VOCAB})")
    parser.add_argument("--language-vocab", type=int, help=f"TED: one language's pieces (default {LANGUAGE_VOCAB})")
    parser.add_argument(
        "--train-sentences", type=int, help="build a training set of this many pairs (default: the paper's sizes)"
    )
    parser.add_argument("--train-pairs", type=int, help="training pairs per epoch (default: the paper's sum)")
    parser.add_argument("--dev-scale", type=float, help="build this share of the real dev sets (default 1)")
    parser.add_argument("--mean-length", type=float, default=25.0, help="mean sentence length in pieces")
    parser.add_argument("--max-tokens", type=int, help="tokens per batch (default: the preset's)")
    parser.add_argument("--update-freq", type=int, help="batches per update (default: the preset's)")
    parser.add_argument("--updates", type=int, help="timed updates per method (default 3)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed one-batch updates first (they allocate the gradients and Adam's state)",
    )
    parser.add_argument("--teacher-precision", choices=["auto", "fp32", "fp16", "bf16"], default="auto")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--work-dir", help="where the data-bin and the runs go (default: a temporary directory)")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--data-bin", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    defaults = {"dict_size": DICT_SIZES[options.size], "pivot_dict_size": PIVOT_VOCAB}
    defaults |= {"language_vocab": LANGUAGE_VOCAB, "dev_scale": 1.0, "updates": 3}
    if options.tiny:
        defaults |= {key: value for key, value in TINY.items() if key != "model"}
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    if options.tiny and options.max_tokens is None:
        options.max_tokens = TINY["max_tokens"]
    if options.updates < 1 or options.warmup < 1:
        parser.error("--updates and --warmup must be at least 1 (the first update allocates Adam's state)")
    return options


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}  # fmt: skip


def run_worker(options, method: str, argv: list[str]) -> dict:
    """One method in a fresh process: its peak RSS is its own."""
    env = dict(os.environ, OMP_NUM_THREADS=str(options.threads), PYTHONWARNINGS="ignore")
    forwarded = [*argv, "--work-dir", options.work_dir, "--data-bin", options.data_bin, "--worker", method]
    completed = subprocess.run([sys.executable, __file__, *forwarded], capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        print(completed.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"the {method} process failed with exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure(options, argv: list[str]) -> dict:
    config = paper_config()
    layout = data_layout(options, config)
    if options.train_pairs is None:
        options.train_pairs = sum(layout["reference_train"].values())
    options.data_bin = str(Path(options.work_dir) / "bin")
    print(f"building the synthetic data-bin in {options.data_bin} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    build_data_bin(layout, Path(options.data_bin))
    layout["build_s"] = time.perf_counter() - start
    results = {}
    for method in METHODS:
        print(f"training {method} ...", file=sys.stderr, flush=True)
        results[method] = run_worker(options, method, argv)
    record = {"machine": machine(), "options": vars(options), "layout": layout, "results": results}
    record["figures"] = figures(results, layout, options)
    return record


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    if options.worker:
        print(json.dumps(run_method(options, options.worker)))
        return 0
    if options.work_dir:
        Path(options.work_dir).mkdir(parents=True, exist_ok=True)
        record = measure(options, argv)
    else:
        with tempfile.TemporaryDirectory(prefix="paper-training-") as work_dir:
            options.work_dir = work_dir
            record = measure(options, argv)
    if options.json:
        Path(options.json).write_text(json.dumps(record, indent=1), encoding="utf-8")
    report(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
