"""LSSD: Language-Specific Self-Distillation for multilingual NMT, on stock fairseq.

The subpackages follow the pipeline: ``lssd.data`` (corpora, SentencePiece, the data-bin), ``lssd.method`` (the
LSSD objective, teacher pool and per-pair histories, without fairseq), ``lssd.plugin`` (the fairseq task and
criterion, loaded with ``--user-dir``), ``lssd.run`` (command lines, training runner, evaluation) and
``lssd.report`` (tables, significance, convergence statistics, figures); ``lssd.config`` and ``lssd.io`` serve
them all. Only ``lssd.plugin`` (and the evaluation's generation) imports fairseq.
"""

__version__ = "0.1.0"


def allow_fairseq_checkpoints() -> None:
    """Let fairseq load its own checkpoints and broadcast its training state under torch >= 2.6.

    torch now loads with ``weights_only=True`` unless told otherwise, and fairseq's own ``torch.load`` calls pass
    nothing: loading a checkpoint refuses its ``argparse.Namespace``, and resuming with more than one
    data-parallel worker (CPU workers or GPUs alike) dies on rank 1, where ``distributed_utils.broadcast_object``
    unpickles rank 0's state (an ``omegaconf`` config and the optimizer's state) with ``torch.load(buffer)``.
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` restores torch's earlier default for the calls that choose nothing, in
    this process and in the workers fairseq spawns from it (they inherit the environment): these are the run's
    own files and its own ranks' state. Calls that ask for ``weights_only`` explicitly keep their choice.
    """
    import argparse
    import os
    import warnings

    import torch

    torch.serialization.add_safe_globals([argparse.Namespace])
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    # torch warns at every such load; the reason is documented here once
    warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected")
