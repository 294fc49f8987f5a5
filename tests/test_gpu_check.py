"""The GPU verification kit (docs/gpu.md): which wheels travel to the GPU machine (scripts/gpu_wheels.py), and the
rehearsal of scripts/gpu_check.sh on the CPU, so that the script and the GPU tests cannot rot between GPU runs."""

import importlib.metadata as metadata
import json
import os
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "scripts"))

import gpu_wheels  # noqa: E402


class FakeDistribution:
    def __init__(self, version, requires=()):
        self.version, self.requires = version, list(requires)


def finder(graph):
    def find(name):
        key = gpu_wheels.normalized(name)
        if key not in graph:
            raise metadata.PackageNotFoundError(name)
        return graph[key]

    return find


GRAPH = {
    "tool": FakeDistribution("1.0", ["Helper_Lib>=2", "extra-only; extra == 'docs'", "plugin[fast]"]),
    "helper-lib": FakeDistribution("2.5", ["base<3"]),
    "plugin": FakeDistribution("0.3", ["speedup; extra == 'fast'", "base"]),
    "speedup": FakeDistribution("4.0"),
    "base": FakeDistribution("3.1"),
    "torch": FakeDistribution("2.11.0"),
}


def test_the_closure_follows_requirements_and_asked_extras_only():
    needed = gpu_wheels.closure([Requirement("tool"), Requirement("torch>=2")], find=finder(GRAPH))
    assert sorted(needed) == ["base", "helper-lib", "plugin", "speedup", "tool", "torch"]  # not extra-only
    assert needed["base"][0] == "3.1"
    assert sorted(str(requirement) for requirement in needed["base"][1]) == ["base", "base<3"]


def test_what_travels_is_what_the_machine_lacks_never_its_torch():
    needed = gpu_wheels.closure([Requirement("tool"), Requirement("torch")], find=finder(GRAPH))
    assert gpu_wheels.to_carry(needed, present={"base", "plugin"}) == [
        "helper-lib==2.5",
        "speedup==4.0",
        "tool==1.0",
    ]


def test_a_requirement_not_installed_here_stops_the_download_naming_it():
    graph = {**GRAPH, "tool": FakeDistribution("1.0", ["missing-lib"])}
    needed = gpu_wheels.closure([Requirement("tool")], find=finder(graph))
    with pytest.raises(SystemExit, match="missing-lib is required but not installed here"):
        gpu_wheels.to_carry(needed, present=set())


def test_check_names_every_unmet_requirement_and_who_asked():
    needed = gpu_wheels.closure([Requirement("tool"), Requirement("absent>=1")], find=finder(GRAPH))
    assert gpu_wheels.unmet(needed) == ["absent: not installed (absent>=1)", "base 3.1 does not satisfy base<3"]


def test_the_machine_list_reads_names_and_carried_ones(tmp_path):
    listing = tmp_path / "packages.txt"
    listing.write_text("# the machine\nNumPy\npackaging carry  # capped below the machine's\n\ntyping_extensions\n")
    assert gpu_wheels.machine_packages(listing) == {"numpy", "typing-extensions"}
    listing.write_text("numpy 2.5\n")
    with pytest.raises(SystemExit, match="cannot read the line 'numpy 2.5'"):
        gpu_wheels.machine_packages(listing)


def test_the_project_needs_no_wheel_that_this_environment_lacks():
    """What the download would fetch for the GPU machine, from this environment: fairseq, snakemake and the pinned
    sentencepiece (the machine has another release, whose trainer segments differently) travel, the machine's own
    torch and numpy never do."""
    pins = gpu_wheels.to_carry(gpu_wheels.closure(gpu_wheels.project_requirements()), gpu_wheels.machine_packages())
    names = {pin.split("==")[0] for pin in pins}
    assert {"fairseq-fixed", "snakemake", "django", "polib", "jsonschema", "sentencepiece"} <= names
    assert not names & {"torch", "numpy", "pandas", "sacrebleu"}


STEPS = ["setup", "gpu_tests", "benchmark_data", "overhead_demo", "ted_data", "overhead_ted"]


@pytest.mark.slow
def test_the_rehearsal_of_the_gpu_check_runs_every_step_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    # one thread per process: the suite runs one pytest worker per core beside this
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=str(tmp_path), OMP_NUM_THREADS="1")
    env.pop("LSSD_GPU_REHEARSAL", None)
    completed = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_check.sh"), str(out), "--rehearse"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    summary = (out / "summary.txt").read_text()
    assert completed.returncode == 0, summary + "".join(path.read_text()[-3000:] for path in out.glob("*.log"))
    assert [line.split()[0] for line in summary.splitlines()[:-1]] == STEPS
    assert all("rc=0" in line for line in summary.splitlines()[:-1])
    assert summary.splitlines()[-1] == "gpu_check: every step passed"
    # the device tool brings back at most 8 files
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["summary.txt", "setup.log", "gpu_tests.log"]
        + [f"overhead_{size}.{kind}" for size in ("demo", "ted") for kind in ("log", "json")]
    )
    setup = (out / "setup.log").read_text()
    assert "CUDA available: False" in setup and "0 unmet requirements" in setup
    tests = (out / "gpu_tests.log").read_text()
    assert " passed" in tests and "skipped" not in tests and "failed" not in tests
    for size, processes in (("demo", 2), ("ted", 1)):  # (three each on the GPU)
        saved = json.loads((out / f"overhead_{size}.json").read_text())
        assert saved["options"]["size"] == size and saved["options"]["processes"] == processes
        assert saved["results"]["baseline"]["update_s"] and saved["results"]["lssd_whole"]["update_s"]
        assert "lssd/baseline per-update time ratio:" in (out / f"overhead_{size}.log").read_text()
    # the TED-size model on the synthetic data-bin with TED's vocabularies, not on the demo's
    ted = json.loads((out / "overhead_ted.json").read_text())
    assert ted["options"]["data_bin"].endswith("/ted/bin")
    assert "building the synthetic data-bin" in (out / "overhead_ted.log").read_text()
    assert not list(tmp_path.glob("lssd-gpu-check.*"))  # its work folder is removed
