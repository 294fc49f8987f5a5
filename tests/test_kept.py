"""Published outputs survive a failed rerun (lssd/run/kept.py, workflow/rules/hooks.smk): the journal's logic on
plain files, then the hooks in the real Snakemake on a small workflow that includes the project's hooks.smk
(files, a directory output, a downstream job, a killed controller). The same hooks in the project's DAG: test_faults."""

import json
import os
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest

from lssd.run import kept
from tests.helpers import BIN, REPO, jobs_in


class FakeRecords:
    """Snakemake's records and incomplete marks as dicts."""

    def __init__(self):
        self.records, self.incomplete_keys = {}, set()

    def read(self, key):
        return self.records.get(key)

    def incomplete(self, keys):
        return self.incomplete_keys.intersection(keys)

    def write(self, key, record):
        if record is None:
            self.records.pop(key, None)
        else:
            self.records[key] = record
        self.incomplete_keys.discard(key)


def test_a_failed_job_gets_its_outputs_back_with_their_records(tmp_path):
    out, other = tmp_path / "a.txt", tmp_path / "d"
    out.write_text("old")
    other.mkdir()
    (other / "x").write_text("x")
    stat = out.stat()
    records = FakeRecords()
    records.records = {"a": {"params": ["old"]}, "d": {"params": ["d"]}}
    journal = tmp_path / "journal.json"
    assert kept.keep([("job a", [(str(out), "a")]), ("job d", [(str(other), "d")])], records, journal) == 2
    out.unlink()  # what Snakemake does before the job
    (tmp_path / "d").rename(tmp_path / "gone")
    records.records["a"] = {"params": ["new"]}  # what Snakemake records for a failed job
    records.incomplete_keys.add("a")
    restored = kept.settle(records, journal)
    assert sorted(restored) == sorted([str(out), str(other)])
    assert out.read_text() == "old" and out.stat().st_ino == stat.st_ino and out.stat().st_mtime == stat.st_mtime
    assert (other / "x").read_text() == "x"
    assert records.records["a"] == {"params": ["old"]} and not records.incomplete_keys
    assert not journal.exists() and not list(tmp_path.glob(".kept.*"))


