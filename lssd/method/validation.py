"""Per-pair validation arithmetic on tensors (no fairseq import), used by the task's ``valid_step``."""

from __future__ import annotations

import torch


def first_token(src_tokens: torch.Tensor, pad_idx: int) -> torch.Tensor:
    """The first non-pad token of every row (left or right padding): the encoder language token."""
    not_pad = src_tokens.ne(pad_idx)
    position = not_pad.to(torch.int8).argmax(dim=1, keepdim=True)
    return src_tokens.gather(1, position).squeeze(1)


def label_smoothed_token_losses(
    lprobs: torch.Tensor, target: torch.Tensor, epsilon: float, pad_idx: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token label-smoothed loss and NLL (nats), ``[batch, time]``, 0 at pads.

    The same quantity as fairseq's ``label_smoothed_nll_loss``:
    ``(1 - eps - eps/(V-1)) * (-log p(y)) + eps/(V-1) * sum_v (-log p(v))``.
    """
    nll = -lprobs.gather(dim=-1, index=target.unsqueeze(-1)).squeeze(-1)
    smooth = -lprobs.sum(dim=-1)
    pad = target.eq(pad_idx)
    nll = nll.masked_fill(pad, 0.0)
    smooth = smooth.masked_fill(pad, 0.0)
    eps_i = epsilon / (lprobs.size(-1) - 1)
    return (1.0 - epsilon - eps_i) * nll + eps_i * smooth, nll


def sums_by_group(values: torch.Tensor, groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """``out[g] = sum of values[i] with groups[i] == g`` (float64, on the values' device)."""
    out = torch.zeros(num_groups, dtype=torch.float64, device=values.device)
    return out.index_add_(0, groups, values.to(torch.float64))
