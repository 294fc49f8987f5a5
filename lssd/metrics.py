"""The metrics, written once: what each score is, how sacrebleu computes it, and which result table shows it.

Evaluation (``lssd.run.evaluate``) scores every pair and split with every scorer of ``SCORERS``, once against the
raw references (the standard scores) and once against the references rebuilt from the binarized test set (the
paper-comparable ones, prefix ``spm_ref_``): the ``METRICS``, whose descriptions every evaluation JSON carries.
The tables (``lssd.report.tables``, the ``tables`` rule's outputs, the report's labels) are those of the metrics
with a ``table`` title, in ``TABLES`` order; significance (``lssd.report.significance``) tests the
``SIGNIFICANCE_METRIC``'s scorer; the published rows go in the ``PUBLISHED_METRIC``'s table.

Adding a metric: a scorer in ``SCORERS`` (its sacrebleu object for a target language, and any details to keep),
its ``Metric`` entries (one per references: ``RAW``, ``SPM_REF``), and, for a table, a title and note and its
place in ``TABLES`` (and a sentence in the report's caption, ``workflow/report/tables.rst``). No other module
names a metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CHINESE = {"zh", "zho", "chi", "cmn", "zh-cn", "zh_hans", "zh-hans"}
SIGNIFICANT = "†"


def bleu_tokenizer(target_lang: str) -> str:
    """sacreBLEU's tokenizer for a target language: ``zh`` for Chinese, ``13a`` (its default) otherwise."""
    return "zh" if target_lang.lower() in CHINESE else "13a"


def bleu(target_lang: str):
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=bleu_tokenizer(target_lang))


def chrf(target_lang: str):
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrfpp(target_lang: str):
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2)


def bleu_details(result) -> dict:
    return {
        "precisions": [round(p, 4) for p in result.precisions],
        "brevity_penalty": round(result.bp, 4),
        "sys_len": result.sys_len,
        "ref_len": result.ref_len,
    }


@dataclass(frozen=True)
class Scorer:
    """A sacrebleu metric: ``make(target_lang)`` gives its object; ``details(score)`` what else to keep of it."""

    make: Callable[[str], object]
    details: Callable[[object], dict] | None = None


# in the order their keys appear in an evaluation JSON
SCORERS: dict[str, Scorer] = {
    "bleu": Scorer(bleu, bleu_details),
    "chrf": Scorer(chrf),
    "chrfpp": Scorer(chrfpp),
}

# the references a score is computed against (its key's prefix): the raw text, or rebuilt from the data-bin
RAW, SPM_REF = "", "spm_ref_"
RAW_WORDS = "against the raw references (standard)"
SPM_REF_WORDS = "against the references rebuilt from the binarized test set (paper-comparable)"

TABLE_FOOTER = (
    "Mean over seeds (± standard deviation when several ran). Columns from high- to low-resource; avg, low_avg, "
    "high_avg: unweighted averages over all, low- and high-resource pairs."
)


@dataclass(frozen=True)
class Metric:
    """A score of the evaluation JSON (``name``: its key), and its result table if it has one."""

    name: str
    description: str  # in every evaluation JSON's "metrics"
    title: str | None = None  # the table's title; None: no table
    note: str = ""  # what the table's numbers are, printed under it (before TABLE_FOOTER)
    higher_is_better: bool = True  # which computed mean per column a table marks as the best (TER: lower)


PUBLISHED_METRIC = "spm_ref_bleu"  # the original scored against the SentencePiece'd references
SIGNIFICANCE_METRIC = "bleu"  # the table whose cells carry the significance marks

METRICS: dict[str, Metric] = {
    entry.name: entry
    for entry in (
        Metric(
            "bleu",
            f"sacreBLEU {RAW_WORDS}",
            title="BLEU",
            note=f"sacreBLEU against the raw reference text (the standard score); {SIGNIFICANT}: significant gain "
            "over the baseline (paired bootstrap, first seed, p < 0.05). Not comparable with the paper's numbers: "
            f"see the {PUBLISHED_METRIC} table.",
        ),
        Metric("chrf", f"chrF {RAW_WORDS}", title="chrF", note="chrF (sacrebleu) against the raw reference text."),
        Metric(
            "chrfpp",
            f"chrF++ (word_order=2) {RAW_WORDS}",
            title="chrF++",
            note="chrF++ (sacrebleu, word bigrams) against the raw reference text.",
        ),
        Metric(
            f"{SPM_REF}bleu",
            f"sacreBLEU {SPM_REF_WORDS}",
            title="BLEU, paper-comparable (references through SentencePiece)",
            note="sacreBLEU against the references rebuilt from the binarized test set (passed through the target "
            "SentencePiece model, as the original scored them): comparable with the paper. Published rows are the "
            "authors' numbers; Δ rows are ours minus them.",
        ),
        Metric(f"{SPM_REF}chrf", f"chrF {SPM_REF_WORDS}"),
        Metric(f"{SPM_REF}chrfpp", f"chrF++ {SPM_REF_WORDS}"),
    )
}

# the metrics with a result table, in the order the tables are listed (the standard BLEU, the paper's, then chrF)
TABLES: dict[str, Metric] = {name: METRICS[name] for name in ("bleu", "spm_ref_bleu", "chrf", "chrfpp")}
assert all(entry.title for entry in TABLES.values()) and {PUBLISHED_METRIC, SIGNIFICANCE_METRIC} <= set(TABLES)


def descriptions() -> dict[str, str]:
    """``{metric: description}``, as every evaluation JSON carries it (``metrics``)."""
    return {name: entry.description for name, entry in METRICS.items()}


def table_note(name: str) -> str:
    """What a table's numbers are, printed under it."""
    return f"{TABLES[name].note} {TABLE_FOOTER}"


def signature_key(name: str) -> str:
    """The key of a score's sacrebleu signature in an evaluation JSON (the tables print it under each table)."""
    return f"{name}_signature"


def score(hypotheses: list[str], references: list[str], target_lang: str, prefix: str = "") -> dict:
    """Every scorer's score (rounded to 4 decimals), signature and details of ``hypotheses`` against
    ``references``, keys prefixed with ``prefix`` (RAW or SPM_REF)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    result = {}
    for name, scorer in SCORERS.items():
        computed = scorer.make(target_lang)
        value = computed.corpus_score(hypotheses, [references])
        result[name] = round(value.score, 4)
        result[signature_key(name)] = str(computed.get_signature())
        if scorer.details:
            result[f"{name}_details"] = scorer.details(value)
    return {prefix + key: value for key, value in result.items()}
