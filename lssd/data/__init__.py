"""Data preparation: corpus extraction, splitting and subsampling, SentencePiece and the fairseq data-bin
(imported by the rules, never by fairseq)."""

from __future__ import annotations

from pathlib import Path


def build_demo_data_bin(spec: dict, name: str, work_dir: Path) -> Path:
    """A demo-kind dataset through every preparation stage the rules run one by one (corpus, SentencePiece,
    data-bin) into ``work_dir``: for tests and benchmarks that need a real data-bin without the DAG."""
    from lssd.data import binarize, demo, spm

    demo.build(spec, name, work_dir / "data")
    spm.train_all(spec, work_dir / "data", work_dir / "models")
    spm.encode_all(spec, work_dir / "data", work_dir / "models", work_dir / "encoded")
    with open(work_dir / "binarize.log", "w") as log:
        binarize.binarize(spec, work_dir / "encoded", work_dir / "bin", log=log)
    return work_dir / "bin"
