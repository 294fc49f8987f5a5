"""The presets of benchmarks/paper_training.py: datasets, dev and dictionary sizes, the tiny setting, and the
paper's configuration as the workflow trains it."""

from __future__ import annotations

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
TINY = {  # seconds instead of minutes: the same code paths on a 1+1-layer model and small data
    "model": {"encoder_layers": 1, "decoder_layers": 1, "encoder_embed_dim": 32, "decoder_embed_dim": 32,
              "encoder_ffn_embed_dim": 64, "decoder_ffn_embed_dim": 64, "encoder_attention_heads": 2,
              "decoder_attention_heads": 2},
    "dict_size": 600, "pivot_dict_size": 300, "language_vocab": 200, "max_tokens": 512, "train_sentences": 400,
    "dev_scale": 0.01, "updates": 2,
}  # fmt: skip


def paper_config() -> dict:
    """config/config.yaml with config/paper.yaml on top and the schema's defaults filled in: what the workflow
    trains the paper's runs with (``snakemake --configfile config/paper.yaml``)."""
    from lssd import config_files

    return config_files.load_config([config_files.DEMO, config_files.PAPER])
