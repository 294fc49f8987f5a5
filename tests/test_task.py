"""The lssd fairseq task on a real (tiny) fairseq run: pure batches, per-pair validation, history, resume."""

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
import torch

import lssd.plugin.task  # noqa: F401  (registers the task in this process, allows loading fairseq checkpoints)
from tests.helpers import train

pytestmark = pytest.mark.slow


def test_binarized_data_serves_both_directions(data_bin):
    root, spec = data_bin
    names = {p.name for p in (root / "bin").iterdir()}
    assert {"lang_list.txt", "dict.eng.txt", "dict.bos.txt", "LS_dict.fra.txt", "manifest.json"} <= names
    assert (root / "bin" / "lang_list.txt").read_text().split() == ["bos", "mkd", "fra", "eng"]
    # per_language recipe: the non-English languages share one dictionary, English has its own
    assert (root / "bin" / "dict.bos.txt").read_text() == (root / "bin" / "dict.fra.txt").read_text()
    assert (root / "bin" / "dict.bos.txt").read_text() != (root / "bin" / "dict.eng.txt").read_text()
    # a language-specific dictionary lists exactly the pieces of that language's training side
    pieces = {line.split()[0] for line in (root / "bin" / "LS_dict.mkd.txt").read_text().splitlines()}
    encoded = (root / "encoded" / "mkd" / "train.mkd-eng.mkd").read_text().split()
    assert pieces == set(encoded)


@pytest.fixture(scope="module")
def o2m_run(data_bin):
    root, _ = data_bin
    save_dir = root / "o2m"
    pairs, log = train(root, "o2m", 2, save_dir)
    return root, save_dir, pairs, log


def test_history_has_every_pair_per_epoch_and_all_matches_fairseq_valid_loss(o2m_run):
    root, save_dir, pairs, log = o2m_run
    history = json.loads((save_dir / "history.json").read_text())
    assert list(history) == [*pairs, "all"]
    assert all(len(values) == 2 for values in history.values())
    logged = [float(line.split("| loss ")[1].split()[0]) for line in log.splitlines() if "valid on 'valid'" in line]
    assert history["all"] == pytest.approx(logged, abs=1e-3)
    for pair in pairs:
        assert f"loss_{pair}" in log  # per-pair losses are in fairseq's valid log line too


def test_per_pair_loss_equals_a_recomputation_with_the_stock_criterion(o2m_run):
    """Recompute every pair's dev loss with fairseq's own criterion on the saved model of epoch 2."""
    from fairseq import checkpoint_utils

    root, save_dir, pairs, _ = o2m_run
    history = json.loads((save_dir / "history.json").read_text())
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint2.pt")])
    model = models[0].eval()
    criterion = task.build_criterion(cfg.criterion)
    task.load_dataset("valid")
    iterator = task.get_batch_iterator(
        task.dataset("valid"), max_tokens=1024, max_positions=(256, 256), required_batch_size_multiple=1, seed=1
    ).next_epoch_itr(shuffle=False)
    langtok = {task.data_manager.get_encoder_langtok(*pair.split("-"), "tgt"): pair for pair in pairs}
    loss, ntokens = defaultdict(float), defaultdict(float)
    for sample in iterator:
        src = sample["net_input"]["src_tokens"]
        first = {int(row[row.ne(task.source_dictionary.pad())][0]) for row in src}
        assert len(first) == 1, "--pure-batch: every batch holds one language pair"
        pair = langtok[first.pop()]
        with torch.no_grad():
            batch_loss, sample_size, _ = criterion(model, sample)
        loss[pair] += batch_loss.item()
        ntokens[pair] += sample_size
    for pair in pairs:
        assert history[pair][-1] == pytest.approx(loss[pair] / ntokens[pair] / math.log(2), rel=1e-5)
    total = sum(loss.values()) / sum(ntokens.values()) / math.log(2)
    assert history["all"][-1] == pytest.approx(total, rel=1e-5)


def test_the_teacher_gives_the_model_s_own_logits_by_one_matrix_product(o2m_run):
    """The criterion's teacher forward (contiguous features, then the vocabulary projection) equals the model's own
    forward pass, and its projection is a plain matrix product, not a batched one against a broadcast weight."""
    from fairseq import checkpoint_utils
    from torch.profiler import ProfilerActivity, profile

    from lssd.method.teachers import freeze_teacher
    from lssd.plugin.criterion import teacher_logits

    _, save_dir, _, _ = o2m_run
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint2.pt")])
    teacher = freeze_teacher(models[0], torch.float32)
    task.load_dataset("valid")
    sample = next(iter(task.get_batch_iterator(task.dataset("valid"), max_tokens=1024).next_epoch_itr(shuffle=False)))
    with torch.inference_mode():
        expected = teacher(**sample["net_input"])[0]
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
        logits = teacher_logits(teacher, sample["net_input"])
    assert torch.equal(logits, expected)
    vocabulary = len(task.target_dictionary)
    batched = [e for e in profiler.events() if e.name == "aten::bmm" and e.input_shapes[1][-1] == vocabulary]
    assert not batched, [e.input_shapes for e in batched]


