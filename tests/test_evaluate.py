"""Scoring with sacrebleu: the standard scores and the paper-comparable ones."""

import pytest

from lssd.metrics import bleu_tokenizer, score
from lssd.run.evaluate import pair_scores, remove_sentencepiece


def test_scores_and_signatures():
    references = ["the cat sat on the mat", "a dog barked loudly today"]
    perfect = score(references, references, "eng")
    assert perfect["bleu"] == pytest.approx(100.0)
    assert perfect["chrf"] == pytest.approx(100.0)
    assert "tok:13a" in perfect["bleu_signature"]
    assert "nc:6" in perfect["chrf_signature"] and "nw:0" in perfect["chrf_signature"]
    assert perfect["chrfpp"] == pytest.approx(100.0) and "nw:2" in perfect["chrfpp_signature"]
    worse = score(["the cat sat", "a dog barked loudly today"], references, "eng")
    assert 0 < worse["bleu"] < 100 and worse["bleu_details"]["brevity_penalty"] < 1


def test_chinese_targets_use_the_zh_tokenizer():
    assert bleu_tokenizer("zho") == "zh" and bleu_tokenizer("fra") == "13a"
    result = score(["我喜欢猫"], ["我喜欢猫"], "zho")
    assert "tok:zh" in result["bleu_signature"]
    with pytest.raises(ValueError, match="1 hypotheses for 2 references"):
        score(["a"], ["a", "b"], "eng")


def test_the_original_decoding_of_pieces():
    assert remove_sentencepiece("▁hello ▁wor ld <<unk>> ▁!") == "hello world<<unk> > !".replace("<<unk> >", "<<unk>>")


REFERENCES = {
    # full-width punctuation: NFKC (SentencePiece's default normalisation) makes it half-width
    "zho": ["你好，世界！", "我们：今天（星期一）去学校？"],
    # precomposed nukta letters (क़ U+0958, ज़ U+095B): NFKC decomposes them into letter + nukta (U+093C)
    "hin": ["यह \u0958लम है", "मुझे \u095bरूर जाना है"],
}


@pytest.mark.parametrize("lang", sorted(REFERENCES))
def test_paper_comparable_scores_see_references_as_sentencepiece_does(lang, tmp_path):
    """A system whose output is exactly the reference as SentencePiece normalises it: 100 against the references
    rebuilt from the binarized data (as the original scored), less against the raw text."""
    import sentencepiece as spm

    raw = REFERENCES[lang]
    training = tmp_path / "train.txt"
    training.write_text("\n".join(raw * 20) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(training), model_prefix=str(tmp_path / "spm"), vocab_size=30, character_coverage=1.0,
        hard_vocab_limit=False,
    )  # fmt: skip
    model = spm.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    pieces = [" ".join(model.encode(line, out_type=str)) for line in raw]
    hypotheses, references, scores = pair_scores(pieces, pieces, raw, tmp_path / "spm.model", lang)
    assert hypotheses == references != raw  # SentencePiece changed the text
    assert scores["spm_ref_bleu"] == pytest.approx(100.0) and scores["spm_ref_chrf"] == pytest.approx(100.0)
    assert scores["bleu"] < 100 and scores["chrf"] < 100 and scores["chrfpp"] < 100
    assert ("tok:zh" if lang == "zho" else "tok:13a") in scores["spm_ref_bleu_signature"]
