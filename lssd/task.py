"""``lssd_multilingual_translation``: fairseq's ``translation_multi_simple_epoch`` plus what LSSD needs.

* ``--pure-batch``: every batch (train and valid) holds one language pair.
* Per-pair validation: at every validation, each pair's label-smoothed dev loss in bits per target token is
  summed over the whole dev set (across workers in distributed training), logged as ``loss_<pair>`` in
  fairseq's valid log line, and recorded per epoch in the run's history (``--per-pair-history``, default
  ``<save-dir>/history.json``). The history is saved in every checkpoint's ``task_state``; a resumed run
  reloads it from the checkpoint it resumes from, so the history continues where it stopped.

A sentence's pair is found from its encoder language token (``--encoder-langtok src`` for many-to-one,
``tgt`` for one-to-many): the non-English language, which is also LSSD's teacher key.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
from fairseq.data import data_utils
from fairseq.logging import metrics
from fairseq.tasks import register_task
from fairseq.tasks.translation_multi_simple_epoch import TranslationMultiSimpleEpochTask

from lssd import allow_fairseq_checkpoints
from lssd.history import History, PairLossSums, bits_per_token
from lssd.validation import first_token, label_smoothed_token_losses, sums_by_group

logger = logging.getLogger(__name__)
allow_fairseq_checkpoints()

PAIR_LOSS = "pair_loss:"
PAIR_NTOKENS = "pair_ntokens:"


def dataset_of_indices(dataset, indices: np.ndarray) -> np.ndarray:
    """For each global index of a multilingual dataset, the index of the language-pair dataset it comes from."""
    cumulative = getattr(dataset, "cumulated_sizes", None)  # SampledMultiDataset (train)
    if cumulative is None:
        cumulative = getattr(dataset, "cumulative_sizes", None)  # ConcatDataset (valid/test)
    if cumulative is None:
        return np.zeros(len(indices), dtype=np.int64)
    return np.searchsorted(np.asarray(cumulative), indices, side="right")


def is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


@register_task("lssd_multilingual_translation")
class LSSDMultilingualTranslationTask(TranslationMultiSimpleEpochTask):
    @staticmethod
    def add_args(parser):
        TranslationMultiSimpleEpochTask.add_args(parser)
        parser.add_argument(
            "--pure-batch",
            action="store_true",
            help="one language pair per batch, in training and validation (LSSD looks its teacher up per batch)",
        )
        parser.add_argument(
            "--per-pair-history",
            default=None,
            metavar="FILE",
            help="where to write the per-pair dev-loss history JSON (default: <save-dir>/history.json)",
        )

    def __init__(self, args, langs, dicts, training):
        super().__init__(args, langs, dicts, training)
        self.history = History()
        self._valid_sums = PairLossSums()
        self._valid_epoch: int | None = None
        self._resume_checked = False
        self._pair_lookup: torch.Tensor | None = None

    # ----------------------------------------------------------------------------------- pure batches
    def create_batch_sampler_func(
        self,
        max_positions,
        ignore_invalid_inputs,
        max_tokens,
        max_sentences,
        required_batch_size_multiple=1,
        seed=1,
    ):
        if not getattr(self.args, "pure_batch", False):
            return super().create_batch_sampler_func(
                max_positions, ignore_invalid_inputs, max_tokens, max_sentences, required_batch_size_multiple, seed
            )

        def construct_pure_batches(dataset, epoch):
            if epoch is not None:
                dataset.set_epoch(epoch)
            with data_utils.numpy_seed(seed):
                indices = dataset.ordered_indices()
            if max_positions is not None:
                indices = self.filter_indices_by_size(indices, dataset, max_positions, ignore_invalid_inputs)
            indices = np.asarray(indices, dtype=np.int64)
            owners = dataset_of_indices(dataset, indices)
            batches = []
            for owner in np.unique(owners):
                # ordered_indices sorted everything by length; each pair's subsequence stays sorted
                batches.extend(
                    dataset.batch_by_size(
                        indices[owners == owner],
                        max_tokens=max_tokens,
                        max_sentences=max_sentences,
                        required_batch_size_multiple=required_batch_size_multiple,
                    )
                )
            return batches

        return construct_pure_batches

    # ----------------------------------------------------------------------------------- per-pair validation
    def pair_lookup(self, device) -> torch.Tensor:
        """A table from encoder language-token id to the index of its pair in ``self.lang_pairs``."""
        if self._pair_lookup is None:
            spec = self.args.langtoks["main"][0]
            if not spec:
                raise ValueError("per-pair validation needs --encoder-langtok (src for X→eng, tgt for eng→X)")
            table = torch.full((len(self.source_dictionary),), -1, dtype=torch.long)
            for index, pair in enumerate(self.lang_pairs):
                src, tgt = pair.split("-")
                token = self.data_manager.get_encoder_langtok(src, tgt, spec)
                if table[token] >= 0:
                    raise ValueError(
                        f"pairs {self.lang_pairs[table[token]]} and {pair} share the encoder language token; "
                        "per-pair validation needs one pair per token (English-centric directions)"
                    )
                table[token] = index
            self._pair_lookup = table
        return self._pair_lookup.to(device)

    def sentence_pairs(self, sample) -> torch.Tensor:
        src_tokens = sample["net_input"]["src_tokens"]
        tokens = first_token(src_tokens, self.source_dictionary.pad())
        pairs = self.pair_lookup(src_tokens.device)[tokens]
        if bool((pairs < 0).any()):
            raise ValueError("a dev sentence does not start with a known encoder language token")
        return pairs

    def valid_step(self, sample, model, criterion):
        if not isinstance(criterion, LabelSmoothedCrossEntropyCriterion):
            raise ValueError("per-pair validation needs a label-smoothed cross-entropy criterion")
        model.eval()
        with torch.no_grad():
            net_output = model(**sample["net_input"])
            lprobs = model.get_normalized_probs(net_output, log_probs=True)
            target = model.get_targets(sample, net_output)
            if criterion.ignore_prefix_size > 0:
                lprobs = lprobs[:, criterion.ignore_prefix_size :, :]
                target = target[:, criterion.ignore_prefix_size :]
            token_loss, token_nll = label_smoothed_token_losses(lprobs, target, criterion.eps, criterion.padding_idx)
            sentence_loss = token_loss.sum(dim=1)
            sentence_tokens = target.ne(criterion.padding_idx).sum(dim=1)
            loss = sentence_loss.sum()
            sample_size = sample["target"].size(0) if criterion.sentence_avg else sample["ntokens"]
            logging_output = {
                "loss": loss.data,
                "nll_loss": token_nll.sum().data,
                "ntokens": sample["ntokens"],
                "nsentences": sample["target"].size(0),
                "sample_size": sample_size,
            }
            pairs = self.sentence_pairs(sample)
            pair_loss = sums_by_group(sentence_loss, pairs, len(self.lang_pairs))
            pair_tokens = sums_by_group(sentence_tokens, pairs, len(self.lang_pairs))
            # every pair's keys on every worker, so fairseq can sum them across workers in one all-reduce
            for index, pair in enumerate(self.lang_pairs):
                logging_output[PAIR_LOSS + pair] = pair_loss[index]
                logging_output[PAIR_NTOKENS + pair] = pair_tokens[index]
        return loss, sample_size, logging_output

    def begin_valid_epoch(self, epoch, model):
        super().begin_valid_epoch(epoch, model)
        self._valid_sums = PairLossSums()
        self._valid_epoch = epoch

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        if not any(PAIR_NTOKENS + self.lang_pairs[0] in log for log in logging_outputs):
            return  # a training step
        for pair in self.lang_pairs:
            loss = float(sum(log.get(PAIR_LOSS + pair, 0) for log in logging_outputs))
            ntokens = float(sum(log.get(PAIR_NTOKENS + pair, 0) for log in logging_outputs))
            if ntokens > 0:
                self._valid_sums.add(pair, loss, ntokens)
                metrics.log_scalar(f"loss_{pair}", bits_per_token(loss, ntokens), ntokens, round=3)

    # ----------------------------------------------------------------------------------- history
    def history_path(self) -> str | None:
        path = getattr(self.args, "per_pair_history", None)
        if path:
            return path
        save_dir = getattr(self.args, "save_dir", None)
        return os.path.join(save_dir, "history.json") if save_dir else None

    def commit_validation(self) -> None:
        """Record the last validation's per-pair losses under its epoch and write the history file."""
        if self._valid_epoch is None or not self._valid_sums:
            return
        self.history.record(self._valid_epoch, self._valid_sums.bits_per_token())
        path = self.history_path()
        if path and is_main_process():
            self.history.save(path)

    def restore_path(self) -> str | None:
        """The checkpoint fairseq resumes from (its ``--restore-file`` logic for the default case)."""
        save_dir = getattr(self.args, "save_dir", None)
        restore = getattr(self.args, "restore_file", "checkpoint_last.pt")
        if restore == "checkpoint_last.pt" and save_dir:
            suffix = getattr(self.args, "checkpoint_suffix", "") or ""
            return os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
        return restore

    def restore_history(self, epoch: int) -> None:
        """On resume, take the history from the checkpoint training resumed from; forget epochs >= ``epoch``."""
        path = self.restore_path()
        if epoch > 1 and path and os.path.exists(path):
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            self.load_state_dict(state.get("task_state") or {})
            logger.info(f"per-pair history restored from {path}: epochs {sorted(self.history.epochs)}")
        self.history.truncate(before_epoch=epoch)

    def begin_epoch(self, epoch, model):
        super().begin_epoch(epoch, model)
        if not self._resume_checked:
            self._resume_checked = True
            self.restore_history(epoch)
        else:
            self.commit_validation()
        self._valid_epoch = None

    def state_dict(self):
        self.commit_validation()
        state = dict(super().state_dict() or {})
        state["lssd_history"] = self.history.to_json()
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict or {})
        history = state_dict.pop("lssd_history", None)
        if history is not None:
            self.history = History.from_json(history)
        super().load_state_dict(state_dict)
