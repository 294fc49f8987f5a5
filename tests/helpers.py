"""What several test modules share: the project's paths, Snakemake and fairseq-train runners, the tiny training
preset, small dataset builders and comparisons. Fixtures live in conftest.py; tests import from here, never from
each other."""

import copy
import io
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PIVOT = "eng"


REPO = Path(__file__).resolve().parent.parent


BIN = Path(sys.executable).parent


def snakemake_invocation(*args, cwd) -> tuple[list[str], dict]:
    """The command line and environment of the real Snakemake CLI of this environment on the project's Snakefile,
    working in ``cwd``. Where packages were installed with ``pip --target`` (the GPU machine: no console script
    next to the interpreter), the same Snakemake as ``python -m snakemake``."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="2")
    program = [str(BIN / "snakemake")] if (BIN / "snakemake").exists() else [sys.executable, "-m", "snakemake"]
    command = [*program, "-s", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    return command, env


def snakemake_in_background(workdir, *args) -> subprocess.Popen:
    """The real Snakemake CLI started in ``workdir`` without waiting, in a process group of its own (so that a test
    can SIGKILL it with every job it started), its output in ``snakemake.out`` (``process.output``: close it)."""
    command, env = snakemake_invocation(*args, cwd=workdir)
    output = open(workdir / "snakemake.out", "w")
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    process.output = output
    return process


def snakemake(*args, cwd, timeout=1800):
    """Run the real Snakemake CLI of this environment on the project's Snakefile."""
    command, env = snakemake_invocation(*args, cwd=cwd)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class Job:
    """One job as Snakemake prints it: ``rule NAME:`` (``localrule NAME:`` for a local rule), then its indented
    ``key: value`` lines (input, output, jobid, reason, wildcards, resources, ...)."""

    rule: str
    local: bool
    fields: dict = field(default_factory=dict)


def jobs_in(output: str) -> list[Job]:
    """Every job block of a Snakemake run's or dry run's output, in order. (A failed job's log that Snakemake
    shows may hold blocks of the job's own Snakemake: callers that care tell them apart, see test_slurm.)"""
    jobs, current = [], None
    for line in output.splitlines():
        header = re.fullmatch(r"(local)?rule (\w+):", line)
        if header:
            current = Job(header.group(2), bool(header.group(1)))
            jobs.append(current)
        elif current is not None and line.startswith("    ") and ": " in line:
            key, _, value = line.strip().partition(": ")
            current.fields.setdefault(key, value)
        elif current is not None and line.strip() and not line.startswith("    "):
            current = None
    return jobs


def job_stats(output: str) -> dict[str, int]:
    """The job counts per rule of Snakemake's "Job stats" table (the total left out)."""
    lines = output.splitlines()
    start = lines.index("Job stats:") + 3
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


LANGS = {"bos": "bs", "mkd": "mk", "fra": "fr"}


REFERENCE_SIZES = {"bos": 100, "mkd": 200, "fra": 200_000}


TINY = {
    "arch": "transformer",
    "model": {
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_embed_dim": 32,
        "decoder_embed_dim": 32,
        "encoder_ffn_embed_dim": 64,
        "decoder_ffn_embed_dim": 64,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "share_decoder_input_output_embed": True,
    },
    "dropout": 0.1,
    "attention_dropout": 0.0,
    "label_smoothing": 0.1,
    "lr": 0.002,
    "adam_betas": [0.9, 0.98],
    "adam_eps": 1e-6,
    "weight_decay": 0.0,
    "clip_norm": 0.0,
    "warmup_updates": 20,
    "warmup_init_lr": 1e-7,
    "max_tokens": 1024,
    "update_freq": 1,
    "max_epoch": 2,
    "max_positions": 256,
    "sampling_temperature": 5,
    "log_interval": 10,
}


def train_command(root, direction, max_epoch, save_dir, method=None, training=None):
    from lssd.run import commands

    pairs = [f"{lang}-eng" if direction == "m2o" else f"eng-{lang}" for lang in LANGS]
    training = {**TINY, **(training or {}), "max_epoch": max_epoch}
    args = commands.train_arguments(
        data_bin=str(root / "bin"),
        save_dir=str(save_dir),
        pairs=pairs,
        direction=direction,
        training=training,
        method=method or {"criterion": "label_smoothed_cross_entropy"},
        seed=3,
    )
    # every epoch checkpoint kept: these tests look at them (the pipeline keeps only the newest, see train_run)
    args += commands.runtime_train_arguments(log_interval=training["log_interval"], keep_epoch_checkpoints=True)
    return pairs, [sys.executable, "-m", "fairseq_cli.train", *args, "--cpu"]


