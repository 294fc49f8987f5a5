"""The per-pair dev-loss history of a run: one format, written by the fairseq task while it trains and read by
the evaluation and report code afterwards.

On disk (``history.json``)::

    {"bos-eng": [loss at epoch 1, loss at epoch 2, ...], ..., "all": [...]}

Every value is the label-smoothed cross-entropy on that pair's dev set in **bits per target token**
(``sum of per-token losses in nats / number of target tokens / ln 2``), measured at the end of each epoch;
``"all"`` is the same over the concatenated dev set (token-weighted, i.e. fairseq's ``valid_loss``).
An epoch without a validation is ``null``. This module has no torch or fairseq import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lssd.io import write_json

ALL = "all"


def best_epoch(values: Sequence[float | None], before: int | None = None) -> int | None:
    """1-based epoch of the lowest value (earliest on ties), among epochs < ``before`` if given; None if none."""
    candidates = [
        (value, epoch)
        for epoch, value in enumerate(values, start=1)
        if value is not None and (before is None or epoch < before)
    ]
    return min(candidates)[1] if candidates else None


def pair_best_epochs(history: Mapping[str, Sequence[float | None]]) -> dict[str, int]:
    """Each pair's best epoch in a ``history.json`` (1-based, the earliest on ties): the epoch of the checkpoint
    that pair is evaluated with on its own; ``"all"`` and a pair without any value are left out."""
    epochs = {pair: best_epoch(values) for pair, values in history.items() if pair != ALL}
    return {pair: epoch for pair, epoch in epochs.items() if epoch is not None}


def bits_per_token(loss_nats: float, ntokens: float) -> float:
    """A summed loss in nats over ``ntokens`` target tokens, as bits per token."""
    if ntokens <= 0:
        raise ValueError("bits_per_token needs at least one target token")
    return loss_nats / ntokens / math.log(2)


class PairLossSums:
    """Running per-pair sums of (loss in nats, target tokens) over one validation."""

    def __init__(self) -> None:
        self.loss: dict[str, float] = {}
        self.ntokens: dict[str, float] = {}

    def add(self, pair: str, loss_nats: float, ntokens: float) -> None:
        self.loss[pair] = self.loss.get(pair, 0.0) + float(loss_nats)
        self.ntokens[pair] = self.ntokens.get(pair, 0.0) + float(ntokens)

    def __bool__(self) -> bool:
        return any(count > 0 for count in self.ntokens.values())

    def bits_per_token(self) -> dict[str, float]:
        """Each pair's dev loss in bits/token, and ``"all"`` over every token of every pair."""
        values = {pair: bits_per_token(self.loss[pair], n) for pair, n in self.ntokens.items() if n > 0}
        total_tokens = sum(self.ntokens.values())
        if total_tokens > 0:
            values[ALL] = bits_per_token(sum(self.loss.values()), total_tokens)
        return values


class History:
    """Per-epoch dev losses: ``{epoch: {pair: bits/token, ..., "all": ...}}`` with 1-based epochs."""

    def __init__(self, epochs: Mapping[int, Mapping[str, float]] | None = None) -> None:
        self.epochs: dict[int, dict[str, float]] = {int(e): dict(v) for e, v in (epochs or {}).items()}

    def record(self, epoch: int, values: Mapping[str, float]) -> None:
        """Set the values of ``epoch`` (a later validation in the same epoch replaces an earlier one)."""
        self.epochs[int(epoch)] = dict(values)

    def truncate(self, before_epoch: int) -> None:
        """Forget every epoch ``>= before_epoch`` (used when a run resumes into an earlier epoch)."""
        self.epochs = {e: v for e, v in self.epochs.items() if e < before_epoch}

    def pairs(self) -> list[str]:
        names: list[str] = []
        for epoch in sorted(self.epochs):
            for name in self.epochs[epoch]:
                if name not in names and name != ALL:
                    names.append(name)
        return names

    def to_json(self) -> dict[str, list[float | None]]:
        last = max(self.epochs, default=0)
        return {
            name: [self.epochs.get(epoch, {}).get(name) for epoch in range(1, last + 1)]
            for name in [*self.pairs(), ALL]
        }

    @classmethod
    def from_json(cls, data: Mapping[str, list[float | None]]) -> History:
        history = cls()
        for name, values in data.items():
            for index, value in enumerate(values):
                if value is not None:
                    history.epochs.setdefault(index + 1, {})[name] = value
        return history

    def best_epoch(self, name: str) -> int | None:
        """The 1-based epoch of the lowest value of ``name`` (the earliest one on ties), or None."""
        return best_epoch(self.to_json().get(name, []))

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> History:
        with open(path, encoding="utf-8") as handle:
            return cls.from_json(json.load(handle))


class Records:
    """What an LSSD run did, per epoch and pair: the pair's best epoch (its teacher during the epoch), whether KD
    was on, the mean gate and the KD loss (bits per distilled token; ``null`` where nothing was distilled).

    On disk (``records.json``)::

        {"bos-eng": {"best_epoch": [...], "kd_on": [...], "mean_gate": [...], "kd_loss": [...],
                     "train_tokens": [...], "kd_tokens": [...]}, ...}

    ``train_tokens``: the target tokens trained on in the epoch (pads excluded); ``kd_tokens``: those distilled.
    """

    FIELDS = ("best_epoch", "kd_on", "mean_gate", "kd_loss", "train_tokens", "kd_tokens")

    def __init__(self, epochs: Mapping[int, Mapping[str, Mapping]] | None = None) -> None:
        self.epochs: dict[int, dict[str, dict]] = {
            int(e): {pair: dict(v) for pair, v in pairs.items()} for e, pairs in (epochs or {}).items()
        }

    def record(self, epoch: int, pair: str, **values) -> None:
        self.epochs.setdefault(int(epoch), {})[pair] = {name: values.get(name) for name in self.FIELDS}

    def truncate(self, before_epoch: int) -> None:
        self.epochs = {e: v for e, v in self.epochs.items() if e < before_epoch}

    def pairs(self) -> list[str]:
        names: list[str] = []
        for epoch in sorted(self.epochs):
            names += [name for name in self.epochs[epoch] if name not in names]
        return names

    def to_json(self) -> dict:
        last = max(self.epochs, default=0)
        return {
            pair: {
                name: [self.epochs.get(e, {}).get(pair, {}).get(name) for e in range(1, last + 1)]
                for name in self.FIELDS
            }
            for pair in self.pairs()
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Records:
        records = cls()
        for pair, fields in data.items():
            for name, values in fields.items():
                for index, value in enumerate(values):
                    records.epochs.setdefault(index + 1, {}).setdefault(pair, dict.fromkeys(cls.FIELDS))[name] = value
        return records

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())