def test_training_batches_are_pure(o2m_run):
    from fairseq import checkpoint_utils

    root, save_dir, pairs, _ = o2m_run
    _, _, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint_last.pt")])
    task.load_dataset("train", epoch=1)
    iterator = task.get_batch_iterator(
        task.dataset("train"), max_tokens=1024, max_positions=(256, 256), seed=1, epoch=1
    ).next_epoch_itr(shuffle=True)
    seen = set()
    for sample in iterator:
        src = sample["net_input"]["src_tokens"]
        first = {int(row[row.ne(task.source_dictionary.pad())][0]) for row in src}
        assert len(first) == 1
        seen |= first
    assert len(seen) == len(pairs)


def test_a_temperature_sampled_epoch_holds_as_many_sentences_as_the_data(o2m_run):
    """tau = 5 upsamples the small pairs: the original's fairseq capped the epoch at the data's size (stock 0.12
    samples up to 1.5x). The training log and the loaded dataset agree."""
    from fairseq import checkpoint_utils

    root, save_dir, pairs, log = o2m_run
    raw = [int(line.rsplit("raw total size: ", 1)[1]) for line in log.splitlines() if "raw total size: " in line]
    sampled = [
        int(line.rsplit("resampled total size: ", 1)[1]) for line in log.splitlines() if "resampled total" in line
    ]
    assert raw and sampled == raw, (raw, sampled)
    _, _, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint_last.pt")])
    task.load_dataset("train", epoch=1)
    dataset = task.dataset("train")
    sizes = [len(part) for part in dataset.datasets]
    assert len(dataset) == sum(sizes) and max(sizes) > 2 * min(sizes)
    # the small pairs are upsampled all the same: their share of the epoch is above their share of the data
    shares = dataset.virtual_size_per_dataset / len(dataset)
    smallest = sizes.index(min(sizes))
    assert shares[smallest] > sizes[smallest] / sum(sizes)


def test_every_sampled_sentence_is_in_a_training_batch(o2m_run):
    """Batches of fairseq's default multiple of 8, as the original: each pair's last batch is kept whatever its
    size (stock fairseq 0.12 drops it: up to 7 sentences of each pair every epoch)."""
    from fairseq import checkpoint_utils

    from lssd.plugin.batches import dataset_of_indices

    root, save_dir, pairs, _ = o2m_run
    _, _, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint_last.pt")])
    task.load_dataset("train", epoch=1)
    dataset = task.dataset("train")
    iterator = task.get_batch_iterator(
        dataset, max_tokens=1024, max_positions=(256, 256), required_batch_size_multiple=8, seed=1, epoch=1
    )
    batches = list(iterator.frozen_batches)
    assert sum(len(batch) for batch in batches) == len(dataset)
    assert sorted(int(i) for batch in batches for i in batch) == list(range(len(dataset)))
    owners = [set(dataset_of_indices(dataset, batch).tolist()) for batch in batches]
    assert all(len(owner) == 1 for owner in owners)
    for pair in range(len(pairs)):
        sizes = [len(batch) for batch, owner in zip(batches, owners, strict=True) if owner == {pair}]
        assert sizes and all(size % 8 == 0 for size in sizes[:-1]), sizes  # each pair's last batch: any size
    assert any(len(batch) % 8 for batch in batches)  # a remainder batch exists: the check can fail


def test_resumed_run_continues_the_same_history(o2m_run):
    root, save_dir, pairs, _ = o2m_run
    before = json.loads((save_dir / "history.json").read_text())
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["task_state"]["lssd_history"] == before  # the history travels with the checkpoint
    _, log = train(root, "o2m", 3, save_dir)  # fairseq resumes from checkpoint_last.pt
    assert "Loaded checkpoint" in log
    after = json.loads((save_dir / "history.json").read_text())
    assert all(len(values) == 3 for values in after.values())
    assert {name: values[:2] for name, values in after.items()} == before


