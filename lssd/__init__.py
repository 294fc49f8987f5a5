"""LSSD: Language-Specific Self-Distillation for multilingual NMT, on stock fairseq.

Loaded into fairseq with ``--user-dir <path to this directory>``. The fairseq plugin modules (the task) are
imported only when fairseq itself is importing this package, so the pipeline helpers (``lssd.data``,
``lssd.spm``, ``lssd.evaluate``, ...) stay light and usable without fairseq.
"""

import sys

__version__ = "0.1.0"


def allow_fairseq_checkpoints() -> None:
    """torch >= 2.6 loads with ``weights_only=True`` and refuses the ``argparse.Namespace`` in fairseq checkpoints."""
    import argparse

    import torch

    torch.serialization.add_safe_globals([argparse.Namespace])


if "fairseq" in sys.modules:
    # fairseq is loading us as its --user-dir: register the plugin (in-process users: ``import lssd.task``)
    from lssd import task  # noqa: F401,E402