def train(root, direction, max_epoch, save_dir, method=None, training=None):
    """Run fairseq-train to completion; returns the pairs and the log."""
    pairs, command = train_command(root, direction, max_epoch, save_dir, method, training)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return pairs, completed.stderr + completed.stdout


def user_spec(root, langs=("bos", "fra")):
    return {
        "pivot": PIVOT,
        "languages": {lang: {"role": "low"} for lang in langs},
        "source": {"kind": "parallel_files", "path": str(root)},
    }


def write_corpus(root, langs=("bos", "fra"), lines=3):
    root.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        for split in ("train", "valid", "test"):
            (root / f"{split}.{lang}-{PIVOT}.{lang}").write_text("".join(f"{lang} {i}\n" for i in range(lines)))
            (root / f"{split}.{lang}-{PIVOT}.{PIVOT}").write_text("".join(f"english {i}\n" for i in range(lines)))
    return root


def tar_of(path, members):
    """A gzipped tar at ``path`` of regular files: ``{member name: bytes}``."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def tsv_bytes(header, rows):
    return ("\n".join(["\t".join(header), *("\t".join(row) for row in rows)]) + "\n").encode()


def tsv_archive(path, header, rows):
    """A ``ted_talks.tar.gz`` whose three ``all_talks_*.tsv`` hold the same rows."""
    tar_of(path, {f"all_talks_{split}.tsv": tsv_bytes(header, rows) for split in ("train", "dev", "test")})


def ted_spec(columns):
    return {
        "pivot": PIVOT,
        "languages": {lang: {"role": "low"} for lang in columns},
        "source": {"kind": "ted_talks", "download": "ted_talks.tar.gz", "pivot_column": "en", "columns": columns},
    }


def wmt_spec(corpora, reference_size=10):
    """A one-language (fra) WMT dataset: ``corpora`` is its ``{train: [...], valid: {...}, test: {...}}``."""
    return {
        "pivot": PIVOT,
        "languages": {"fra": {"role": "high", "reference_size": reference_size}},
        "source": {"kind": "wmt", "corpora": {"fra": corpora}},
    }


def reduced_config():
    """Two demo languages, the per_language SentencePiece recipe, a one-layer model, two epochs, the baseline and
    LSSD-Adaptive (two epochs are too few for KD to switch on: the DAG's plumbing is what is tested here)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = config["datasets"]["demo"]
    keep = ["bos", "fra"]
    demo["languages"] = {lang: demo["languages"][lang] for lang in keep}
    demo["source"]["locales"] = {lang: demo["source"]["locales"][lang] for lang in keep}
    demo["spm"] = {"recipe": "per_language", "vocab_size": 500, "pivot_vocab_size": 600}
    tiny = copy.deepcopy(config["trainings"]["demo_tiny"])
    tiny["model"].update(
        encoder_layers=1, decoder_layers=1, encoder_embed_dim=32, decoder_embed_dim=32,
        encoder_ffn_embed_dim=64, decoder_ffn_embed_dim=64,
    )  # fmt: skip
    tiny.pop("by_direction", None)  # two epochs in both directions
    tiny.update(max_epoch=2, warmup_updates=20)
    config["trainings"] = {"tiny": tiny}
    demo["training"] = "tiny"
    config["evaluation"]["batch_size"] = 16
    config["run"]["methods"] = ["baseline", "lssd_adaptive"]
    return config


def close(a, b, rel=1e-6):
    """Equal structures, floats within a relative tolerance."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            return False
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    return a == b


LSSD = {
    "criterion": "lssd_distillation",
    "criterion_args": {
        "distillation_weight": 0.5,
        "distillation_variant": "adaptive",
        "distillation_level": "sentence",
        "language_aware": True,
    },
}


def expected_switch(history_values, epoch):
    """The rule, from the history alone: distil in epoch e iff e > 1 and the best epoch before e is < e - 1."""
    if epoch <= 1:
        return False
    best = min(range(1, epoch), key=lambda e: (history_values[e - 1], e))
    return epoch - best > 1
