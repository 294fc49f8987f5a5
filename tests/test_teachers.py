"""The teacher pool and the per-pair switch on a scripted sequence of dev losses."""

import math

from lssd.method.teachers import TeacherPool

# dev loss per key and epoch (1-based)
LOSSES = {
    "a": [5.0, 4.0, 4.5, 4.6, 3.9, 4.0],  # improves at 1, 2, 5
    "b": [5.0, 4.5, 4.0, 3.5, 3.6, 3.7],  # improves at 1, 2, 3, 4
    "c": [5.0, 6.0, 6.0, 6.0, 6.0, 5.0],  # improves at 1 only (strictly: 5.0 is not < 5.0)
}


class Copy:
    def __init__(self, epoch):
        self.epoch = epoch


def run_pool(single_teacher=False, overall=None):
    pool = TeacherPool(keys=["a", "b", "c"], single_teacher=single_teacher)
    switches, improved = {}, {}
    for epoch in range(1, 8):
        switches[epoch] = [key for key in pool.keys if pool.should_distill(key, epoch)]
        if epoch <= 6:
            losses = {key: values[epoch - 1] for key, values in LOSSES.items()}
            improved[epoch] = pool.update(
                epoch, losses, lambda e=epoch: Copy(e), overall=None if overall is None else overall[epoch - 1]
            )
    return pool, switches, improved


def test_switch_per_pair_and_epoch():
    pool, switches, improved = run_pool()
    assert improved == {1: ["a", "b", "c"], 2: ["a", "b"], 3: ["b"], 4: ["b"], 5: ["a"], 6: []}
    assert switches == {
        1: [],  # no teacher yet
        2: [],  # everyone's best is epoch 1: 2 - 1 = 1 is not > 1
        3: ["c"],
        4: ["a", "c"],
        5: ["a", "c"],
        6: ["b", "c"],  # a improved at 5; b's best is 4
        7: ["a", "b", "c"],
    }
    assert [pool.best_epoch(key) for key in "abc"] == [5, 4, 1]
    assert [pool.entries[key].best_loss for key in "abc"] == [3.9, 3.5, 5.0]


def test_copies_are_shared_and_freed():
    pool = TeacherPool(keys=["a", "b", "c"])
    made = []

    def make(epoch):
        made.append(epoch)
        return Copy(epoch)

    for epoch in (1, 2):
        pool.update(epoch, {key: LOSSES[key][epoch - 1] for key in LOSSES}, lambda e=epoch: make(e))
    assert made == [1, 2]  # one copy per epoch, however many keys improved
    assert pool.teacher("a") is pool.teacher("b") and pool.teacher("a").epoch == 2
    assert pool.teacher("c").epoch == 1 and sorted(pool.copies) == [1, 2]
    for epoch in (3, 4, 5, 6):
        pool.update(epoch, {key: LOSSES[key][epoch - 1] for key in LOSSES}, lambda e=epoch: make(e))
    # epoch 2 and 3 copies were freed once a and b moved on; epoch 6 improved nobody: no copy made
    assert made == [1, 2, 3, 4, 5]
    assert sorted(pool.copies) == [1, 4, 5] == sorted(pool.teacher_epochs())


def test_an_epoch_is_applied_once():
    pool = TeacherPool(keys=["a"])
    assert pool.update(1, {"a": 2.0}, lambda: Copy(1)) == ["a"]
    assert pool.update(1, {"a": 1.0}, lambda: Copy(1)) == []
    assert pool.entries["a"].best_loss == 2.0


def test_single_teacher_follows_the_overall_loss():
    overall = [5.0, 4.0, 4.2, 3.8, 3.9, 3.95]
    pool, switches, improved = run_pool(single_teacher=True, overall=overall)
    assert improved == {1: ["a", "b", "c"], 2: ["a", "b", "c"], 3: [], 4: ["a", "b", "c"], 5: [], 6: []}
    assert pool.teacher("a") is pool.teacher("c")
    assert switches[4] == ["a", "b", "c"] and switches[5] == []
    assert pool.entries["a"].best_loss == 3.8


def test_the_single_teacher_must_beat_mid_epoch_validations_too():
    """As the original (fairseq's best checkpoint is the threshold): a mid-epoch validation in epoch 2 better than
    the end of epoch 2 keeps the teacher at epoch 1; the per-pair teachers ignore mid-epoch validations."""
    single = TeacherPool(keys=["a", "b"], single_teacher=True)
    per_pair = TeacherPool(keys=["a", "b"])
    for pool in (single, per_pair):
        pool.observe_mid_epoch(6.0)  # epoch 1's mid-epoch validation: epoch 1 improves whatever it was
        assert pool.update(1, {"a": 5.0, "b": 5.0}, lambda: Copy(1), overall=5.0) == ["a", "b"]
        pool.observe_mid_epoch(3.0)  # epoch 2, mid-epoch
        pool.update(2, {"a": 4.0, "b": 4.0}, lambda: Copy(2), overall=4.0)
    assert single.best_epoch("a") == single.best_epoch("b") == 1 and single.overall_best == 3.0
    assert per_pair.best_epoch("a") == per_pair.best_epoch("b") == 2
    # an end-of-epoch loss beating every earlier validation, mid-epoch ones included, takes over
    assert single.update(3, {"a": 3.5, "b": 3.5}, lambda: Copy(3), overall=2.9) == ["a", "b"]
    assert single.best_epoch("a") == 3 and single.state_dict()["overall_best"] == 2.9


