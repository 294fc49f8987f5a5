"""benchmarks/paper_training.py at tiny size (the same mechanics as at the paper's: fairseq's Trainer over the
plugin's task, a full teacher pool, fairseq's validate and save_checkpoint), and lssd.run.memory's arithmetic
against values computed by hand."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.training import data_bin
from lssd.run import memory
from tests.helpers import REPO

SCRIPT = REPO / "benchmarks" / "paper_training.py"


# ------------------------------------------------------------------------------------------- the arithmetic
def test_the_state_per_parameter_is_16_bytes_in_fp32_and_20_in_fp16():
    # fp32: weights 4 + gradients 4 + Adam 2 x 4; fp16: model 2 + gradients 2 + fp32 master 4 + its gradients 4
    # + Adam 8; teachers: 3 copies of 1000 parameters at 2 or 4 bytes
    assert memory.model_state_bytes(1000, fp16=False, teachers=3, teacher_bytes=4) == {
        "weights": 4000, "gradients": 4000, "master_weights": 0, "master_gradients": 0, "adam": 8000,
        "teachers": 12000,
    }  # fmt: skip
    fp16 = memory.model_state_bytes(1000, fp16=True, teachers=3, teacher_bytes=2)
    assert fp16 == {
        "weights": 2000, "gradients": 2000, "master_weights": 4000, "master_gradients": 4000, "adam": 8000,
        "teachers": 6000,
    }  # fmt: skip
    assert sum(fp16.values()) - fp16["teachers"] == 20 * 1000


def test_activations_and_logits_by_hand():
    # per token: encoder layer 10*8 + 3*16 = 128 values, decoder layer 16*8 + 3*16 = 176; 100 tokens, fp16
    assert memory.activation_bytes(100, 2, 3, 8, 16, fp16=True) == 100 * (2 * 128 + 3 * 176) * 2 == 156800
    assert memory.activation_bytes(100, 2, 3, 8, 16, fp16=False) == 313600
    # 100 tokens x 50 pieces: the student's fp16 logits + fp32 log-softmax + its fp32 gradient, the teacher's
    # fp16 logits + their fp32 softmax
    assert memory.logits_bytes(100, 50, fp16=True, distilling=True, teacher_bytes=2) == {
        "student_logits": 5000 * 10,
        "teacher_logits": 5000 * 6,
    }
    assert memory.logits_bytes(100, 50, fp16=False, distilling=False)["teacher_logits"] == 0


def test_a_ted_shaped_run_with_eight_fp16_teachers():
    shape = memory.TrainingShape(
        parameters=10**6, target_vocab=8000, max_tokens=8192, encoder_layers=6, decoder_layers=6, d_model=512,
        ffn_dim=2048, fp16=True, teachers=8, teacher_bytes=2,
    )  # fmt: skip
    parts = memory.training_memory(shape)
    assert parts["teachers"] == 16_000_000
    assert parts["activations"] == 8192 * (6 * (5120 + 6144) + 6 * (8192 + 6144)) * 2 == 2_516_582_400
    assert parts["student_logits"] == 655_360_000 and parts["teacher_logits"] == 393_216_000
    # 20e6 (state) + 16e6 (teachers) + activations + logits
    assert parts["total"] == 3_601_158_400
    baseline = memory.training_memory(memory.TrainingShape(**{**shape.__dict__, "teachers": 0}))
    assert parts["total"] - baseline["total"] == 16_000_000 + 393_216_000


def test_sentence_lengths_have_the_asked_mean_and_bounds():
    lengths = data_bin.sentence_lengths(np.random.default_rng(0), 200_000, 25.0, 200)
    assert abs(lengths.mean() - 25.0) < 0.3
    assert lengths.min() >= 1 and lengths.max() <= 200


def test_data_bin_only_builds_the_synthetic_data_bin_and_trains_nothing(tmp_path):
    """What docs/costs.md's TED-size teacher-overhead figures ran on: the data-bin alone, the same for the same
    options (seeded), with TED's shared foreign dictionary and English's own."""
    argv = ["--tiny", "--size", "ted", "--data-bin-only"]
    bins = []
    for name in ("first", "second"):
        work = tmp_path / name
        completed = subprocess.run(
            [sys.executable, str(SCRIPT), *argv, "--work-dir", str(work)], capture_output=True, text=True, timeout=120
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        assert sorted(path.name for path in work.iterdir()) == ["bin"]  # no run directories: nothing trained
        bins.append({path.name: path.read_bytes() for path in (work / "bin").iterdir()})
    assert bins[0] == bins[1]
    langs = bins[0]["lang_list.txt"].decode().split()
    assert langs[-1] == "eng" and len(langs) == 9
    assert all(bins[0][f"dict.{lang}.txt"] == bins[0]["dict.bos.txt"] for lang in langs[:-1])
    assert bins[0]["dict.eng.txt"] != bins[0]["dict.bos.txt"]
    assert any(name.startswith("train.") and name.endswith(".bin") for name in bins[0])


def test_data_bin_only_without_a_work_dir_is_refused():
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--data-bin-only"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2 and "--data-bin-only needs --work-dir" in completed.stderr


# ------------------------------------------------------------------------------------------- the benchmark
@pytest.mark.slow
# WMT O2M only: it has every part TED M2O has (a teacher per pair, files, validation) and the joint dictionary and
# language-aware masks besides; the suite's time is what a second preset would cost (25 s)
@pytest.mark.parametrize(("size", "direction"), [("wmt", "o2m")])
def test_the_tiny_benchmark_measures_a_full_teacher_pool(tmp_path, size, direction):
    out = tmp_path / "figures.json"
    work = tmp_path / "work"
    argv = ["--tiny", "--size", size, "--direction", direction, "--json", str(out), "--work-dir", str(work)]
    completed = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    record = json.loads(out.read_text())
    base, lssd = record["results"]["baseline"], record["results"]["lssd_whole"]
    figures, layout = record["figures"], record["layout"]
    pairs = len(layout["langs"])
    assert pairs == {"ted": 8, "wmt": 6}[size] and len(base["pairs"]) == pairs
    assert base["pairs"][0] == (f"{layout['langs'][0]}-eng" if direction == "m2o" else f"eng-{layout['langs'][0]}")
    assert set(record["machine"]) >= {"platform", "cpus", "torch"}
    assert base["criterion"] == "label_smoothed_cross_entropy" and lssd["criterion"] == "lssd_distillation"

    # the dictionaries of the recipe: TED a shared foreign one and English's own, WMT one joint one (plus the 4
    # specials and a language token per language)
    specials = 4 + pairs + 1
    foreign, english = layout["foreign_dict"] + specials, layout["pivot_dict"] + specials
    source, target = (foreign, english) if direction == "m2o" else (english, foreign)
    assert (base["source_vocab"], base["target_vocab"]) == (source, target)
    if size == "wmt":
        assert base["source_vocab"] == base["target_vocab"]
    assert (work / "bin" / "lang_list.txt").read_text().split() == [*layout["langs"], "eng"]

    # every figure, and the same timed updates for both methods
    assert len(base["update_s"]) == len(lssd["update_s"]) == record["options"]["updates"]
    assert base["tokens_per_update"] == lssd["tokens_per_update"]  # the same seed: the same batches
    assert all(value > 0 for value in [*base["update_s"], *lssd["update_s"]])
    assert figures["update_s"]["ratio"] == figures["update_s"]["lssd_whole"] / figures["update_s"]["baseline"]
    assert figures["peak_rss"]["baseline"] > 0 and figures["peak_rss"]["lssd_whole"] > 0
    assert figures["epoch"]["updates"] > 0 and figures["epoch"]["baseline_s"] > 0

    # one frozen teacher per pair, every pair distilled; its bytes: pairs x the model's parameters in fp32 (the
    # teachers' dtype on CPU under the plugin's auto)
    teachers = lssd["teachers"]
    assert teachers["count"] == teachers["pairs"] == pairs and teachers["dtype"] == "float32"
    assert teachers["parameter_bytes"] == pairs * lssd["parameters"] * 4
    assert teachers["pool_bytes"] == pairs * lssd["model_bytes"]
    assert figures["teacher_pool"]["parameter_bytes"] == figures["teacher_pool"]["expected_parameter_bytes"]
    assert len(list((work / "lssd_whole" / "teachers").glob("teacher_epoch*.pt"))) == pairs

    # a checkpoint holds the weights and Adam's two moments per weight: more than twice a model-only teacher file
    checkpoint = base["checkpoint"]
    assert checkpoint["last_bytes"] == checkpoint["best_bytes"] > 2 * teachers["file_bytes"]
    assert (work / "baseline" / "checkpoint_last.pt").exists()

    # fairseq's validation went over every sentence of every pair's dev set
    validation = base["validation"]["per_pair"]
    for lang, pair in zip(layout["langs"], base["pairs"], strict=True):
        assert validation[pair]["sentences"] == layout["valid"][lang]
        assert validation[pair]["target_tokens"] > validation[pair]["sentences"]
    assert figures["validation"]["dev_sentences"] == sum(layout["valid"].values())

    # the GPU figures are lssd.run.memory's for the run's own shape
    arch = base["arch"]
    shape = memory.TrainingShape(
        parameters=base["parameters"], target_vocab=base["target_vocab"], max_tokens=base["max_tokens"],
        encoder_layers=arch["encoder_layers"], decoder_layers=arch["decoder_layers"],
        d_model=arch["encoder_embed_dim"], ffn_dim=arch["encoder_ffn_embed_dim"], fp16=True, teachers=pairs,
    )  # fmt: skip
    assert figures["gpu_memory"]["lssd_whole"] == memory.training_memory(shape)
    assert set(figures["cpu_memory_check"]) == {
        "model weights",
        "gradients + Adam state",
        "teacher pool",
        "one teacher",
    }

    # the host-memory processes: one full evaluation batch of the first pair translated from the baseline's best
    # checkpoint with the paper's evaluation settings; a resume's loads: the checkpoint and every teacher file
    evaluation, host = record["results"]["evaluate"], record["results"]["host"]
    assert evaluation["pair"] == base["pairs"][0]
    assert evaluation["sentences"] == evaluation["batch_size"] == layout["test"][layout["langs"][0]] == 96
    assert (evaluation["beam"], evaluation["max_len_b"]) == (5, 200)
    assert 0 < evaluation["hypothesis_pieces"]["mean"] <= evaluation["hypothesis_pieces"]["max"] <= 200
    assert evaluation["checkpoint_bytes"] == checkpoint["best_bytes"]
    assert evaluation["peak_rss"] >= evaluation["rss_start"] > 0
    assert host["checkpoint_bytes"] == checkpoint["last_bytes"] and host["teacher_files"] == pairs
    assert abs(host["teacher_bytes"] - pairs * teachers["file_bytes"]) < pairs * 1024  # (their epochs' digits)
    assert list(host["rss"])[-2:] == ["checkpoint loaded", "teachers loaded"]
    assert host["peak_rss"] >= 0.99 * max(host["rss"].values())  # (two counters: the peak's and statm's pages)

    table = completed.stdout
    for line in ("seconds per update (median)", "peak RSS in training", "teacher pool:", "checkpoint_last.pt",
                 "validation (fairseq's validate", "evaluation process:", "training process, host side",
                 "memory arithmetic", "predicted GPU memory"):  # fmt: skip
        assert line in table
