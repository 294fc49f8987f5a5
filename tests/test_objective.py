"""lssd.method.objective.distillation_objective against hand computations, and its gradient."""

import math

import pytest
import torch

from lssd.method.objective import SELECTIVE_FLOOR, distillation_objective

PAD = 0
EPS = 0.1


def softmax(row):
    exps = [math.exp(x) for x in row]
    return [e / sum(exps) for e in exps]


def hand_ce(student_row, gold):
    """fairseq's label-smoothed CE for one token, by hand."""
    p = softmax(student_row)
    eps_i = EPS / (len(p) - 1)
    return (1 - EPS - eps_i) * -math.log(p[gold]) + eps_i * -sum(math.log(x) for x in p)


def hand_kd(student_row, teacher_probs):
    p = softmax(student_row)
    return -sum(t * math.log(s) for t, s in zip(teacher_probs, p, strict=True))


# one sentence of three positions (the last is a pad), vocabulary of 4 (id 0 is the pad)
STUDENT = [[0.5, 1.0, 2.0, 0.1], [0.3, 2.5, 0.2, 0.4], [9.0, 1.0, 1.0, 1.0]]
TEACHER = [[0.0, 0.5, 3.0, 0.2], [0.1, 1.0, 0.8, 0.3], [1.0, 5.0, 1.0, 1.0]]
TARGET = [2, 1, PAD]


def run(variant, level="token", weight=0.8, vocab_mask=None, student=STUDENT, teacher=TEACHER, target=TARGET):
    return distillation_objective(
        torch.tensor([student], dtype=torch.float64),
        torch.tensor([teacher], dtype=torch.float64),
        torch.tensor([target]),
        pad_idx=PAD,
        epsilon=EPS,
        weight=weight,
        variant=variant,
        level=level,
        vocab_mask=vocab_mask,
    )


def test_whole_by_hand_and_pads_contribute_nothing():
    out = run("whole")
    ce = sum(hand_ce(STUDENT[t], TARGET[t]) for t in range(2))
    kd = sum(hand_kd(STUDENT[t], softmax(TEACHER[t])) for t in range(2))
    assert out["ce"].item() == pytest.approx(ce)
    assert out["kd"].item() == pytest.approx(kd)
    assert out["loss"].item() == pytest.approx((ce + 0.8 * kd) / 2)
    assert out["gate"].tolist() == [[1.0, 1.0, 0.0]]
    changed = [row[:] for row in STUDENT]
    changed[2] = [-3.0, 4.0, 0.0, 7.0]  # whatever the model says at a pad position
    assert run("whole", student=changed)["loss"].item() == pytest.approx(out["loss"].item())


def test_selective_token_gate_is_exactly_one_or_floor():
    # token 0: teacher p(2) = softmax(TEACHER[0])[2] > student's; token 1: teacher p(1) < student's
    assert softmax(TEACHER[0])[2] > softmax(STUDENT[0])[2]
    assert softmax(TEACHER[1])[1] < softmax(STUDENT[1])[1]
    out = run("selective", "token")
    assert out["gate"].tolist() == [[1.0, SELECTIVE_FLOOR, 0.0]]
    assert SELECTIVE_FLOOR == 0.2
    kd = [hand_kd(STUDENT[t], softmax(TEACHER[t])) for t in range(2)]
    ce = sum(hand_ce(STUDENT[t], TARGET[t]) for t in range(2))
    assert out["loss"].item() == pytest.approx((ce + 0.8 * (kd[0] + 0.2 * kd[1])) / 2)


def test_selective_sentence_gate_compares_sums_over_the_sentence():
    q_t = softmax(TEACHER[0])[2] + softmax(TEACHER[1])[1]
    q_s = softmax(STUDENT[0])[2] + softmax(STUDENT[1])[1]
    expected = 1.0 if q_t > q_s else 0.2
    assert run("selective", "sentence")["gate"].tolist() == [[expected, expected, 0.0]]
    # a teacher that is sure of the gold tokens wins at sentence level
    sure = [[0, 0, 9, 0], [0, 9, 0, 0], [0, 0, 0, 0]]
    assert run("selective", "sentence", teacher=sure)["gate"].tolist() == [[1.0, 1.0, 0.0]]


