"""Small helpers shared by the command-line wrappers around fairseq (``train_run``, ``evaluate``)."""

from __future__ import annotations

import sys


def split_passthrough(argv: list[str] | None, program: str, wrapped: str) -> tuple[list[str], list[str]] | None:
    """Split ``[our options] -- [fairseq arguments]``; print the usage and return None without a ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print(f"usage: python -m {program} [options] -- <{wrapped} arguments>", file=sys.stderr)
        return None
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def device_arguments(fp16: bool = False) -> list[str]:
    """fairseq's device flags for this machine: ``--cpu`` without CUDA, ``--fp16`` on a GPU when asked for."""
    import torch

    if not torch.cuda.is_available():
        return ["--cpu"]
    return ["--fp16"] if fp16 else []
