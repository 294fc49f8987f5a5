"""LSSD: Language-Specific Self-Distillation for multilingual NMT, on stock fairseq.

The subpackages follow the pipeline: ``lssd.data`` (corpora, SentencePiece, the data-bin), ``lssd.method`` (the
LSSD objective, teacher pool and per-pair histories, without fairseq), ``lssd.plugin`` (the fairseq task and
criterion, loaded with ``--user-dir``), ``lssd.run`` (command lines, training runner, evaluation) and
``lssd.report`` (tables, significance, convergence statistics, figures); ``lssd.config`` and ``lssd.io`` serve
them all. Only ``lssd.plugin`` (and the evaluation's generation) imports fairseq.
"""

__version__ = "0.1.0"


def allow_fairseq_checkpoints() -> None:
    """torch >= 2.6 loads with ``weights_only=True`` and refuses the ``argparse.Namespace`` in fairseq checkpoints."""
    import argparse

    import torch

    torch.serialization.add_safe_globals([argparse.Namespace])
