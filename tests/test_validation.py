"""The tensor arithmetic of per-pair validation, against fairseq's loss and a hand computation."""

import math

import pytest
import torch

from lssd.method.validation import first_token, label_smoothed_token_losses, sums_by_group


def test_first_token_with_left_and_right_padding():
    pad = 1
    tokens = torch.tensor([[1, 1, 7, 5, 2], [8, 5, 5, 5, 2], [1, 9, 4, 4, 2]])
    assert first_token(tokens, pad).tolist() == [7, 8, 9]
    right = torch.tensor([[7, 5, 2, 1], [8, 2, 1, 1]])
    assert first_token(right, pad).tolist() == [7, 8]


def test_label_smoothed_loss_by_hand():
    # one sentence, two target tokens (ids 2, 3) and one pad (id 0), vocabulary of 4, epsilon 0.3
    probs = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]])
    target = torch.tensor([[2, 3, 0]])
    loss, nll = label_smoothed_token_losses(probs.log(), target, epsilon=0.3, pad_idx=0)
    eps_i = 0.3 / 3
    expected_first = (1 - 0.3 - eps_i) * -math.log(0.3) + eps_i * -sum(math.log(p) for p in (0.1, 0.2, 0.3, 0.4))
    expected_second = (1 - 0.3 - eps_i) * -math.log(0.25) + eps_i * -4 * math.log(0.25)
    assert loss[0].tolist() == pytest.approx([expected_first, expected_second, 0.0])
    assert nll[0].tolist() == pytest.approx([-math.log(0.3), -math.log(0.25), 0.0])


def test_label_smoothed_loss_matches_fairseq():
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    torch.manual_seed(0)
    lprobs = torch.randn(3, 5, 11).log_softmax(-1)
    target = torch.randint(2, 11, (3, 5))
    target[0, 3:] = 1
    ours, ours_nll = label_smoothed_token_losses(lprobs, target, 0.1, pad_idx=1)
    theirs, theirs_nll = label_smoothed_nll_loss(lprobs.view(-1, 11), target.view(-1), 0.1, ignore_index=1)
    assert ours.sum().item() == pytest.approx(theirs.item(), rel=1e-6)
    assert ours_nll.sum().item() == pytest.approx(theirs_nll.item(), rel=1e-6)


def test_sums_by_group():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    groups = torch.tensor([1, 0, 1, 1])
    assert sums_by_group(values, groups, 3).tolist() == [2.0, 8.0, 0.0]
