"""Per-pair dev-loss bookkeeping: bits per token and the history format."""

import math

import pytest

from lssd.method.history import History, PairLossSums, bits_per_token


def test_bits_per_token_by_hand():
    # 10 tokens with a summed loss of 10 * ln(8) nats: 3 bits per token
    assert bits_per_token(10 * math.log(8), 10) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        bits_per_token(1.0, 0)


def test_pair_sums_over_batches_are_token_weighted():
    sums = PairLossSums()
    # pair a: two batches, (4 tokens, 4 ln 2 nats) and (12 tokens, 36 ln 2 nats) → 40 ln2 / 16 = 2.5 bits
    sums.add("a-eng", 4 * math.log(2), 4)
    sums.add("a-eng", 36 * math.log(2), 12)
    # pair b: 4 tokens at 1 bit each
    sums.add("b-eng", 4 * math.log(2), 4)
    values = sums.bits_per_token()
    assert values["a-eng"] == pytest.approx(2.5)
    assert values["b-eng"] == pytest.approx(1.0)
    # all: (40 + 4) ln 2 / 20 tokens = 2.2 bits, not the mean of the pair values (1.75)
    assert values["all"] == pytest.approx(2.2)


def test_history_json_round_trip_best_epoch_and_truncate():
    history = History()
    history.record(1, {"a-eng": 5.0, "b-eng": 6.0, "all": 5.5})
    history.record(2, {"a-eng": 4.0, "b-eng": 5.0, "all": 4.5})
    history.record(3, {"a-eng": 4.5, "b-eng": 4.0, "all": 4.2})
    history.record(3, {"a-eng": 4.6, "b-eng": 3.9, "all": 4.3})  # a later validation of epoch 3 replaces it
    data = history.to_json()
    assert data == {"a-eng": [5.0, 4.0, 4.6], "b-eng": [6.0, 5.0, 3.9], "all": [5.5, 4.5, 4.3]}
    again = History.from_json(data)
    assert again.best_epoch("a-eng") == 2
    assert again.best_epoch("b-eng") == 3
    again.truncate(before_epoch=3)
    assert again.to_json()["a-eng"] == [5.0, 4.0]


def test_history_file(tmp_path):
    history = History({1: {"a-eng": 2.0, "all": 2.0}})
    history.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json").to_json() == {"a-eng": [2.0], "all": [2.0]}


def test_pair_best_epochs_take_the_earliest_lowest_value_and_skip_nulls_and_all():
    from lssd.method.history import pair_best_epochs

    history = {
        "a-eng": [5.0, 4.0, 4.0, 4.5],  # a tie between epochs 2 and 3: the earliest
        "b-eng": [None, 6.0, None, 3.0],  # epochs without validation are no candidates
        "c-eng": [None, None],  # never validated: left out
        "all": [1.0, 1.0, 1.0, 1.0],
    }
    assert pair_best_epochs(history) == {"a-eng": 2, "b-eng": 4}
    assert pair_best_epochs({"all": [1.0]}) == {}