def test_a_finished_job_keeps_its_new_outputs_and_no_copies_are_left(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    records, journal = FakeRecords(), tmp_path / "journal.json"
    kept.keep([("job a", [(str(out), "a"), (str(tmp_path / "new.txt"), "new")])], records, journal)
    assert kept.kept_path(out).read_text() == "old"
    out.unlink()
    out.write_text("new")
    assert kept.settle(records, journal) == []
    assert out.read_text() == "new" and not kept.kept_path(out).exists() and not journal.exists()


def test_the_outputs_of_a_job_come_back_together(tmp_path):
    """A job killed while publishing (one output new, one gone) gets its whole old set: never a mix of two runs."""
    first, second = tmp_path / "best.pt", tmp_path / "history.json"
    first.write_text("old best")
    second.write_text("old history")
    records, journal = FakeRecords(), tmp_path / "journal.json"
    kept.keep([("train", [(str(first), "best"), (str(second), "history")])], records, journal)
    first.unlink()
    second.unlink()
    first.write_text("new best")
    kept.settle(records, journal)
    assert first.read_text() == "old best" and second.read_text() == "old history"


def test_the_parts_a_killed_job_left_are_not_kept(tmp_path):
    """Outputs Snakemake marks incomplete were never published: kept and put back, they would pass as complete."""
    part = tmp_path / "a.txt"
    part.write_text("half")
    records, journal = FakeRecords(), tmp_path / "journal.json"
    records.incomplete_keys.add("a")
    assert kept.keep([("job a", [(str(part), "a")])], records, journal) == 0
    assert not kept.kept_path(part).exists() and not journal.exists()


def test_nothing_to_keep_writes_no_journal(tmp_path):
    journal = tmp_path / "journal.json"
    assert kept.keep([("job", [(str(tmp_path / "missing"), "m")])], FakeRecords(), journal) == 0
    assert not journal.exists()


def test_an_unreadable_journal_names_itself_and_the_kept_copies(tmp_path):
    journal = tmp_path / "journal.json"
    journal.write_text('{"version": 1, "jobs": [')
    with pytest.raises(RuntimeError, match=r"journal\.json: unreadable.*\.kept\.<name>"):
        kept.settle(FakeRecords(), journal)


def test_links_are_copies_where_links_are_refused(tmp_path, monkeypatch):
    source = tmp_path / "d"
    source.mkdir()
    (source / "f").write_text("content")

    def refuse(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    kept.link_tree(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "f").read_text() == "content"
    assert (tmp_path / "copy" / "f").stat().st_ino != (source / "f").stat().st_ino


def test_outputs_that_cannot_be_kept_stop_the_run_before_any_job(monkeypatch):
    from snakemake.exceptions import WorkflowError

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kept, "jobs_to_run", lambda workflow: [])
    monkeypatch.setattr(kept, "keep", full_disk)
    with pytest.raises(WorkflowError, match=r"could not keep .*No space left on device.*no job was started"):
        kept.on_start(SimpleNamespace(persistence=None))


# --- the hooks in the real Snakemake ---

WORKFLOW = """
include: "{kept_smk}"

rule all:
    input: "out/a.txt", "out/b", "out/c.txt"

# a job fails where fail-<rule> exists (after writing part of its output), and sleeps where sleep-<rule> does
rule a:
    output: "out/a.txt"
    params: value=config.get("a_value", 1)
    shell:
        "echo partial > {{output}}; if [ -e sleep-a ]; then sleep 120; fi; test ! -e fail-a; "
        "echo {{params.value}} > {{output}}"

rule b:
    output: directory("out/b")
    params: value=config.get("b_value", 1)
    shell: "mkdir -p {{output}}; echo {{params.value}} > {{output}}/one; test ! -e fail-b; echo two > {{output}}/two"

rule c:
    input: "out/a.txt"
    output: "out/c.txt"
    shell: "cp {{input}} {{output}}"
"""


def command(*args):
    return [str(BIN / "snakemake"), "-s", "Snakefile", "--cores", "1", *args]


def run(workdir, *args):
    return subprocess.run(command(*args), cwd=workdir, capture_output=True, text=True, timeout=300)


def text_of(path):
    """The file's text, or None between Snakemake deleting it and the job writing it."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def start_rerun_of_a(workdir):
    """Snakemake in the background, in a process group of its own, rerunning job ``a`` for a_value=2; returned once
    the job runs (its old output deleted, its partial one written). SIGINT is set back to its default: a terminal's
    Ctrl-C reaches the whole group, and it may be ignored where this test was started."""
    (workdir / "sleep-a").touch()
    with open(workdir / "snakemake.out", "w") as log:
        process = subprocess.Popen(
            command("--config", "a_value=2"),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.time() + 120
    while not ((workdir / kept.JOURNAL).exists() and text_of(workdir / "out/a.txt") == "partial\n"):
        assert process.poll() is None and time.time() < deadline, (workdir / "snakemake.out").read_text()
        time.sleep(0.05)
    return process


def state(workdir):
    """Every file under out/ with its content, inode and time stamp."""
    return {
        str(path.relative_to(workdir)): (path.read_text(), path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted((workdir / "out").rglob("*"))
        if path.is_file()
    }


def planned(workdir, *config):
    result = run(workdir, "-n", "--config", *config)
    assert result.returncode == 0, result.stderr[-3000:]
    return sorted(job.rule for job in jobs_in(result.stdout + result.stderr) if job.rule != "all")


@pytest.fixture
def workflow_dir(tmp_path):
    (tmp_path / "Snakefile").write_text(WORKFLOW.format(kept_smk=REPO / "workflow/rules/hooks.smk"))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out/a.txt").read_text() == "1\n"
    return tmp_path


def leftovers(workdir):
    return [str(path) for path in workdir.rglob(".kept.*")] + [str(p) for p in workdir.glob(".snakemake/lssd-*")]


def test_a_failed_rerun_leaves_the_published_outputs_as_they_were_and_planned_again(workflow_dir):
    before = state(workflow_dir)
    (workflow_dir / "fail-a").touch()
    (workflow_dir / "fail-b").touch()
    result = run(workflow_dir, "--keep-going", "--config", "a_value=2", "b_value=2")
    assert result.returncode != 0
    assert "previous outputs are back" in result.stderr
    assert state(workflow_dir) == before
    assert leftovers(workflow_dir) == []
    # the old records came back with the files: the new setting still needs its jobs, the old one does not
    assert planned(workflow_dir, "a_value=2", "b_value=2") == ["a", "b", "c"]
    assert planned(workflow_dir, "a_value=1", "b_value=1") == []
    for name in ("fail-a", "fail-b"):
        (workflow_dir / name).unlink()
    assert run(workflow_dir, "--config", "a_value=2", "b_value=2").returncode == 0
    assert (workflow_dir / "out/c.txt").read_text() == "2\n" and (workflow_dir / "out/b/one").read_text() == "2\n"
    assert leftovers(workflow_dir) == []


def test_the_jobs_that_succeed_publish_while_a_failed_one_keeps_its_old_outputs(workflow_dir):
    before = state(workflow_dir)
    (workflow_dir / "fail-b").touch()
    result = run(workflow_dir, "--keep-going", "--config", "a_value=2", "b_value=2")
    assert result.returncode != 0
    after = state(workflow_dir)
    assert after["out/a.txt"][0] == "2\n" and after["out/c.txt"][0] == "2\n"
    assert {k: v for k, v in after.items() if k.startswith("out/b/")} == {
        k: v for k, v in before.items() if k.startswith("out/b/")
    }
    assert planned(workflow_dir, "a_value=2", "b_value=2") == ["b"]


def test_outputs_deleted_under_a_killed_snakemake_come_back_at_the_next_run(workflow_dir):
    before = state(workflow_dir)
    process = start_rerun_of_a(workflow_dir)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # the journal lists the rerun job and the one after it, by name (Snakemake's own order of them varies)
    journal = json.loads((workflow_dir / kept.JOURNAL).read_text())
    assert [entry["job"] for entry in journal["jobs"]] == ["a", "c"]
    (workflow_dir / "sleep-a").unlink()
    (workflow_dir / "fail-a").touch()
    assert run(workflow_dir, "--unlock").returncode == 0
    result = run(workflow_dir, "--rerun-incomplete", "--config", "a_value=2")
    assert result.returncode != 0 and "previous outputs are back" in result.stderr
    assert state(workflow_dir) == before and leftovers(workflow_dir) == []
    assert planned(workflow_dir, "a_value=2") == ["a", "c"]


def test_a_rerun_stopped_with_ctrl_c_gets_its_outputs_back_when_snakemake_ends(workflow_dir):
    before = state(workflow_dir)
    process = start_rerun_of_a(workflow_dir)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) != 0
    assert "previous outputs are back" in (workflow_dir / "snakemake.out").read_text()
    assert state(workflow_dir) == before and leftovers(workflow_dir) == []
    assert planned(workflow_dir, "a_value=2") == ["a", "c"]