def test_adaptive_sentence_gate_is_the_ratio_capped_at_one():
    q_t = softmax(TEACHER[0])[2] + softmax(TEACHER[1])[1]
    q_s = softmax(STUDENT[0])[2] + softmax(STUDENT[1])[1]
    assert q_t < q_s
    gate = run("adaptive", "sentence")["gate"][0].tolist()
    assert gate[:2] == pytest.approx([q_t / q_s, q_t / q_s]) and gate[2] == 0.0
    sure = [[0, 0, 9, 0], [0, 9, 0, 0], [0, 0, 0, 0]]
    assert run("adaptive", "sentence", teacher=sure)["gate"].tolist() == [[1.0, 1.0, 0.0]]


def test_adaptive_token_gate():
    gate = run("adaptive", "token")["gate"][0].tolist()
    ratio = softmax(TEACHER[1])[1] / softmax(STUDENT[1])[1]
    assert gate == pytest.approx([1.0, ratio, 0.0])  # token 0: teacher better, capped at 1


def test_language_mask_renormalises_the_teacher_before_kd_and_gates():
    mask = torch.tensor([True, True, True, False])
    out = run("adaptive", "token", vocab_mask=mask)
    masked = []
    for t in range(2):
        probs = softmax(TEACHER[t])[:3]
        masked.append([p / sum(probs) for p in probs] + [0.0])
    assert sum(masked[0]) == pytest.approx(1.0)
    kd = sum(hand_kd(STUDENT[t], masked[t]) for t in range(2))
    assert out["kd"].item() == pytest.approx(kd)
    ratio = masked[1][1] / softmax(STUDENT[1])[1]
    assert out["gate"][0].tolist() == pytest.approx([1.0, min(1.0, ratio), 0.0])


def test_batch_of_two_sentences_with_padding():
    student = torch.randn(2, 4, 6, dtype=torch.float64)
    teacher = torch.randn(2, 4, 6, dtype=torch.float64)
    target = torch.tensor([[3, 2, 5, 1], [4, 1, PAD, PAD]])
    out = distillation_objective(
        student, teacher, target, pad_idx=PAD, epsilon=EPS, weight=1.0, variant="selective", level="sentence"
    )
    assert out["gate"][1, 2:].tolist() == [0.0, 0.0]
    assert set(out["gate"][0].tolist()) <= {0.2, 1.0} and len(set(out["gate"][0].tolist())) == 1
    single = distillation_objective(
        student[1:, :2], teacher[1:, :2], target[1:, :2], pad_idx=PAD, epsilon=EPS, weight=1.0,
        variant="selective", level="sentence",
    )  # fmt: skip
    assert single["gate"][0].tolist() == out["gate"][1, :2].tolist()


CASES = [
    ("whole", "token", False),
    ("selective", "token", False),
    ("selective", "sentence", True),
    ("adaptive", "sentence", False),
    ("adaptive", "token", True),
]


def reference_loss(logits, teacher, target, gate, weight, mask, pad=PAD, epsilon=EPS):
    """An independent, term-by-term implementation of (CE_ls + w·Σ g·KD)/2 with the gate given (a constant):
    the loss, Σ CE_ls and Σ KD."""
    lprobs = logits.log_softmax(-1)
    not_pad = target.ne(pad)
    gold = target.masked_fill(~not_pad, 0).unsqueeze(-1)
    eps_i = epsilon / (logits.size(-1) - 1)
    ce = ((1 - epsilon - eps_i) * -lprobs.gather(-1, gold).squeeze(-1) - eps_i * lprobs.sum(-1)) * not_pad
    p_teacher = teacher.softmax(-1)
    if mask is not None:
        p_teacher = p_teacher * mask / (p_teacher * mask).sum(-1, keepdim=True)
    kd = -(p_teacher * lprobs).sum(-1) * not_pad
    return (ce.sum() + weight * (gate * kd).sum()) / 2, ce.sum(), kd.sum()


