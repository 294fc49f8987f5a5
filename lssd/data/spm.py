"""SentencePiece recipes (sentencepiece's Python API) and encoding.

Two recipes, chosen per dataset in the config (``datasets.<name>.spm.recipe``):

``per_language`` (the TED recipe of multiDDS, reused by LSSD)
    one model per non-English language trained on that language's training side, plus one English model
    trained on the English sides of all pairs: ``spm.<lang>.model`` and ``spm.<pivot>.model``.
``joint`` (the WMT recipe)
    one model over every training side: ``spm.joint.model``.

Usage (what the rules run: one job per model, one per language)::

    python -m lssd.data.spm train  --spec '<dataset JSON>' --data results/data/demo --models results/spm/demo/models \
        --model joint
    python -m lssd.data.spm encode --spec '<dataset JSON>' --data results/data/demo --models results/spm/demo/models \
        --lang bos --outdir results/spm/demo/encoded/bos
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import io
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from lssd.config import dataset_languages as non_pivot_languages
from lssd.data.parallel import SPLITS, parallel_path
from lssd.io import atomic_directory, atomic_path, iter_lines, peak_memory_line, write_lines

RECIPES = ("per_language", "joint")


def pinned_version() -> str | None:
    """The SentencePiece release this package pins (``sentencepiece==X`` in its own requirements), or None."""
    try:
        requirements = metadata.requires("lssd") or []
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return None
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        if name.strip().lower() == "sentencepiece" and version:
            return version.split(";")[0].strip()
    return None


def version_line() -> str:
    """The log's line on the SentencePiece that trains: its trainer segments differently from one release to
    the next (pyproject.toml says which and why), so another release than the pinned one gives other models, and
    with them other data-bins, which retrain every run built on them."""
    installed, pinned = spm.__version__, pinned_version()
    if pinned is None or installed == pinned:
        return f"SentencePiece {installed}"
    return (
        f"warning: SentencePiece {installed} is installed, but this pipeline pins {pinned}: its trainer segments "
        f"differently, so these models will differ from the pinned release's (pip install sentencepiece=={pinned})"
    )


def model_names(spec: dict) -> list[str]:
    """The model names a recipe trains (without the ``spm.`` prefix and ``.model`` suffix)."""
    recipe = spec["spm"]["recipe"]
    if recipe == "per_language":
        return [*non_pivot_languages(spec), spec["pivot"]]
    if recipe == "joint":
        return ["joint"]
    raise ValueError(f"unknown SentencePiece recipe '{recipe}' (expected one of {', '.join(RECIPES)})")


def model_for_side(spec: dict, side: str) -> str:
    """Which model encodes text in language ``side``."""
    return side if spec["spm"]["recipe"] == "per_language" else "joint"


def training_inputs(spec: dict, data_dir: Path) -> dict[str, list[Path]]:
    """For every model, the training files it is trained on."""
    pivot = spec["pivot"]
    langs = non_pivot_languages(spec)
    english = [parallel_path(data_dir, "train", lang, pivot, pivot) for lang in langs]
    foreign = {lang: parallel_path(data_dir, "train", lang, pivot, lang) for lang in langs}
    if spec["spm"]["recipe"] == "per_language":
        inputs = {lang: [path] for lang, path in foreign.items()}
        inputs[pivot] = english
        return inputs
    model_names(spec)  # validates the recipe name
    return {"joint": [*foreign.values(), *english]}


def vocab_size_for(spec: dict, model: str) -> int:
    options = spec["spm"]
    if model == spec["pivot"] and options.get("pivot_vocab_size"):
        return options["pivot_vocab_size"]
    return options["vocab_size"]


def train_model(inputs: list[Path], model_prefix: Path, vocab_size: int, options: dict, threads: int = 1) -> None:
    """Train one model; ``hard_vocab_limit=False`` lets a small corpus get fewer pieces than asked for."""
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=[str(path) for path in inputs],
        model_writer=model,
        vocab_size=vocab_size,
        model_type=options.get("model_type", "unigram"),
        character_coverage=options.get("character_coverage", 1.0),
        input_sentence_size=options.get("input_sentence_size", 0),
        shuffle_input_sentence=options.get("input_sentence_size", 0) > 0,
        hard_vocab_limit=False,
        num_threads=threads,
        minloglevel=2,
    )
    with atomic_path(f"{model_prefix}.model") as tmp:
        tmp.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_file=f"{model_prefix}.model")
    with atomic_path(f"{model_prefix}.vocab") as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for piece_id in range(processor.get_piece_size()):
            handle.write(f"{processor.id_to_piece(piece_id)}\t{processor.get_score(piece_id)}\n")


def train_one(
    spec: dict, data_dir: Path, model_dir: Path, model: str, threads: int = 1, where: str = "datasets.<name>"
) -> Path:
    """Train one model of the recipe (``spm.<model>.model`` and ``.vocab`` in ``model_dir``, each atomically).

    SentencePiece's own refusal (a vocabulary smaller than the characters it must cover, say) is reported as the
    config key that sets it (``where`` is the dataset's key, ``datasets.<name>``).
    """
    inputs = training_inputs(spec, data_dir)
    if model not in inputs:
        raise ValueError(f"the {spec['spm']['recipe']} recipe has no model '{model}' (it has: {', '.join(inputs)})")
    vocab_size = vocab_size_for(spec, model)
    try:
        train_model(inputs[model], model_dir / f"spm.{model}", vocab_size, spec["spm"], threads)
    except RuntimeError as error:
        key = "pivot_vocab_size" if model == spec["pivot"] and spec["spm"].get("pivot_vocab_size") else "vocab_size"
        reason = str(error).split("] ", 1)[-1]  # SentencePiece's message without its source location
        raise ValueError(
            f"{where}.spm.{key} = {vocab_size}: SentencePiece cannot train the '{model}' model with it: {reason} "
            f"(character_coverage is {where}.spm.character_coverage)"
        ) from None
    return model_dir / f"spm.{model}.model"


def train_all(spec: dict, data_dir: Path, outdir: Path, threads: int = 1) -> list[Path]:
    """Train every model of the dataset's recipe into ``outdir`` (replaced as a whole, atomically)."""
    models = []
    with atomic_directory(outdir) as staging:
        for model in training_inputs(spec, data_dir):
            train_one(spec, data_dir, staging, model, threads)
            models.append(outdir / f"spm.{model}.model")
    return models


ENCODE_BATCH = 20_000  # sentences per call: SentencePiece's own batching, with memory bounded by the batch


def encode_lines(processor: spm.SentencePieceProcessor, lines: Iterable[str]) -> Iterator[str]:
    """The pieces of each line, space-separated; ``lines`` is read in batches, so a corpus is never held whole."""
    lines = iter(lines)
    while batch := list(itertools.islice(lines, ENCODE_BATCH)):
        yield from (" ".join(pieces) for pieces in processor.encode(batch, out_type=str))


def encoded_path(outdir: Path, split: str, lang: str, pivot: str, side: str) -> Path:
    """``<encoded>/<lang>/<split>.<lang>-<pivot>.<side>``: one directory per language, each its own job."""
    return parallel_path(Path(outdir) / lang, split, lang, pivot, side)


def encode_language(spec: dict, data_dir: Path, model_dir: Path, lang: str, outdir: Path) -> None:
    """Encode every split of one language's pair into ``outdir`` (the language's directory, replaced atomically)."""
    pivot = spec["pivot"]
    processors: dict[str, spm.SentencePieceProcessor] = {}
    with atomic_directory(outdir) as staging:
        for split in SPLITS:
            for side in (lang, pivot):
                name = model_for_side(spec, side)
                if name not in processors:
                    processors[name] = spm.SentencePieceProcessor(model_file=str(model_dir / f"spm.{name}.model"))
                lines = iter_lines(parallel_path(data_dir, split, lang, pivot, side))
                write_lines(parallel_path(staging, split, lang, pivot, side), encode_lines(processors[name], lines))


def encode_all(spec: dict, data_dir: Path, model_dir: Path, outdir: Path) -> None:
    """Encode every language (what the ``spm_encode`` jobs do one language at a time)."""
    for lang in non_pivot_languages(spec):
        encode_language(spec, data_dir, model_dir, lang, Path(outdir) / lang)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SentencePiece training and encoding for one dataset")
    parser.add_argument("command", choices=["train", "encode"])
    parser.add_argument("--spec", required=True, help="the dataset's config block, as JSON")
    parser.add_argument("--data", required=True, type=Path, help="the dataset's raw parallel text directory")
    parser.add_argument("--models", required=True, type=Path, help="directory of the SentencePiece models")
    parser.add_argument("--model", help="train: only this model (a language, the pivot, or joint)")
    parser.add_argument("--lang", help="encode: only this language's pair")
    parser.add_argument("--outdir", type=Path, help="encode: the language's directory (with --lang) or the root")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SPM_THREADS", "1")))
    parser.add_argument("--dataset", default="<name>", help="the dataset's name in the config, for errors")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    if args.command == "train":
        print(version_line())
        if args.model:
            where = f"datasets.{args.dataset}"
            try:
                path = train_one(spec, args.data, args.models, args.model, args.threads, where)
            except ValueError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(f"trained {path}")
        else:
            for path in train_all(spec, args.data, args.models, args.threads):
                print(f"trained {path}")
        return 0
    if args.outdir is None:
        parser.error("encode needs --outdir")
    if args.lang:
        encode_language(spec, args.data, args.models, args.lang, args.outdir)
    else:
        encode_all(spec, args.data, args.models, args.outdir)
    return 0


if __name__ == "__main__":
    status = main()
    print(peak_memory_line())
    sys.exit(status)
