"""The software a run trains with (lssd/run/software.py): recorded at its start, named in every attempt's log, and
a resume with other software said (run_args.json as lssd.run.identity writes it)."""

import json
import platform

import torch

from lssd.io import write_json
from lssd.run import software

STARTED = {"python": "3.11.7", "torch": "2.11.0+cu130", "fairseq-fixed": "0.12.3.1", "numpy": "2.4.6", "lssd": "0.1.0"}


def test_the_installed_software_is_read_from_the_packages():
    versions = software.installed()
    assert list(versions) == ["python", *software.PACKAGES]
    assert versions["python"] == platform.python_version() and versions["torch"] == torch.__version__
    assert versions["lssd"] is not None and versions["fairseq-fixed"] is not None


def test_a_new_run_records_its_software_and_a_resume_with_the_same_says_nothing_more(tmp_path):
    write_json(tmp_path / "run_args.json", {"format": 3, "args": ["--lr", "0.002"]})
    said = []
    software.note_software(tmp_path, said.append, now=STARTED)
    record = json.loads((tmp_path / "run_args.json").read_text())
    assert record == {"format": 3, "args": ["--lr", "0.002"], "software": STARTED}
    software.note_software(tmp_path, said.append, now=STARTED)
    line = "software: python 3.11.7, torch 2.11.0+cu130, fairseq-fixed 0.12.3.1, numpy 2.4.6, lssd 0.1.0"
    assert said == [line, line]


def test_a_resume_with_other_software_says_what_changed_and_keeps_the_first_record(tmp_path):
    write_json(tmp_path / "run_args.json", {"format": 3, "software": STARTED})
    now = {**STARTED, "torch": "2.12.0+cu128", "numpy": None}
    said = []
    software.note_software(tmp_path, said.append, now=now)
    assert said[1] == (
        "warning: this run started with other software (torch 2.11.0+cu130 → 2.12.0+cu128, numpy 2.4.6 → (none)): "
        f"its epochs from here on are trained by other code than its first ones (what it started with: "
        f"{tmp_path / 'run_args.json'})"
    )
    assert json.loads((tmp_path / "run_args.json").read_text())["software"] == STARTED
