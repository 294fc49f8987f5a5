"""A training run's GPU memory from its sizes alone: pure arithmetic, no torch (benchmarks/paper_training.py prints
it beside what it measures on CPU).

What fairseq 0.12 holds per trained parameter (``fairseq.optim.fp16_optimizer.FP16Optimizer`` with ``--fp16``):

* fp32 training: the weights (4 bytes), their gradients (4), Adam's two moments (2 x 4): 16 bytes;
* ``--fp16``: the model itself in fp16 (2) and its fp16 gradients (2), the optimizer's flat fp32 master copy of
  the weights (4) with its own fp32 gradient buffer (4), Adam's two moments in fp32 (8): 20 bytes.

LSSD adds its frozen teachers: one copy of the model per distinct teacher epoch (``lssd.method.teachers``), each in
the teacher precision: fp16 on a GPU under the plugin's default ``--lssd-teacher-precision auto``, fp32 on CPU.

Per batch of ``max_tokens`` (the bound fairseq batches by, so an upper bound of the target tokens too):

* the logits: the student's ``[tokens, vocabulary]`` in the training precision, the fp32 log-softmax that both the
  label-smoothed CE and LSSD's objective compute and keep for backward, and its fp32 gradient; a distilled batch
  adds one teacher forward (the batch's pair has one teacher): its logits in the teacher precision and their fp32
  softmax, which the objective overwrites in place with its combined target (``lssd.method.objective``);
* the activations kept for backward: per token and pre-norm layer, about ``10 d + 3 f`` values in an encoder layer
  and ``16 d + 3 f`` in a decoder layer (two attention blocks) for model width ``d`` and FFN width ``f``, in the
  training precision. The attention probabilities (heads x source length per token) and dropout masks are left
  out: at ~25-piece sentences they are a few percent of it. This term is the rough one: it is not what a CPU run
  can check (benchmarks/paper_training.py checks the parameter, optimizer and teacher terms), only a GPU's
  ``torch.cuda.max_memory_allocated``.

Not counted: the CUDA context and the caching allocator's reserve beyond what torch allocates.
"""

from __future__ import annotations

from dataclasses import dataclass

FP32 = 4
FP16 = 2
ADAM_MOMENTS = 2  # exp_avg and exp_avg_sq, fp32 whatever the training precision

# values an activation-checkpoint-free pre-norm layer keeps per token, as multiples of (d_model, ffn_dim)
ENCODER_LAYER_VALUES = (10, 3)
DECODER_LAYER_VALUES = (16, 3)


@dataclass(frozen=True)
class TrainingShape:
    """What a run's memory depends on. ``parameters`` counts shared (tied) weights once."""

    parameters: int
    target_vocab: int
    max_tokens: int
    encoder_layers: int
    decoder_layers: int
    d_model: int
    ffn_dim: int
    fp16: bool
    teachers: int = 0  # frozen teacher copies held (0: the baseline)
    teacher_bytes: int = FP16  # bytes per teacher parameter


def model_state_bytes(parameters: int, *, fp16: bool, teachers: int = 0, teacher_bytes: int = FP16) -> dict[str, int]:
    """The bytes that scale with the parameter count: weights, gradients, fp32 master copy, Adam, teachers."""
    trained = FP16 if fp16 else FP32
    return {
        "weights": parameters * trained,
        "gradients": parameters * trained,
        "master_weights": parameters * FP32 if fp16 else 0,
        "master_gradients": parameters * FP32 if fp16 else 0,
        "adam": parameters * FP32 * ADAM_MOMENTS,
        "teachers": teachers * parameters * teacher_bytes,
    }


def activation_bytes(
    max_tokens: int, encoder_layers: int, decoder_layers: int, d_model: int, ffn_dim: int, *, fp16: bool
) -> int:
    """The activations one batch keeps for backward (see the module docstring: the rough term)."""
    encoder = ENCODER_LAYER_VALUES[0] * d_model + ENCODER_LAYER_VALUES[1] * ffn_dim
    decoder = DECODER_LAYER_VALUES[0] * d_model + DECODER_LAYER_VALUES[1] * ffn_dim
    return max_tokens * (encoder_layers * encoder + decoder_layers * decoder) * (FP16 if fp16 else FP32)


def logits_bytes(
    max_tokens: int, target_vocab: int, *, fp16: bool, distilling: bool, teacher_bytes: int = FP16
) -> dict[str, int]:
    """One batch's ``[tokens, vocabulary]`` tensors: the student's, and a distilled batch's one teacher forward."""
    cells = max_tokens * target_vocab
    student = cells * ((FP16 if fp16 else FP32) + FP32 + FP32)  # logits, fp32 log-softmax, its gradient
    teacher = cells * (teacher_bytes + FP32) if distilling else 0  # logits, fp32 softmax (then the combined target)
    return {"student_logits": student, "teacher_logits": teacher}


def training_memory(shape: TrainingShape) -> dict[str, int]:
    """Every part of a training step's peak memory on one GPU, and their ``total``."""
    parts = model_state_bytes(
        shape.parameters, fp16=shape.fp16, teachers=shape.teachers, teacher_bytes=shape.teacher_bytes
    )
    parts["activations"] = activation_bytes(
        shape.max_tokens, shape.encoder_layers, shape.decoder_layers, shape.d_model, shape.ffn_dim, fp16=shape.fp16
    )
    parts |= logits_bytes(
        shape.max_tokens,
        shape.target_vocab,
        fp16=shape.fp16,
        distilling=shape.teachers > 0,
        teacher_bytes=shape.teacher_bytes,
    )
    parts["total"] = sum(parts.values())
    return parts
