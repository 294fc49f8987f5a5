"""``lssd_distillation``: label-smoothed cross-entropy plus LSSD's language-specific self-distillation.

The task decides, per batch, whether the batch's pair is distilled and by which frozen teacher, and hands the
teacher to the criterion (``set_teacher``) for that one step; the criterion runs the teacher on the same input
(teacher forcing, eval mode, no gradients) and computes ``lssd.method.objective.distillation_objective``. Without a
teacher the loss is the plain label-smoothed CE, exactly as ``label_smoothed_cross_entropy``.

Logged: ``loss``/``nll_loss`` are the CE part (comparable with the baseline's), ``lssd_loss`` the optimised
objective, ``kd_loss`` the ungated KD in bits per distilled token, ``gate`` the mean gate over distilled tokens and
``kd_frac`` the share of target tokens that were distilled.
"""

import math
from dataclasses import dataclass, field

import torch
from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.logging import metrics

from lssd.method.flags import LEVELS, VARIANTS
from lssd.method.objective import distillation_objective


def teacher_logits(teacher, net_input: dict) -> torch.Tensor:
    """The frozen teacher's raw logits for a batch (teacher forcing), under ``torch.inference_mode`` (no autograd
    bookkeeping at all).

    fairseq's decoder hands its features to the output projection transposed back from time-major, so not
    contiguous; without autograd, torch's matmul projects such a [batch, time, dim] tensor onto the vocabulary as a
    batched product against a broadcast weight, several times slower on CPU than the single matrix product it uses
    when gradients are recorded (the student's case). Made contiguous first (a copy of [batch, time, dim], small
    beside [batch, time, vocab]), the teacher's projection is that one matrix product too."""
    with torch.inference_mode():
        features, _ = teacher(**net_input, features_only=True)
        return teacher.decoder.output_layer(features.contiguous())


@dataclass
class LSSDDistillationConfig(LabelSmoothedCrossEntropyCriterionConfig):
    distillation_weight: float = field(default=1.0, metadata={"help": "w: the weight of the KD term"})
    distillation_variant: ChoiceEnum(list(VARIANTS)) = field(
        default="whole", metadata={"help": "LSSD-Whole, LSSD-Selective (hard gate) or LSSD-Adaptive (soft gate)"}
    )
    distillation_level: ChoiceEnum(list(LEVELS)) = field(
        default="token", metadata={"help": "the gate's level (Adaptive in the paper: sentence)"}
    )
    language_aware: bool = field(
        default=False,
        metadata={"help": "one-to-many only: mask the teacher to the target language's pieces (LS_dict.<lang>.txt)"},
    )


@register_criterion("lssd_distillation", dataclass=LSSDDistillationConfig)
class LSSDDistillationCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(
        self,
        task,
        sentence_avg,
        label_smoothing,
        ignore_prefix_size=0,
        report_accuracy=False,
        distillation_weight=1.0,
        distillation_variant="whole",
        distillation_level="token",
        language_aware=False,
    ):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        self.weight = distillation_weight
        self.variant = str(distillation_variant)
        self.level = str(distillation_level)
        self.language_aware = language_aware
        self.set_teacher(None)

    def set_teacher(self, teacher, vocab_mask=None) -> None:
        """The frozen teacher (and language mask) for the next forward pass; ``None`` for plain CE.

        Kept out of the module tree on purpose (``__dict__``, not a submodule): ``criterion.train()`` must not
        switch the teacher to training mode, and the criterion's state must not carry its weights."""
        self.__dict__["teacher"] = teacher
        self.__dict__["vocab_mask"] = vocab_mask

    def forward(self, model, sample, reduce=True):
        if self.teacher is None or not model.training:
            loss, sample_size, logging_output = super().forward(model, sample, reduce=reduce)
            logging_output.update(lssd_loss=loss.data, kd_sum=0.0, gate_sum=0.0, kd_ntokens=0)
            return loss, sample_size, logging_output
        net_output = model(**sample["net_input"])
        # raw logits of both models: the objective normalises each once (the student's log-softmax serves CE, KD
        # and the gate; the teacher's softmax is taken once, in float32), instead of normalising twice
        student = net_output[0]
        teacher = teacher_logits(self.teacher, sample["net_input"])
        target = model.get_targets(sample, net_output)
        if self.ignore_prefix_size > 0:
            student = student[:, self.ignore_prefix_size :, :]
            teacher = teacher[:, self.ignore_prefix_size :, :]
            target = target[:, self.ignore_prefix_size :]
        out = distillation_objective(
            student,
            teacher,
            target,
            pad_idx=self.padding_idx,
            epsilon=self.eps,
            weight=self.weight,
            variant=self.variant,
            level=self.level,
            vocab_mask=self.vocab_mask,
        )
        ntokens = target.ne(self.padding_idx).sum()
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {
            "loss": out["ce"].data,
            "nll_loss": out["nll"].data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
            "lssd_loss": out["loss"].data,
            "kd_sum": out["kd"].data,
            "gate_sum": out["gate"].sum().data,
            "kd_ntokens": ntokens.data,
        }
        return out["loss"], sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        lssd_loss = sum(log.get("lssd_loss", 0) for log in logging_outputs)
        kd_ntokens = utils.item(sum(log.get("kd_ntokens", 0) for log in logging_outputs))
        if sample_size > 0:
            metrics.log_scalar("lssd_loss", lssd_loss / sample_size / math.log(2), sample_size, round=3)
        if ntokens > 0:
            metrics.log_scalar("kd_frac", kd_ntokens / ntokens, ntokens, round=3)
        if kd_ntokens > 0:
            kd_sum = utils.item(sum(log.get("kd_sum", 0) for log in logging_outputs))
            gate_sum = utils.item(sum(log.get("gate_sum", 0) for log in logging_outputs))
            metrics.log_scalar("kd_loss", kd_sum / kd_ntokens / math.log(2), kd_ntokens, round=3)
            metrics.log_scalar("gate", gate_sum / kd_ntokens, kd_ntokens, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