@pytest.mark.parametrize(("variant", "level", "masked"), CASES)
def test_gradient_with_respect_to_the_student(variant, level, masked):
    """The gates are constants of the objective (as in the original, q_S is detached): gradcheck the objective
    with its gate frozen, and check that autograd through distillation_objective gives that very gradient."""
    torch.manual_seed(1)
    student = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(2, 3, 5, dtype=torch.float64)
    target = torch.tensor([[1, 2, 3], [4, 2, PAD]])
    mask = torch.tensor([True, True, False, True, True]) if masked else None
    out = distillation_objective(
        student, teacher, target, pad_idx=PAD, epsilon=EPS, weight=1.3, variant=variant, level=level, vocab_mask=mask
    )
    gate = out["gate"].detach()

    def frozen(logits):
        return reference_loss(logits, teacher, target, gate, 1.3, mask)[0]

    assert torch.autograd.gradcheck(frozen, (student,))
    (ours,) = torch.autograd.grad(out["loss"], student)
    (reference,) = torch.autograd.grad(frozen(student), student)
    assert out["loss"].item() == pytest.approx(frozen(student).item())
    assert torch.allclose(ours, reference, atol=1e-12)
    assert ours[1, 2].abs().sum().item() == 0.0  # a pad position gets no gradient
    if variant != "adaptive":  # piecewise-constant gates: the objective itself passes gradcheck
        assert torch.autograd.gradcheck(
            lambda x: distillation_objective(
                x,
                teacher,
                target,
                pad_idx=PAD,
                epsilon=EPS,
                weight=1.3,
                variant=variant,
                level=level,
                vocab_mask=mask,
            )["loss"],  # fmt: skip
            (student,),
        )


def test_unknown_variant_or_level_is_an_error():
    with pytest.raises(ValueError, match="unknown LSSD variant 'soft'"):
        run("soft")
    with pytest.raises(ValueError, match="unknown gate level 'batch'"):
        run("whole", level="batch")


def reference_gate(student_logits, teacher_logits, target, pad, variant, level, mask):
    """The gate from the students' and teacher's probabilities of the gold tokens (lssd's gate function)."""
    from lssd.method.objective import distillation_gate, teacher_probabilities

    not_pad = target.ne(pad)
    gold = target.masked_fill(~not_pad, 0).unsqueeze(-1)
    teacher_gold = teacher_probabilities(teacher_logits, mask).gather(-1, gold).squeeze(-1)
    student_gold = student_logits.softmax(-1).gather(-1, gold).squeeze(-1)
    return distillation_gate(student_gold, teacher_gold, not_pad, variant, level)


@pytest.mark.parametrize("variant", ["whole", "selective", "adaptive"])
@pytest.mark.parametrize("level", ["token", "sentence"])
@pytest.mark.parametrize("masked", [False, True])
def test_fast_objective_equals_the_term_by_term_objective(variant, level, masked):
    generator = torch.Generator().manual_seed(7)
    batch, time, vocab, pad = 4, 9, 60, 1
    student = torch.randn(batch, time, vocab, generator=generator) * 3
    teacher = torch.randn(batch, time, vocab, generator=generator) * 3
    target = torch.randint(4, vocab, (batch, time), generator=generator)
    target[0, 6:] = pad
    target[2, 3:] = pad
    mask = (torch.rand(vocab, generator=generator) < 0.5) if masked else None
    if mask is not None:
        mask[target.flatten()] = True
    args = dict(pad_idx=pad, epsilon=0.1, weight=0.8, variant=variant, level=level, vocab_mask=mask)
    fast_input = student.clone().requires_grad_(True)
    fast = distillation_objective(fast_input, teacher, target, **args)
    fast["loss"].backward()
    slow_input = student.clone().requires_grad_(True)
    gate = reference_gate(student, teacher, target, pad, variant, level, mask)
    loss, ce, kd = reference_loss(slow_input, teacher, target, gate, 0.8, mask, pad=pad, epsilon=0.1)
    loss.backward()
    assert fast["loss"].item() == pytest.approx(loss.item(), rel=1e-5)
    assert fast["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert fast["kd"].item() == pytest.approx(kd.item(), rel=1e-5)
    assert torch.allclose(fast_input.grad, slow_input.grad, rtol=1e-4, atol=1e-6)
