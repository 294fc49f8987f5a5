import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def snakemake(*args, cwd, timeout=1800):
    """Run the real Snakemake CLI of this environment on the project's Snakefile."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="2")
    command = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fake_django(tmp_path):
    """A directory laid out like an installed django package with hand-written catalogs."""
    root = tmp_path / "django"

    def add_catalog(locale, entries, domain="django", app="conf"):
        path = root / app / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        path.write_text(header + "\n".join(entries), encoding="utf-8")
        return path

    root.mkdir()
    return root, add_catalog


def have(program):
    return shutil.which(program) is not None


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


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A real data-bin from three demo languages (per_language SentencePiece), shared by the fairseq tests."""
    from lssd import binarize, spm
    from lssd.data import demo

    root = tmp_path_factory.mktemp("task")
    spec = {
        "pivot": "eng",
        # bos and mkd cut to a dozen training pairs: upsampled by temperature sampling, they over-fit within a
        # few epochs, which is what makes LSSD switch distillation on in a short test run
        "languages": {lang: {"reference_size": size} for lang, size in REFERENCE_SIZES.items()},
        "source": {
            "kind": "django_catalogs",
            "locales": LANGS,
            "valid_percent": 10,
            "test_percent": 10,
            "subsample": {"floor": 12},
        },
        "spm": {"recipe": "per_language", "vocab_size": 400, "pivot_vocab_size": 500},
    }
    demo.build(spec, "tiny", root / "data")
    spm.train_all(spec, root / "data", root / "models")
    spm.encode_all(spec, root / "data", root / "models", root / "encoded")
    with open(root / "binarize.log", "w") as log:
        binarize.binarize(spec, root / "encoded", root / "bin", log=log)
    return root, spec


def train_command(root, direction, max_epoch, save_dir, method=None, training=None):
    from lssd import commands

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
