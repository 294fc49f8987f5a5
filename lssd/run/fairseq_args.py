"""Check ``fairseq-train`` argument lists with fairseq's own parser, before any job runs, and the values it
parsed (:func:`value_errors`: what fairseq accepts but then trains without end, divides by zero on, or builds a
broken model from).

A misspelt flag in ``extra_args``, an unknown criterion or architecture, ``--max-epoch 0`` or an embedding
dimension the attention heads do not divide would otherwise stop a training job after the data preparation,
hours into a cluster queue, or never. The workflow runs this once per configuration (one process imports fairseq
and parses every run's arguments) and remembers the lists that passed (``cache_dir``), so a second ``snakemake``
start does not pay for it again.

Usage (what the workflow does)::

    python -m lssd.run.fairseq_args < runs.json    # [{"run": NAME, "args": [...]}, ...]; prints {"NAME": "error"}
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from lssd.run.commands import USER_DIR


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def not_finite(args) -> str | None:
    for name, value in sorted(vars(args).items()):
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                return f"{flag(name)} {item}: not a finite number"
    return None


def architecture_errors(args) -> str | None:
    """A transformer's layers, widths and heads as fairseq's architecture defaults filled them in."""
    for side in ("encoder", "decoder"):
        layers = getattr(args, f"{side}_layers", None)
        if layers is not None and layers < 1:
            return f"{flag(side + '_layers')} {layers}: a model needs at least one {side} layer"
        dim, heads = getattr(args, f"{side}_embed_dim", None), getattr(args, f"{side}_attention_heads", None)
        if dim is not None and heads is not None:
            if dim < 1 or heads < 1:
                return f"{flag(side + '_embed_dim')} {dim} / {flag(side + '_attention_heads')} {heads}: must be >= 1"
            if dim % heads:
                return (
                    f"{flag(side + '_embed_dim')} {dim} is not divisible by {flag(side + '_attention_heads')} "
                    f"{heads} (each head takes an equal share of the dimension)"
                )
        ffn = getattr(args, f"{side}_ffn_embed_dim", None)
        if ffn is not None and ffn < 1:
            return f"{flag(side + '_ffn_embed_dim')} {ffn}: must be at least 1"
    return None


def schedule_errors(args) -> str | None:
    """How long and how fast it trains: a limit, a warm-up the schedule can divide by, betas Adam converges with."""
    if not args.max_epoch or args.max_epoch < 1:
        return f"--max-epoch {args.max_epoch}: fairseq trains without end unless it is at least 1"
    if (args.max_update or 0) < 0:
        return f"--max-update {args.max_update}: must be 0 (no limit) or more"
    if getattr(args, "lr_scheduler", None) == "inverse_sqrt" and (args.warmup_updates or 0) < 1:
        return f"--warmup-updates {args.warmup_updates}: the inverse_sqrt schedule needs at least 1 (it divides by it)"
    if any(lr <= 0 for lr in args.lr):
        return f"--lr {args.lr}: must be positive"
    if any(freq < 1 for freq in args.update_freq):
        return f"--update-freq {args.update_freq}: must be at least 1"
    if getattr(args, "optimizer", None) == "adam":
        betas = ast.literal_eval(args.adam_betas) if isinstance(args.adam_betas, str) else args.adam_betas
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            return f"--adam-betas {args.adam_betas}: two values in [0, 1)"
    for name in ("dropout", "attention_dropout", "activation_dropout", "label_smoothing"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value < 1:
            return f"{flag(name)} {value}: must be in [0, 1)"
    return None


def batch_errors(args) -> str | None:
    """Every sentence fairseq keeps (up to the position limits) must fit in a batch of ``--max-tokens``."""
    longest = max(args.max_source_positions, args.max_target_positions)
    if args.max_tokens is not None and args.max_tokens < longest:
        return (
            f"--max-tokens {args.max_tokens} is smaller than the longest sentence the position limits keep "
            f"({longest} tokens): fairseq stops at the first longer one; raise max_tokens or lower max_positions"
        )
    return None


def value_errors(args) -> str | None:
    """What fairseq's parser accepts in a training's parsed arguments but must not train with; None when fine."""
    for check in (not_finite, architecture_errors, schedule_errors, batch_errors):
        message = check(args)
        if message:
            return message
    return None


def parse_errors(runs: list[dict]) -> dict[str, str]:
    """Each run whose arguments fairseq-train's parser refuses, or whose values :func:`value_errors` refuses."""
    from fairseq import options

    errors = {}
    for run in runs:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                parsed = options.parse_args_and_arch(options.get_training_parser(), run["args"])
        except SystemExit:
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
            message = lines[-1] if lines else "refused"
            errors[run["run"]] = message.split("error: ", 1)[-1]
            continue
        message = value_errors(parsed)
        if message:
            errors[run["run"]] = message
    return errors


def cache_key(runs: list[dict]) -> str:
    """What a result depends on: the argument lists, and the code of fairseq and of the plugin that parses them."""
    import importlib.metadata

    digest = hashlib.sha256(json.dumps([run["args"] for run in runs], sort_keys=True).encode())
    digest.update(importlib.metadata.version("fairseq-fixed").encode())
    for path in [Path(__file__), *sorted(Path(USER_DIR).glob("*.py"))]:  # the checks here, and the plugin
        digest.update(path.read_bytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lssd" / "fairseq-args"


def check(runs: list[dict], cache_dir: Path | None = None, timeout: float = 600) -> dict[str, str]:
    """The runs fairseq refuses (run name → message), parsed in a separate process (fairseq and torch are not
    imported into Snakemake's); an empty dict when all pass, remembered in ``cache_dir``."""
    if not runs:
        return {}
    cache_dir = cache_dir or default_cache_dir()
    marker = cache_dir / cache_key(runs)
    if marker.exists():
        return {}
    completed = subprocess.run(
        [sys.executable, "-m", "lssd.run.fairseq_args"],
        input=json.dumps(runs),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"checking the fairseq-train arguments failed:\n{completed.stderr[-3000:]}")
    errors = json.loads(completed.stdout.strip().splitlines()[-1])
    if not errors:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only home: check again next time
    return errors


def main() -> int:
    runs = json.loads(sys.stdin.read())
    errors = parse_errors(runs)
    print(json.dumps(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
