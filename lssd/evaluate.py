"""Translate one pair's split with ``fairseq-generate`` and score it with sacrebleu's Python API.

Beam search on the given checkpoint (the run's ``checkpoint_best.pt``), SentencePiece pieces decoded with the
target language's SentencePiece model, every sentence checked to be translated exactly once, then BLEU (13a
tokenizer; ``zh`` for Chinese targets) and chrF against the raw references, with sacrebleu's signatures.

Writes (the artifact contract of the ``evaluate`` rule):

* ``<out>.json``: the scores, signatures and provenance;
* ``<hypotheses>``: the detokenized hypotheses, one per line, in the order of the references.

Usage::

    python -m lssd.evaluate --output X.json --hypotheses X.hyp --spm-model M --reference REF \
        --meta '{"dataset": ...}' -- <fairseq-generate args>
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from lssd import gpus
from lssd.cli import split_passthrough
from lssd.commands import plugin_arguments
from lssd.io import read_lines, write_json, write_lines

CHINESE = {"zh", "zho", "chi", "cmn", "zh-cn", "zh_hans", "zh-hans"}
_HYPOTHESIS = re.compile(r"^H-(\d+)\t[^\t]*\t(.*)$")


def bleu_tokenizer(target_lang: str) -> str:
    return "zh" if target_lang.lower() in CHINESE else "13a"


def parse_hypotheses(generate_output: str, expected: int) -> list[str]:
    """The ``H-<id>`` lines of fairseq-generate's output, ordered by id; each of 0..expected-1 exactly once."""
    by_id: dict[int, str] = {}
    for line in generate_output.splitlines():
        match = _HYPOTHESIS.match(line)
        if match:
            index = int(match.group(1))
            if index in by_id:
                raise ValueError(f"fairseq-generate produced two hypotheses for sentence {index}")
            by_id[index] = match.group(2)
    if len(by_id) != expected or set(by_id) != set(range(expected)):
        missing = sorted(set(range(expected)) - set(by_id))[:10]
        raise ValueError(
            f"fairseq-generate translated {len(by_id)} of {expected} sentences (first missing ids: {missing})"
        )
    return [by_id[index] for index in range(expected)]


def decode_pieces(model_file: str | Path, hypotheses: list[str]) -> list[str]:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(model_file))
    return [processor.decode_pieces(line.split()) for line in hypotheses]


def score(hypotheses: list[str], references: list[str], target_lang: str) -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(tokenize=bleu_tokenizer(target_lang))
    chrf = CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu_score.score, 4),
        "bleu_signature": str(bleu.get_signature()),
        "bleu_details": {
            "precisions": [round(p, 4) for p in bleu_score.precisions],
            "brevity_penalty": round(bleu_score.bp, 4),
            "sys_len": bleu_score.sys_len,
            "ref_len": bleu_score.ref_len,
        },
        "chrf": round(chrf_score.score, 4),
        "chrf_signature": str(chrf.get_signature()),
    }


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.evaluate", "fairseq-generate")
    if parts is None:
        return 2
    own_args, generate_args = parts
    parser = argparse.ArgumentParser(description="translate and score one pair's split")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--hypotheses", required=True, type=Path)
    parser.add_argument("--spm-model", required=True, type=Path, help="SentencePiece model of the target side")
    parser.add_argument("--reference", required=True, type=Path, help="raw (not encoded) reference text")
    parser.add_argument("--target-lang", required=True)
    parser.add_argument("--meta", default="{}", help="JSON merged into the output (dataset, run, pair, split)")
    parser.add_argument(
        "--gpus", type=int, help="GPUs this job was given (the rule's gpu resource); 0 hides them (lssd.gpus)"
    )
    options = parser.parse_args(own_args)

    # fairseq-generate uses a GPU when one is visible and the CPU otherwise: no device flag (and no torch import
    # in this wrapper, which runs once per pair)
    # the plugin's path is added here, not in the rule's params: a moved checkout must not replan evaluations
    command = [sys.executable, "-m", "fairseq_cli.generate", *generate_args, *plugin_arguments()]
    print("$ " + " ".join(command), flush=True)
    try:
        with gpus.claim(options.gpus or 0, setting="run.gpus_per_evaluation") as devices:
            env = gpus.environment(devices) if options.gpus is not None else None
            if devices:
                print(f"using GPU(s) {','.join(devices)}", flush=True)
            completed = subprocess.run(command, capture_output=True, text=True, env=env)
    except gpus.GPUError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stderr.write(completed.stderr)
    if completed.returncode != 0:
        print(f"fairseq-generate failed with exit code {completed.returncode}", file=sys.stderr)
        return completed.returncode

    references = read_lines(options.reference)
    pieces = parse_hypotheses(completed.stdout, len(references))
    hypotheses = decode_pieces(options.spm_model, pieces)
    result = {
        **json.loads(options.meta),
        "target_lang": options.target_lang,
        "n_sentences": len(references),
        **score(hypotheses, references, options.target_lang),
        "reference": str(options.reference),
        "hypotheses": str(options.hypotheses),
    }
    write_lines(options.hypotheses, hypotheses)
    write_json(options.output, result)
    print(f"BLEU {result['bleu']:.2f}  chrF {result['chrf']:.2f}  ({len(references)} sentences)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