def test_the_single_teacher_compares_losses_as_fairseq_logs_them():
    """As the original: the end-of-epoch valid loss, rounded to 3 decimals (fairseq's meters), must be below fairseq's
    best so far (save_checkpoint.best, before fairseq saves the epoch): a tie keeps the teacher. Near a plateau that
    differs from an exact comparison: 3.9996 after 4.0001 logs as a tie (4.0, 4.0) and keeps the teacher."""
    pool = TeacherPool(keys=["a", "b"], single_teacher=True)
    losses = {"a": 5.0, "b": 5.0}
    assert pool.update(1, losses, lambda: Copy(1), overall=4.5) == ["a", "b"]
    assert pool.update(2, losses, lambda: Copy(2), overall=4.0001) == ["a", "b"]
    assert pool.update(3, losses, lambda: Copy(3), overall=4.0004) == []  # a tie as logged: the teacher stays
    assert pool.update(4, losses, lambda: Copy(4), overall=3.9996) == []  # exactly better, but a tie as logged
    assert pool.best_epoch("a") == pool.best_epoch("b") == 2 and pool.overall_best == 4.0
    assert pool.should_distill("a", 4) and pool.teacher("a").epoch == 2
    pool.observe_mid_epoch(4.0003)  # logs as 4.0: the threshold stays 4.0
    assert pool.overall_best == 4.0
    assert pool.update(5, losses, lambda: Copy(5), overall=3.9994) == ["a", "b"]  # 3.999 < 4.0
    assert pool.best_epoch("a") == 5 and pool.overall_best == 3.999


def test_state_round_trip_reloads_teachers_of_kept_epochs():
    pool, _, _ = run_pool()
    state = pool.state_dict()
    fresh = TeacherPool(keys=["a", "b", "c"])
    assert fresh.entries["a"].best_loss == math.inf
    fresh.load_state_dict(state, load_copy=Copy)
    assert [fresh.best_epoch(key) for key in "abc"] == [5, 4, 1]
    assert fresh.updated_through == 6
    assert fresh.teacher("a").epoch == 5 and fresh.teacher("c").epoch == 1
    assert [k for k in fresh.keys if fresh.should_distill(k, 7)] == ["a", "b", "c"]


def test_a_cap_on_copies_merges_the_closest_best_epochs_into_the_later_one():
    pool = TeacherPool(keys=["a", "b", "c", "d"], max_copies=2)
    made = []
    losses = {  # a improves at 1, 2; b at 1, 2, 4; c at 1, 5; d at 1 only
        1: {"a": 5, "b": 5, "c": 5, "d": 5},
        2: {"a": 4, "b": 4, "c": 6, "d": 6},
        3: {"a": 4, "b": 4, "c": 6, "d": 6},
        4: {"a": 4, "b": 3, "c": 6, "d": 6},
        5: {"a": 4, "b": 3, "c": 4, "d": 6},
    }
    for epoch, values in losses.items():
        pool.update(epoch, values, lambda e=epoch: made.append(e) or Copy(e))
        assert len(pool.copies) <= 2
    # best epochs 2 (a), 4 (b), 5 (c), 1 (d): after epoch 2 the copies were {1, 2} (fits); epoch 4 gave {1, 2, 4}:
    # 1 and 2 are closest, so d moved to 2; epoch 5 gave {2, 4, 5}: 4 and 5 are closest, so b moved to 5
    assert {key: pool.best_epoch(key) for key in "abcd"} == {"a": 2, "b": 4, "c": 5, "d": 1}
    assert {key: pool.teacher(key).epoch for key in "abcd"} == {"a": 2, "b": 5, "c": 5, "d": 2}
    assert sorted(pool.copies) == [2, 5] and pool.teacher_epochs() == {2, 5}
    # the switch still follows each pair's own best epoch
    assert pool.should_distill("d", 6) and pool.should_distill("b", 6) and not pool.should_distill("c", 6)
    restored = TeacherPool(keys=["a", "b", "c", "d"], max_copies=2)
    restored.load_state_dict(pool.state_dict(), lambda epoch: Copy(epoch))
    assert {key: restored.teacher(key).epoch for key in "abcd"} == {"a": 2, "b": 5, "c": 5, "d": 2}


def test_teacher_memory_is_distinct_epochs_times_the_model_size_in_teacher_precision():
    import copy

    import torch

    from lssd.method.teachers import freeze_teacher, module_bytes, teacher_dtype

    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 50), torch.nn.LayerNorm(50))
    fp32_bytes = module_bytes(model)
    assert fp32_bytes == 4 * (50 * 8 + 8 * 50 + 50 + 2 * 50)
    for precision, on_gpu, element in (("auto", False, 4), ("auto", True, 2), ("fp16", False, 2), ("bf16", False, 2)):
        pool = TeacherPool(keys=["a", "b", "c"])
        dtype = teacher_dtype(precision, on_gpu)

        def make(dtype=dtype):
            return freeze_teacher(copy.deepcopy(model), dtype)

        for epoch in range(1, 7):
            pool.update(epoch, {key: LOSSES[key][epoch - 1] for key in LOSSES}, make)
            distinct = len(pool.teacher_epochs())
            assert len(pool.copies) == distinct
            assert pool.memory_bytes() == distinct * fp32_bytes * element // 4, (precision, epoch)
        teacher = pool.teacher("a")
        assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
        assert next(teacher.parameters()).dtype == dtype
    assert sorted(pool.copies) == [1, 4, 5]  # a: 5, b: 4, c: 1 (LOSSES above)
