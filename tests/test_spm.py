"""The two SentencePiece recipes and encoding."""

import sentencepiece as spm

from lssd.data.parallel import write_parallel
from lssd.data.spm import encode_all, encoded_path, model_for_side, model_names, train_all

FRENCH = [f"le chat numéro {i} mange la souris grise" for i in range(60)]
KOREAN = [f"고양이 {i} 번이 회색 쥐를 먹는다" for i in range(60)]
ENGLISH = [f"the cat number {i} eats the grey mouse" for i in range(60)]


def make_data(tmp_path):
    data = tmp_path / "data"
    for lang, text in (("fra", FRENCH), ("kor", KOREAN)):
        for split in ("train", "valid", "test"):
            write_parallel(data, split, lang, "eng", list(zip(text, ENGLISH, strict=True)))
    return data


def spec(recipe, vocab_size=60, **extra):
    return {
        "pivot": "eng",
        "languages": {"fra": {}, "kor": {}},
        "spm": {"recipe": recipe, "vocab_size": vocab_size, **extra},
    }


def test_per_language_recipe_trains_one_model_per_language_plus_english(tmp_path):
    data = make_data(tmp_path)
    config = spec("per_language", pivot_vocab_size=50)
    assert model_names(config) == ["fra", "kor", "eng"]
    train_all(config, data, tmp_path / "models")
    models = {p.name for p in (tmp_path / "models").glob("*.model")}
    assert models == {"spm.fra.model", "spm.kor.model", "spm.eng.model"}
    korean = spm.SentencePieceProcessor(model_file=str(tmp_path / "models" / "spm.kor.model"))
    english = spm.SentencePieceProcessor(model_file=str(tmp_path / "models" / "spm.eng.model"))
    # each model only knows its own script: no Hangul piece in the English model
    assert not any("고" in english.id_to_piece(i) for i in range(english.get_piece_size()))
    assert any("고" in korean.id_to_piece(i) for i in range(korean.get_piece_size()))
    assert english.get_piece_size() <= 50
    assert model_for_side(config, "kor") == "kor" and model_for_side(config, "eng") == "eng"


def test_joint_recipe_trains_one_model_and_encoding_round_trips(tmp_path):
    data = make_data(tmp_path)
    config = spec("joint", vocab_size=80)
    train_all(config, data, tmp_path / "models")
    assert [p.name for p in (tmp_path / "models").glob("*.model")] == ["spm.joint.model"]
    encode_all(config, data, tmp_path / "models", tmp_path / "encoded")
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "models" / "spm.joint.model"))
    for lang, text in (("fra", FRENCH), ("kor", KOREAN)):
        for side, original in ((lang, text), ("eng", ENGLISH)):
            lines = encoded_path(tmp_path / "encoded", "test", lang, "eng", side).read_text().splitlines()
            assert len(lines) == len(original)
            assert [processor.decode_pieces(line.split()) for line in lines] == original
    assert model_for_side(config, "kor") == "joint"
