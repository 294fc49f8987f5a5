"""The LSSD objective as pure tensor functions (no fairseq import): the documented entry point for checking our math.

For one batch with student distribution p_S, frozen teacher distribution p_T and gold tokens y_t (pads excluded)::

    CE_ls  = Σ_t (1 − ε − ε/(V−1))·(−log p_S(y_t)) + ε/(V−1)·Σ_v (−log p_S(v))       (label-smoothed CE)
    KD_t   = −Σ_v p̃_T(v) log p_S(v)       (no temperature, no smoothing; p̃_T = p_T masked and renormalised
                                            to the target language's pieces when a vocab_mask is given)
    loss   = ( CE_ls + w · Σ_t g_t · KD_t ) / 2

and the gate g (with q_S = p_S(y_t), q_T = p̃_T(y_t), both detached):

* ``whole``: g = 1;
* ``selective``: g = 1 where the teacher gives the gold token a higher probability than the student, else 0.2
  (``token`` level: per token; ``sentence`` level: Σ_t q_T vs Σ_t q_S over the sentence);
* ``adaptive``: g = min(1, q_T / q_S) (``token``) or min(1, Σ_t q_T / Σ_t q_S) (``sentence``, the paper's).

The caller applies the per-pair switch: when a pair is not distilled its loss is plain CE_ls (``ce`` here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lssd.method.flags import LEVELS, VARIANTS
from lssd.method.validation import label_smoothed_token_losses

SELECTIVE_FLOOR = 0.2  # the weight of KD where the student already beats the teacher


def teacher_probabilities(teacher_logits: torch.Tensor, vocab_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax of the teacher in float32 or wider; with a mask, zero outside it and renormalise."""
    probs = F.softmax(teacher_logits, dim=-1, dtype=torch.promote_types(teacher_logits.dtype, torch.float32))
    if vocab_mask is not None:
        probs = probs * vocab_mask.to(device=probs.device, dtype=probs.dtype)
        probs = probs / probs.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)
    return probs


def distillation_gate(
    student_gold: torch.Tensor, teacher_gold: torch.Tensor, not_pad: torch.Tensor, variant: str, level: str = "token"
) -> torch.Tensor:
    """The gate ``[batch, time]`` from the gold-token probabilities of student and teacher; 0 at pads."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown LSSD variant '{variant}' (expected one of {', '.join(VARIANTS)})")
    if level not in LEVELS:
        raise ValueError(f"unknown gate level '{level}' (expected one of {', '.join(LEVELS)})")
    mask = not_pad.to(student_gold.dtype)
    if variant == "whole":
        return mask
    q_s, q_t = student_gold * mask, teacher_gold * mask
    if level == "sentence":
        q_s = q_s.sum(dim=1, keepdim=True).expand_as(mask)
        q_t = q_t.sum(dim=1, keepdim=True).expand_as(mask)
    if variant == "selective":
        gate = torch.where(q_t > q_s, torch.ones_like(q_s), torch.full_like(q_s, SELECTIVE_FLOOR))
    else:
        gate = (q_t / q_s.clamp_min(torch.finfo(q_s.dtype).tiny)).clamp(max=1.0)
    return gate * mask


def combined_target(p_teacher, gate, gold, real, *, weight: float, epsilon: float) -> torch.Tensor:
    """The one target distribution c with loss = −Σ_{t,v} c_{t,v}·log p_S(v): half the smoothed one-hot of the gold
    token plus half w·g_t times the teacher's. Built in place in the teacher's tensor (which it overwrites), it
    makes the loss one dot product and its gradient one pass (c), instead of three terms each with its own pass
    forward and backward. Pad rows of c are 0 (gate and mask are 0 there)."""
    eps_i = epsilon / (p_teacher.size(-1) - 1)
    combined = p_teacher.mul_((0.5 * weight) * gate.unsqueeze(-1))
    combined.add_((0.5 * eps_i) * real.unsqueeze(-1))
    combined.scatter_add_(-1, gold, ((0.5 * (1.0 - epsilon - eps_i)) * real).unsqueeze(-1))
    return combined


def distillation_objective(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    pad_idx: int,
    epsilon: float,
    weight: float,
    variant: str,
    level: str = "token",
    vocab_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """LSSD's loss for one distilled batch.

    Args:
        student_logits: ``[batch, time, vocab]`` float; the loss is differentiable with respect to them.
        teacher_logits: ``[batch, time, vocab]``, treated as constants.
        target: ``[batch, time]`` long, ``pad_idx`` at padding.
        epsilon: label smoothing of the CE term.
        weight: w, the weight of the KD term.
        variant: ``"whole" | "selective" | "adaptive"``; level: ``"token" | "sentence"``.
        vocab_mask: optional ``[vocab]`` bool, the target language's pieces (language-aware distillation).

    Returns a dict of sums over non-pad tokens: ``loss`` = (CE_ls + w·Σ g·KD)/2, the only differentiable entry;
    for logging: ``ce`` = CE_ls, ``nll``, ``kd`` = Σ KD (ungated), and ``gate`` ``[batch, time]`` (0 at pads).
    """
    compute_dtype = torch.promote_types(student_logits.dtype, torch.float32)
    # the student's log-softmax is the one pass over [batch, time, vocab] that autograd records; CE, KD and the
    # gates all read it
    lprobs = F.log_softmax(student_logits.to(compute_dtype), dim=-1)
    not_pad = target.ne(pad_idx)
    gold = target.masked_fill(~not_pad, 0).unsqueeze(-1)
    real = not_pad.to(compute_dtype)

    with torch.no_grad():
        student = lprobs.detach()
        ce_tokens, nll = label_smoothed_token_losses(student, target, epsilon, pad_idx)
        p_teacher = teacher_probabilities(teacher_logits.detach().to(compute_dtype), vocab_mask)
        p_teacher[(~not_pad).nonzero(as_tuple=True)] = 0.0  # pads are not distilled (only their rows are written)
        teacher_gold = p_teacher.gather(-1, gold).squeeze(-1)
        student_gold = student.gather(-1, gold).squeeze(-1).exp()
        gate = distillation_gate(student_gold, teacher_gold, not_pad, variant, level)
        # Σ_t KD_t = −Σ_{t,v} p_T(v)·log p_S(v): one dot product over the batch (pad rows of p_T are 0), with no
        # [batch, time, vocab] temporary; only the sum is logged, the gates need no per-token KD
        kd = -torch.dot(p_teacher.reshape(-1), student.reshape(-1))
        combined = combined_target(p_teacher, gate, gold, real, weight=weight, epsilon=epsilon)
    loss = -torch.dot(combined.reshape(-1), lprobs.reshape(-1))

    return {"loss": loss, "ce": ce_tokens.sum(), "nll": nll.sum(), "kd": kd, "gate": gate}