def test_m2o_run_keys_pairs_by_source_language(data_bin):
    root, _ = data_bin
    pairs, log = train(root, "m2o", 1, root / "m2o")
    history = json.loads((root / "m2o" / "history.json").read_text())
    assert list(history) == ["bos-eng", "mkd-eng", "fra-eng", "all"]


def generate_lines(args, pair, split):
    """fairseq-generate's own H- and T- lines for one pair and split, in sentence order."""
    import re
    import subprocess
    import sys

    from lssd.run.commands import plugin_arguments

    source, target = pair.split("-")
    per_pair = ["--source-lang", source, "--target-lang", target, "--gen-subset", split]
    completed = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.generate", *args, *per_pair, *plugin_arguments()],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = {}
    for kind in "HT":
        pattern = rf"^{kind}-(\d+)\t(?:[^\t]*\t)?(.*)$" if kind == "H" else rf"^{kind}-(\d+)\t(.*)$"
        found = {int(m.group(1)): m.group(2) for m in re.finditer(pattern, completed.stdout, re.MULTILINE)}
        lines[kind] = [found[index] for index in range(len(found))]
    return lines["H"], lines["T"]


@pytest.fixture(scope="module")
def translating_run(data_bin):
    """A model that already translates differently from sentence to sentence (lr 0.03, 4 epochs)."""
    root, _ = data_bin
    save_dir = root / "o2m-translating"
    pairs, _ = train(root, "o2m", 4, save_dir, training={"lr": 0.03})
    return root, save_dir, pairs


def test_one_model_load_translates_every_pair_as_fairseq_generate_does(translating_run):
    """lssd.run.generation (one process, one model load, every pair and split) equals one fairseq-generate per pair."""
    from lssd.run import commands
    from lssd.run.generation import Generator, Request

    root, save_dir, pairs = translating_run
    args = commands.generate_arguments(
        data_bin=str(root / "bin"),
        model=str(save_dir / "checkpoint_best.pt"),
        pairs=pairs,
        direction="o2m",
        beam=3,
        lenpen=1.0,
        batch_size=7,
    )
    generator = Generator([*args, "--cpu"])
    distinct = {}
    for pair in pairs:
        for split in ("test",):
            translation = generator.translate(Request(*pair.split("-"), split))
            hypotheses, references = generate_lines([*args, "--cpu"], pair, split)
            assert translation.hypotheses == hypotheses, (pair, split)
            assert translation.references == references, (pair, split)
            distinct[pair, split] = len(set(hypotheses))
            raw = root / "data" / f"{split}.{pair.split('-')[1]}-eng.eng"
            assert len(hypotheses) == len(raw.read_text().splitlines())
    # a model whose output depends on the source (for most pairs), so that the comparison means something
    assert sum(count > 1 for count in distinct.values()) >= 2, str(distinct)


def test_a_run_evaluation_writes_every_pairs_files_with_both_scores(o2m_run, tmp_path):
    from lssd.run import commands, evaluate

    root, save_dir, pairs, _ = o2m_run
    args = commands.generate_arguments(
        data_bin=str(root / "bin"), model=str(save_dir / "checkpoint2.pt"), pairs=pairs, direction="o2m",
        beam=2, lenpen=1.0, batch_size=16,
    )  # fmt: skip
    plan = [
        {
            "pair": pair,
            "split": "test",
            "reference": str(root / "data" / f"test.{pair.split('-')[1]}-eng.{pair.split('-')[1]}"),
            "spm_model": str(root / "models" / f"spm.{pair.split('-')[1]}.model"),
        }
        for pair in pairs
    ]
    meta = json.dumps({"dataset": "tiny", "direction": "o2m", "method": "baseline", "seed": 3})
    assert evaluate.main(["--output-dir", str(tmp_path), "--plan", json.dumps(plan), "--meta", meta, "--", *args]) == 0
    for item in plan:
        stem = tmp_path / f"{item['pair']}.test"
        result = json.loads(stem.with_suffix(".test.json").read_text())
        references = (Path(item["reference"])).read_text().splitlines()
        assert result["pair"] == item["pair"] and result["method"] == "baseline" and result["split"] == "test"
        assert result["n_sentences"] == len(references)
        assert len(stem.with_suffix(".test.hyp").read_text().splitlines()) == len(references)
        assert len(stem.with_suffix(".test.spm_ref").read_text().splitlines()) == len(references)
        for key in ("bleu", "chrf", "chrfpp", "spm_ref_bleu", "spm_ref_chrf", "spm_ref_chrfpp"):
            assert 0 <= result[key] <= 100 and key in result["metrics"]
        assert "nw:2" in result["chrfpp_signature"] and "nw:0" in result["chrf_signature"]
