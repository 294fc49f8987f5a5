"""``lssd_multilingual_translation``: fairseq's ``translation_multi_simple_epoch`` plus what LSSD needs.

This module holds fairseq's hooks only; LSSD's state (per-pair histories, teacher pool and files, switch, records)
is ``lssd.method.lifecycle.TeacherLifecycle``, which the hooks call. With the ``lssd_distillation`` criterion the
task hands each pure batch its pair's frozen teacher (``--lssd-records``, default ``<save-dir>/records.json``, says
per epoch and pair whether KD was on, the teacher's epoch, the mean gate and the KD loss).

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

import torch
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    label_smoothed_nll_loss,
)
from fairseq.logging import metrics
from fairseq.tasks import register_task
from fairseq.tasks.translation_multi_simple_epoch import TranslationMultiSimpleEpochTask

from lssd import allow_fairseq_checkpoints, layout
from lssd.method.flags import TASK_FLAGS
from lssd.method.history import bits_per_token
from lssd.method.lifecycle import RunFiles, TeacherLifecycle
from lssd.method.validation import first_token, sums_by_group
from lssd.plugin.batches import (
    encoder_token_pairs,
    language_vocab_mask,
    original_epoch_size,
    training_batch_sampler,
)
from lssd.plugin.criterion import LSSDDistillationCriterion  # also registers the lssd_distillation criterion

logger = logging.getLogger(__name__)
allow_fairseq_checkpoints()

PAIR_LOSS = "pair_loss:"
PAIR_NTOKENS = "pair_ntokens:"
PAIR_KD = "pair_kd:"
PAIR_GATE = "pair_gate:"
PAIR_KD_NTOKENS = "pair_kd_ntokens:"
PAIR_TRAIN_NTOKENS = "pair_train_ntokens:"


def run_files(args) -> RunFiles:
    """The run's files from the arguments: the history and records files a task option names, else in the save
    directory; the checkpoint fairseq resumes from (its ``--restore-file`` logic for the default case)."""
    save_dir = getattr(args, "save_dir", None)

    def output_path(option: str, default_name: str) -> str | None:
        path = getattr(args, option, None)
        return path or (os.path.join(save_dir, default_name) if save_dir else None)

    restore = getattr(args, "restore_file", layout.LAST)
    if restore == layout.LAST and save_dir:
        suffix = getattr(args, "checkpoint_suffix", "") or ""
        restore = os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
    return RunFiles(
        save_dir=save_dir,
        history=output_path("per_pair_history", layout.HISTORY),
        records=output_path("lssd_records", layout.RECORDS),
        restore=restore,
    )


@register_task("lssd_multilingual_translation")
class LSSDMultilingualTranslationTask(TranslationMultiSimpleEpochTask):
    @staticmethod
    def add_args(parser):
        TranslationMultiSimpleEpochTask.add_args(parser)
        for flag, settings in TASK_FLAGS.items():
            parser.add_argument(flag, **settings)

    def __init__(self, args, langs, dicts, training):
        super().__init__(args, langs, dicts, training)
        self._lifecycle: TeacherLifecycle | None = None
        self._criterion = None
        self._pair_lookup: torch.Tensor | None = None
        self._vocab_masks: dict[str, torch.Tensor] = {}

    @property
    def lifecycle(self) -> TeacherLifecycle:
        """LSSD's state over the run (made on first use, when the arguments and the criterion are known)."""
        if self._lifecycle is None:
            self._lifecycle = TeacherLifecycle(
                self.lang_pairs, self.teacher_key, run_files(self.args), self.distilling,
                single_teacher=getattr(self.args, "lssd_single_teacher", False),
                warmup_epochs=getattr(self.args, "lssd_warmup_epochs", 1),
                max_copies=getattr(self.args, "lssd_max_teachers", 0) or 0,
                teacher_precision=getattr(self.args, "lssd_teacher_precision", "auto"),
                keep_pair_best=not getattr(self.args, "lssd_no_pair_best_checkpoints", False),
            )  # fmt: skip
        return self._lifecycle

    # ----------------------------------------------------------------------------------- data and batches
    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if split != getattr(self.args, "train_subset", "train"):
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        with original_epoch_size(self.args):
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)

    def get_batch_iterator(self, dataset, **kwargs):
        if dataset is not self.datasets.get(getattr(self.args, "train_subset", "train")):
            # every dev sentence, whatever --required-batch-size-multiple training uses (fairseq's default 8, as
            # the original): the installed fairseq's batch_by_size drops the sentences left after the last full
            # multiple (up to 7 per validation). The plugin's sampler below keeps every batch anyway; this stays so
            # that the dev batches keep their shapes (the original's were multiples of 8 but the last: the same
            # per-sentence losses up to float rounding)
            kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, **kwargs)

    # ----------------------------------------------------------------------------------- training batches
    def create_batch_sampler_func(
        self, max_positions, ignore_invalid_inputs, max_tokens, max_sentences, required_batch_size_multiple=1, seed=1
    ):
        # (the dev and test sets get a multiple of 1 above: every batch is kept whatever the sampler)
        pure = getattr(self.args, "pure_batch", False)
        return training_batch_sampler(
            self, max_positions, ignore_invalid_inputs, max_tokens, max_sentences, required_batch_size_multiple, seed,
            pure=pure,
        )  # fmt: skip

    # ----------------------------------------------------------------------------------- per-pair validation
    def pair_lookup(self, device) -> torch.Tensor:
        """A table from encoder language-token id to the index of its pair in ``self.lang_pairs``."""
        if self._pair_lookup is None:
            self._pair_lookup = encoder_token_pairs(self)
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
            # the criterion's own per-token losses (its ignore_prefix_size included), summed per sentence
            lprobs, target = criterion.get_lprobs_and_target(model, net_output, sample)
            token_loss, token_nll = label_smoothed_nll_loss(
                lprobs, target, criterion.eps, ignore_index=criterion.padding_idx, reduce=False
            )
            sentences = sample["target"].size(0)
            sentence_loss = token_loss.view(sentences, -1).sum(dim=1)
            sentence_tokens = target.view(sentences, -1).ne(criterion.padding_idx).sum(dim=1)
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
        self.lifecycle.begin_validation(epoch, model)

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)

        def summed(prefix, pair):
            return float(sum(log.get(prefix + pair, 0) for log in logging_outputs))

        training = any(PAIR_KD_NTOKENS + self.lang_pairs[0] in log for log in logging_outputs)
        validation = any(PAIR_NTOKENS + self.lang_pairs[0] in log for log in logging_outputs)
        for pair in self.lang_pairs:
            if training and (trained := summed(PAIR_TRAIN_NTOKENS, pair)) > 0:
                kd_ntokens = summed(PAIR_KD_NTOKENS, pair)
                self.lifecycle.add_training(pair, summed(PAIR_KD, pair), summed(PAIR_GATE, pair), kd_ntokens, trained)
            if validation and (ntokens := summed(PAIR_NTOKENS, pair)) > 0:
                loss = summed(PAIR_LOSS, pair)
                self.lifecycle.add_validation(pair, loss, ntokens)
                metrics.log_scalar(f"loss_{pair}", bits_per_token(loss, ntokens), ntokens, round=3)

    # ----------------------------------------------------------------------------------- run state
    def begin_epoch(self, epoch, model):
        super().begin_epoch(epoch, model)
        self.lifecycle.begin_epoch(epoch, model, self.load_state_dict)

    def state_dict(self):
        return {**dict(super().state_dict() or {}), **self.lifecycle.state_dict()}

    def load_state_dict(self, state_dict):
        super().load_state_dict(self.lifecycle.load_state_dict(state_dict))

    # ----------------------------------------------------------------------------------- LSSD: teachers
    def build_criterion(self, args, **kwargs):
        criterion = super().build_criterion(args, **kwargs)
        self._criterion = criterion
        return criterion

    def distilling(self) -> bool:
        return isinstance(self._criterion, LSSDDistillationCriterion)

    def teacher_key(self, pair: str) -> str:
        """The non-English language of a pair: the encoder language token's language."""
        source, target = pair.split("-")
        return source if self.args.langtoks["main"][0] == "src" else target

    def vocab_mask(self, key: str, device):
        """The target language's pieces (``LS_dict.<lang>.txt``), specials and language token, as a bool mask."""
        if key not in self._vocab_masks:
            self._vocab_masks[key] = language_vocab_mask(self, key)
        on_device = (key, str(device))
        if on_device not in self._vocab_masks:
            self._vocab_masks[on_device] = self._vocab_masks[key].to(device)
        return self._vocab_masks[on_device]

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if not self.distilling():
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        pairs = torch.unique(self.sentence_pairs(sample))
        if len(pairs) != 1:
            raise ValueError("LSSD distils each batch with its pair's teacher: train with --pure-batch")
        pair = self.lang_pairs[int(pairs[0])]
        teacher = self.lifecycle.teacher(pair)
        mask = None
        if teacher is not None and criterion.language_aware:
            if self.args.langtoks["main"][0] != "tgt":
                raise ValueError("language-aware distillation is for one-to-many (eng→X) runs only")
            mask = self.vocab_mask(self.teacher_key(pair), sample["target"].device)
        criterion.set_teacher(teacher, mask)
        try:
            loss, sample_size, logging_output = super().train_step(
                sample, model, criterion, optimizer, update_num, ignore_grad
            )
        finally:
            criterion.set_teacher(None)
        # Distributed training sums the logging outputs across workers with one all-reduce per step
        # (fairseq's all_reduce_dict), which packs plain numbers and device tensors into two separate buffers.
        # The criterion logs tensors for a distilled batch but plain 0s otherwise, so in a step where one rank
        # distils (its pair's KD is on) and another does not, the ranks all-reduced buffers of different sizes:
        # gloo aborted ("Received data size doesn't match expected size"), NCCL would hang or mix values up.
        # Every KD value is therefore a tensor on the batch's device, on every rank and in every step.
        device = sample["target"].device
        for key in ("kd_sum", "gate_sum", "kd_ntokens"):
            logging_output[key] = torch.as_tensor(logging_output[key], device=device)
        # the tokens trained on, counted as the criterion counts the distilled ones (after any ignored prefix)
        trained = sample["target"][:, criterion.ignore_prefix_size :].ne(criterion.padding_idx).sum().to(device)
        zero = torch.zeros((), device=device)
        for name in self.lang_pairs:
            mine = name == pair
            logging_output[PAIR_KD + name] = logging_output["kd_sum"] if mine else zero
            logging_output[PAIR_GATE + name] = logging_output["gate_sum"] if mine else zero
            logging_output[PAIR_KD_NTOKENS + name] = logging_output["kd_ntokens"] if mine else zero
            logging_output[PAIR_TRAIN_NTOKENS + name] = trained if mine else zero
        return loss, sample_size, logging_output
