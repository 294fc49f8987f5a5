"""Hypothesis parsing and sacrebleu scoring."""

import pytest

from lssd.evaluate import bleu_tokenizer, parse_hypotheses, score

GENERATE_OUTPUT = """S-1\tsource one
T-1\treference one
H-1\t-0.5\t▁world
D-1\t-0.5\t▁world
P-1\t-0.1 -0.2
S-0\tsource zero
H-0\t-0.3\t▁hello ▁there
"""


def test_hypotheses_are_ordered_by_id():
    assert parse_hypotheses(GENERATE_OUTPUT, 2) == ["▁hello ▁there", "▁world"]


def test_a_missing_hypothesis_is_an_error():
    with pytest.raises(ValueError, match="translated 2 of 3 sentences"):
        parse_hypotheses(GENERATE_OUTPUT, 3)


def test_scores_and_signatures():
    references = ["the cat sat on the mat", "a dog barked loudly today"]
    perfect = score(references, references, "eng")
    assert perfect["bleu"] == pytest.approx(100.0)
    assert perfect["chrf"] == pytest.approx(100.0)
    assert "tok:13a" in perfect["bleu_signature"]
    assert "nc:6" in perfect["chrf_signature"]
    worse = score(["the cat sat", "a dog barked loudly today"], references, "eng")
    assert 0 < worse["bleu"] < 100 and worse["bleu_details"]["brevity_penalty"] < 1


def test_chinese_targets_use_the_zh_tokenizer():
    assert bleu_tokenizer("zho") == "zh" and bleu_tokenizer("fra") == "13a"
    result = score(["我喜欢猫"], ["我喜欢猫"], "zho")
    assert "tok:zh" in result["bleu_signature"]
    with pytest.raises(ValueError, match="1 hypotheses for 2 references"):
        score(["a"], ["a", "b"], "eng")
