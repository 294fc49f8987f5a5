"""Translate every pair and split of one run with one model load, and score each with sacrebleu's Python API.

Beam search on the run's ``checkpoint_best.pt`` (lssd.run.generation: fairseq's own generation steps, the model
loaded once for all pairs), every sentence checked to be translated exactly once, then two sets of scores per pair:

* **standard** (``bleu``, ``chrf``, ``chrfpp``): the hypotheses decoded with the target SentencePiece model against
  the raw reference text, as a reader of today's papers expects; BLEU with the 13a tokenizer (``zh`` for Chinese
  targets), chrF, and chrF++ (word n-grams of order 2);
* **paper-comparable** (``spm_ref_bleu``, ``spm_ref_chrf``, ``spm_ref_chrfpp``): against the references rebuilt from
  the binarized test set, as the original's ``fairseq-generate --scoring sacrebleu --remove-bpe sentencepiece``
  did: the reference went through the target SentencePiece model (NFKC-normalised, pieces missing from the
  dictionary shown as ``<<unk>>``) exactly as the hypotheses did. Published numbers compare with these.

The metrics, their descriptions and tables are lssd.metrics's.

Writes, for every planned (pair, split), into the output directory (the artifact contract of the ``evaluate`` rule):

* ``<pair>.<split>.json``: both sets of scores, their sacrebleu signatures and the provenance;
* ``<pair>.<split>.hyp``: the detokenized hypotheses, one per line, in the order of the references;
* ``<pair>.<split>.spm_ref``: the paper-comparable references, one per line.

Usage::

    python -m lssd.run.evaluate --output-dir DIR --plan '[{"pair": "eng-fra", "split": "test", "reference": REF,
        "spm_model": M}, ...]' --meta '{"dataset": ...}' -- <fairseq-generate arguments common to every pair>
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from lssd import metrics
from lssd.io import read_lines, write_json, write_lines
from lssd.run import evaluated, gpus
from lssd.run.cli import split_passthrough


@functools.cache
def sentencepiece_model(model_file: str):
    """A SentencePiece model, loaded once per process (a run's pairs and splits share one or a few)."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=model_file)


def decode_pieces(model_file: str | Path, hypotheses: list[str]) -> list[str]:
    processor = sentencepiece_model(str(model_file))
    return [processor.decode_pieces(line.split()) for line in hypotheses]


def remove_sentencepiece(pieces: str) -> str:
    """What fairseq's ``--remove-bpe sentencepiece`` (the original's scoring) makes of a line of pieces: spaces
    dropped, word-boundary marks turned into spaces; ``<<unk>>`` kept as text."""
    return pieces.replace(" ", "").replace("\u2581", " ").strip()


def pair_scores(pieces: list[str], spm_references: list[str], raw_references: list[str], spm_model, target_lang):
    """The hypotheses (decoded), the paper-comparable references and both sets of scores of one split."""
    if len(raw_references) != len(pieces):
        raise ValueError(f"{len(pieces)} sentences in the binarized split, {len(raw_references)} raw references")
    hypotheses = decode_pieces(spm_model, pieces)
    references = [remove_sentencepiece(line) for line in spm_references]
    original_hypotheses = [remove_sentencepiece(line) for line in pieces]
    scores = {
        **metrics.score(hypotheses, raw_references, target_lang, metrics.RAW),
        **metrics.score(original_hypotheses, references, target_lang, metrics.SPM_REF),
    }
    return hypotheses, references, scores


def evaluate_item(generator, item: dict, meta: dict, output_dir: Path, extra: dict | None = None) -> dict:
    """Translate one planned (pair, split) with the generator's model, score it and write its three files;
    ``extra`` is added to the JSON (after today's keys). Returns the JSON."""
    from lssd.run.generation import Request

    source, target = item["pair"].split("-")
    print(f"translating {item['pair']} {item['split']}", flush=True)
    translation = generator.translate(Request(source, target, item["split"]))
    raw_references = read_lines(item["reference"])
    hypotheses, references, scores = pair_scores(
        translation.hypotheses, translation.references, raw_references, item["spm_model"], target
    )
    stem = output_dir / f"{item['pair']}.{item['split']}"
    result = {
        **meta,
        "pair": item["pair"],
        "split": item["split"],
        "target_lang": target,
        "n_sentences": len(raw_references),
        **scores,
        "metrics": metrics.descriptions(),
        "reference": str(item["reference"]),
        "spm_reference": f"{stem}.spm_ref",
        "hypotheses": f"{stem}.hyp",
        **(extra or {}),
    }
    write_lines(f"{stem}.hyp", hypotheses)
    write_lines(f"{stem}.spm_ref", references)
    write_json(f"{stem}.json", result)
    print(
        f"{item['pair']} {item['split']}: BLEU {result['bleu']:.2f} (paper-comparable {result['spm_ref_bleu']:.2f})"
        f"  chrF {result['chrf']:.2f}  chrF++ {result['chrfpp']:.2f}  ({len(raw_references)} sentences)",
        flush=True,
    )
    return result


def planned_files(plan: list[dict]) -> list[str]:
    """The files an evaluation writes for its plan (besides any manifest and the checksums)."""
    return [name for item in plan for name in evaluated.files_of(item["pair"], item["split"])]


def evaluate_run(output_dir: Path, plan: list[dict], meta: dict, generate_args: list[str]) -> list[dict]:
    from lssd.run.generation import Generator

    generator = Generator(generate_args)
    results = [evaluate_item(generator, item, meta, output_dir) for item in plan]
    evaluated.write_checksums(output_dir, planned_files(plan))  # last: what the workflow checks the directory against
    return results


def evaluation_parser(description: str) -> argparse.ArgumentParser:
    """The options every evaluation of a run takes (this one's and lssd.run.evaluate_pair_best's)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument(
        "--plan", required=True, help="JSON list of {pair, split, reference (raw text), spm_model (target side)}"
    )
    parser.add_argument("--meta", default="{}", help="JSON merged into every output (dataset, direction, run)")
    gpus.add_job_gpu_options(parser, "run.gpus_per_evaluation")
    return parser


def run_on_job_gpus(options: argparse.Namespace, evaluation) -> int:
    """``evaluation()`` on the job's GPUs (set before lssd.run.generation imports torch); 2 when they are wrong."""
    options.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        given = gpus.given_gpus(options.gpus, options.gres)
        with gpus.job_gpus(given, setting="run.gpus_per_evaluation", say=functools.partial(print, flush=True)):
            evaluation()
    except gpus.GPUError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.run.evaluate", "fairseq-generate")
    if parts is None:
        return 2
    own_args, generate_args = parts
    options = evaluation_parser("translate and score every pair and split of one run").parse_args(own_args)
    plan, meta = json.loads(options.plan), json.loads(options.meta)
    return run_on_job_gpus(options, lambda: evaluate_run(options.output_dir, plan, meta, generate_args))


if __name__ == "__main__":
    sys.exit(main())
