"""What a data job asks a cluster for: measured cost × margin, following the size of the job's input."""

import pytest

from lssd.data import resources
from lssd.data.resources import COSTS, MEMORY_MARGIN, MIN_MEM_MB, MIN_MINUTES, TIME_MARGIN, job_resources


def test_a_request_is_the_fit_times_the_margin_for_the_input_size():
    cost = COSTS["prepare_wmt"]
    size = 40 * 10**9
    asked = job_resources("prepare_wmt", size)
    mem = (cost.mem_mb + cost.mem_mb_per_gb * 40) * MEMORY_MARGIN
    minutes = (cost.minutes + cost.minutes_per_gb * 40) * TIME_MARGIN
    assert asked["mem_mb"] == max(MIN_MEM_MB, -(-mem // 1))
    assert asked["runtime"] == max(MIN_MINUTES, -(-minutes // 1))


def test_a_larger_dataset_asks_for_more_and_a_tiny_one_for_the_minimum():
    small, large = job_resources("spm_train", 10**6), job_resources("spm_train", 2 * 10**9)
    assert small == {"mem_mb": MIN_MEM_MB, "runtime": MIN_MINUTES}
    assert large["mem_mb"] > small["mem_mb"] and large["runtime"] > small["runtime"]
    # a stage whose memory does not follow its input (streamed) asks for its fixed part
    assert job_resources("spm_encode", 10**6)["mem_mb"] == job_resources("spm_encode", 10**10)["mem_mb"]


def test_each_retry_asks_for_half_as_much_again():
    first, second, third = (job_resources("spm_train", 20 * 10**9, attempt) for attempt in (1, 2, 3))
    assert second["mem_mb"] == pytest.approx(first["mem_mb"] * 1.5, abs=1)
    assert third["runtime"] == pytest.approx(first["runtime"] * 2.0, abs=1)


def test_input_bytes_counts_files_below_directories_and_names_a_missing_input(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a.txt").write_bytes(b"x" * 100)
    (tmp_path / "data" / "manifest.json").write_bytes(b"y" * 20)
    (tmp_path / "archive.tgz").write_bytes(b"z" * 7)
    assert resources.input_bytes([tmp_path / "data", tmp_path / "archive.tgz"]) == 127
    missing = str(tmp_path / "not-yet")
    with pytest.raises(FileNotFoundError) as error:
        resources.input_bytes([missing])
    # Snakemake shows <TBD> (and asks again later) only for an error naming one of the job's inputs as given
    assert error.value.filename == missing


def test_a_sentencepiece_model_is_sized_by_what_it_samples(tmp_path):
    files = []
    for name in ("a.en", "b.en"):
        path = tmp_path / name
        path.write_text("word word word\n" * 500)
        files.append(path)
    whole = sum(path.stat().st_size for path in files)
    assert resources.spm_training_bytes(files, 0) == whole
    assert resources.spm_training_bytes(files, 5000) == whole
    assert resources.spm_training_bytes(files, 250) == whole // 4
