"""The downloader against a real HTTP server on 127.0.0.1: verified files, and clean failures."""

import contextlib
import dataclasses
import hashlib
import http.server
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lssd.data import download as dl
from lssd.data import transfer
from tests import mirror
from tests.helpers import REPO
from tests.mirror import serve, write_table

PAYLOAD = bytes(range(256)) * 400  # 100 KiB, not HTML


def entry(name="archive.tgz", data=PAYLOAD, **changes):
    fields = dict(
        name=name,
        url=f"https://example.invalid/{name}",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5="",
    )
    fields.update(changes)
    return dl.Entry(**fields)


@pytest.fixture
def served(tmp_path):
    source = tmp_path / "served"
    source.mkdir()
    (source / "archive.tgz").write_bytes(PAYLOAD)
    return source


def leftovers(directory):
    return sorted(path.name for path in directory.iterdir())


def test_download_from_the_mirror_is_verified_and_renamed_into_place(served, tmp_path):
    out = tmp_path / "downloads" / "archive.tgz"
    with serve(served) as (url, server):
        digests = dl.download(entry(), out, mirror=url, retries=0)
    assert out.read_bytes() == PAYLOAD
    assert digests["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert server.requests == ["archive.tgz"]  # the table's own URL (example.invalid) was never used
    assert leftovers(out.parent) == ["archive.tgz"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("html", "answered an HTML page"),
        ("404", "HTTP 404"),
        # the second attempt resumes at byte 51200 and is cut half way through the rest, too
        ("truncated", "truncated body: received 76800 of 102400 bytes"),
        ("corrupt", "checksum mismatch: sha256"),
    ],
)
def test_bad_server_fails_naming_the_url_and_leaves_nothing(served, tmp_path, fault, message):
    out = tmp_path / "downloads" / "archive.tgz"
    with serve(served, faults={"archive.tgz": fault}) as (url, server):
        with pytest.raises(dl.DownloadError) as error:
            dl.download(entry(), out, mirror=url, retries=1, pause=0)
    text = str(error.value)
    assert f"{url}/archive.tgz" in text and message in text
    assert not out.exists() and leftovers(out.parent) == []
    # a cut-short body is worth a second try; an HTML page, a 404 or a wrong checksum of a whole body are not
    assert len(server.requests) == (2 if fault == "truncated" else 1)


def test_a_transient_truncation_is_retried(served, tmp_path):
    out = tmp_path / "archive.tgz"
    with serve(served, faults={"archive.tgz": "truncated_once"}) as (url, server):
        dl.download(entry(), out, mirror=url, retries=2, pause=0)
    assert out.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_a_cut_transfer_resumes_where_it_stopped(served, tmp_path):
    """The retry asks for the rest (an HTTP Range) and appends it; the checksum covers the whole file."""
    out, log = tmp_path / "archive.tgz", io.StringIO()
    with serve(served, faults={"archive.tgz": "truncated_once"}) as (url, server):
        digests = dl.download(entry(), out, mirror=url, retries=2, pause=0, log=log)
    assert out.read_bytes() == PAYLOAD and digests["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert server.ranges == [None, len(PAYLOAD) // 2]
    assert "resuming at byte 51200 (HTTP 206)" in log.getvalue()


def test_a_server_that_ignores_the_range_sends_the_whole_file_again(served, tmp_path):
    out, log = tmp_path / "archive.tgz", io.StringIO()
    with serve(served, faults={"archive.tgz": ["truncated", "no_range"]}) as (url, server):
        dl.download(entry(), out, mirror=url, retries=2, pause=0, log=log)
    assert out.read_bytes() == PAYLOAD and server.ranges == [None, None]
    assert "the server ignores the Range: from the start (HTTP 200)" in log.getvalue()


def test_a_resumed_transfer_whose_checksum_fails_starts_over_once_from_the_first_byte(served, tmp_path):
    """The bytes kept from the cut attempt may not belong to what the server sends now: the whole file again."""
    out = tmp_path / "archive.tgz"
    with serve(served, faults={"archive.tgz": ["truncated", "corrupt", None]}) as (url, server):
        dl.download(entry(), out, mirror=url, retries=3, pause=0, log=io.StringIO())
    assert out.read_bytes() == PAYLOAD and server.ranges == [None, len(PAYLOAD) // 2, None]


def test_progress_lines_give_bytes_share_rate_and_eta(served, tmp_path):
    log = io.StringIO()
    with serve(served) as (url, _):
        dl.download(entry(), tmp_path / "archive.tgz", mirror=url, retries=0, log=log, every=0)
    lines = [line for line in log.getvalue().splitlines() if " of 102.4 kB (" in line]
    assert lines and lines[-1].startswith("  102.4 kB of 102.4 kB (100 %), ") and lines[-1].endswith("/s")
    progress = transfer.Progress(None, total=4_000_000_000, start=0, clock=lambda: 100.0)
    progress.began = 0.0  # 1 GB in 100 s: 10 MB/s, 300 s to go
    assert progress.line(1_000_000_000) == "  1.0 GB of 4.0 GB (25 %), 10.0 MB/s, ETA 5 min 00 s"


def test_wrong_size_in_the_table_is_an_error(served, tmp_path):
    with serve(served) as (url, server):
        with pytest.raises(
            dl.DownloadError, match="announces 102400 bytes .Content-Length., the downloads table expects 99"
        ):
            dl.download(entry(size=99), tmp_path / "archive.tgz", mirror=url, retries=2, pause=0)
        with pytest.raises(dl.DownloadError, match="received 102400 bytes, expected 102401"):
            dl.download(entry(size=len(PAYLOAD) + 1), tmp_path / "archive.tgz", mirror=url, retries=0)
    assert server.requests == ["archive.tgz"] * 2  # a file larger than the table says is not fetched again


def test_md5_is_checked_when_that_is_the_published_checksum(served, tmp_path):
    good = entry(sha256="", md5=hashlib.md5(PAYLOAD).hexdigest())
    bad = entry(sha256="", md5="0" * 32)
    with serve(served) as (url, _):
        dl.download(good, tmp_path / "good.tgz", mirror=url, retries=0)
        with pytest.raises(dl.DownloadError, match="md5 of the 102400 bytes received"):
            dl.download(bad, tmp_path / "bad.tgz", mirror=url, retries=0)
    assert (tmp_path / "good.tgz").exists() and not (tmp_path / "bad.tgz").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a.tgz\tftp://x/a.tgz\t\t\t\t\t", "is not an http(s) URL"),
        ("a.tgz\thttp://x/a.tgz\t12\tABC\t\t\t", "sha256 'ABC' is not 64 lowercase hex digits"),
        ("a.tgz\thttp://x/a.tgz\tbig\t\t\t\t", "bytes 'big' is not a whole number"),
        ("a.tgz\thttp://x/a.tgz", "2 tab-separated fields, expected 7"),
        ("../a.tgz\thttp://x/a.tgz\t\t\t\t\t", "must be a plain file name"),
    ],
)
def test_malformed_table_rows_name_the_file_and_line(tmp_path, row, message):
    table = tmp_path / "downloads.tsv"
    table.write_text("# comment\nname\turl\tbytes\tsha256\tmd5\tprovenance\tlicense\n" + row + "\n")
    with pytest.raises(ValueError) as error:
        dl.read_table(table)
    assert f"{table}, line 3" in str(error.value) and message in str(error.value)


def test_the_checked_in_table_matches_sacrebleus_test_set_metadata():
    """The dev/test archives' URLs and md5s are sacrebleu's (a second, independent record of them)."""
    from sacrebleu.dataset import DATASETS

    table = dl.read_table(REPO / "config" / "downloads.tsv")
    ted = table["ted_talks.tar.gz"]
    assert ted.size == 352_222_045
    assert ted.sha256 == "03457b9ebc6d60839f1a48c5a03c940266aff78b81fcda4c6d9e2a5a7fb670ae"
    names = {"wmt13": "wmt13-test.tgz", "wmt14": "wmt14-test-filtered.tgz", "wmt16": "wmt16-test.tgz"}
    names |= {"wmt16/dev": "wmt16-dev.tgz", "wmt17": "wmt17-test.tgz", "wmt17/dev": "wmt17-dev.tgz"}
    names |= {"wmt18": "wmt18-test.tgz", "wmt18/dev": "wmt18-dev.tgz"}
    for dataset, name in names.items():
        meta = DATASETS[dataset]
        assert (table[name].url, table[name].md5) == (meta.data[0], meta.md5[0]), dataset


def test_the_paper_configs_dev_and_test_members_are_the_ones_sacrebleu_reads():
    import yaml
    from sacrebleu.dataset import DATASETS

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    corpora = paper["datasets"]["wmt6"]["source"]["corpora"]
    by_archive = {"wmt13-test.tgz": "wmt13", "wmt14-test-filtered.tgz": "wmt14", "wmt16-test.tgz": "wmt16"}
    by_archive |= {"wmt16-dev.tgz": "wmt16/dev", "wmt17-test.tgz": "wmt17", "wmt17-dev.tgz": "wmt17/dev"}
    by_archive |= {"wmt18-test.tgz": "wmt18", "wmt18-dev.tgz": "wmt18/dev"}
    codes = {"fra": "fr", "deu": "de", "zho": "zh", "est": "et", "ron": "ro", "tur": "tr"}
    for lang, sets in corpora.items():
        for split in ("valid", "test"):
            entry_ = sets[split]
            files = DATASETS[by_archive[entry_["download"]]].langpairs[f"{codes[lang]}-en"]
            assert [f.split("/")[-1] for f in files] == [entry_["foreign"], entry_["english"]], (lang, split)


class Paced(http.server.BaseHTTPRequestHandler):
    """Sends ``server.body`` in pieces of ``server.piece`` bytes, ``server.pause`` seconds apart, for at most
    ``server.seconds`` seconds; ``server.endless`` repeats the body (up to 16 MiB: a client that does not stop would
    fill the disk); ``server.declare`` sends its Content-Length."""

    def do_GET(self):  # noqa: N802 - the http.server API
        server = self.server
        server.requests.append(self.path.lstrip("/"))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if server.declare:
            self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        start, sent = time.monotonic(), 0
        total = (16 << 20) if server.endless else len(server.body)
        while sent < total and time.monotonic() - start < server.seconds:
            offset = sent % len(server.body)
            try:
                self.wfile.write(server.body[offset : offset + server.piece])
                self.wfile.flush()
            except OSError:  # the client hung up
                return
            sent += min(server.piece, len(server.body) - offset)
            time.sleep(server.pause)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def paced(body=PAYLOAD, piece=1 << 16, pause=0.0, seconds=30.0, endless=False, declare=True):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Paced)
    server.body, server.piece, server.pause, server.seconds = body, piece, pause, seconds
    server.endless, server.declare, server.requests = endless, declare, []
    with mirror.running(server) as served:
        yield served


def test_an_endless_body_is_cut_one_byte_past_the_expected_size_and_not_retried(tmp_path):
    out = tmp_path / "downloads" / "archive.tgz"
    with paced(piece=1 << 16, seconds=20, endless=True, declare=False) as (url, server):
        with pytest.raises(dl.DownloadError) as error:
            dl.download(entry(), out, mirror=url, retries=2, pause=0)
    assert str(error.value) == (
        f"{url}/archive.tgz: the body is longer than the 102400 bytes the downloads table expects for archive.tgz: "
        "stopped reading after 102401 bytes"
    )
    assert server.requests == ["archive.tgz"] and leftovers(out.parent) == []


@contextlib.contextmanager
def full_disk(output):
    yield Path("/dev/full")  # every write fails with ENOSPC, as on a full disk


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_final_and_says_so(served, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "atomic_path", full_disk)
    with serve(served) as (url, server):
        with pytest.raises(dl.DownloadError) as error:
            dl.download(entry(), tmp_path / "archive.tgz", mirror=url, retries=2, pause=0)
    assert f"{url}/archive.tgz: cannot write /dev/full: the disk is full (No space left on device)" in str(error.value)
    assert server.requests == ["archive.tgz"]  # another attempt would fill the same disk


def test_a_trickling_server_is_a_stall_retried_and_then_an_error(tmp_path):
    out = tmp_path / "downloads" / "archive.tgz"
    start = time.monotonic()
    # a byte every 0.2 s: each read is well within the timeout, the rate far below the default floor
    with paced(piece=1, pause=0.2, seconds=8) as (url, server):
        with pytest.raises(
            dl.DownloadError, match="the transfer stalled after [0-9]+ bytes: [0-9]+ bytes in the last 1 s"
        ):
            dl.download(entry(), out, mirror=url, retries=1, timeout=1.0, pause=0)
    assert time.monotonic() - start < 6  # two attempts of about a second, not the server's 2 x 8 s
    assert server.requests == ["archive.tgz"] * 2 and leftovers(out.parent) == []


def test_a_slow_but_steady_server_is_no_stall(tmp_path):
    out = tmp_path / "archive.tgz"
    with paced(piece=2048, pause=0.06) as (url, _):  # about 33 KB/s for 3 s: two seconds under a 1 s window
        dl.download(entry(), out, mirror=url, retries=0, timeout=1.0)
    assert out.read_bytes() == PAYLOAD


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_default_floor_lets_a_slow_link_finish_and_stops_a_trickle():
    """The defaults (a 60 s window, 1 KiB/s): 1 MB/s for an hour, and 10 KB/s with a 45 s pause, run on; a byte
    every 3 s is a stall within the window (plus one read)."""
    for rate, pause_at in ((1_000_000, None), (10_000, 600)):
        clock = Clock()
        floor, received = dl.RateFloor(60, dl.MIN_RATE, clock), 0
        for second in range(3600):
            clock.now = second + 1.0
            received += 0 if pause_at is not None and pause_at <= second < pause_at + 45 else rate
            assert floor.stalled(received) == "", (rate, second)
    clock = Clock()
    floor, stall = dl.RateFloor(60, dl.MIN_RATE, clock), ""
    while not stall:
        clock.now += 3
        stall = floor.stalled(int(clock.now) // 3)
    assert clock.now == 60 and stall == "20 bytes in the last 60 s (0.3 bytes/s, below the floor of 1024 bytes/s)"


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, which may never reap it in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_download_process_ends_with_its_parent_shell(tmp_path):
    """A job's shell killed under a download (Snakemake killed) must not leave it trickling on for hours."""
    out = tmp_path / "downloads" / "archive.tgz"
    entry_json = json.dumps(dataclasses.asdict(entry()))
    with paced(piece=1, pause=0.2, seconds=60) as (url, server):
        command = [sys.executable, "-m", "lssd.data.download", "--entry", entry_json, "--output", str(out)]
        command += ["--mirror", url, "--retries", "0", "--timeout", "30"]  # a stall only after 30 s
        # "; echo": a list, so that bash stays the parent instead of exec-ing the download
        shell = subprocess.Popen(
            ["bash", "-c", f"{shlex.join(command)}; echo finished"], stderr=subprocess.PIPE, text=True
        )
        child = None
        try:
            assert wait_for(lambda: server.requests, 30), "the download never started"
            (child,) = children(shell.pid)
            shell.terminate()
            shell.wait(10)
            wait_for(lambda: not running(child), 5)
            assert not running(child), "the download outlived its parent by 5 s"
        finally:
            shell.kill()
            if child and running(child):
                os.kill(child, signal.SIGKILL)
    assert "error: download stopped by SIGTERM (its parent exited, or it was killed)" in shell.stderr.read()
    assert leftovers(out.parent) == []  # it ended cleanly: the .part file is gone


def session_processes(sid: int) -> list[int]:
    """The running processes of session ``sid`` (Snakemake, its job processes, the download)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_ends_snakemake_and_a_stalled_download_rule(tmp_path):
    """The download rule under Ctrl-C (SIGINT to the terminal's process group): before, its run block went on in
    a thread that nothing interrupts, and Snakemake waited for it."""
    import yaml

    from tests.helpers import snakemake_invocation

    served_dir = tmp_path / "served"
    served_dir.mkdir()
    (served_dir / "ted_talks.tar.gz").write_bytes(PAYLOAD)
    table = tmp_path / "downloads.tsv"
    write_table(served_dir, [served_dir / "ted_talks.tar.gz"], table)
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["run"]["datasets"] = ["ted8_related"]  # needs ted_talks.tar.gz only
    with paced(piece=1, pause=0.2, seconds=120) as (url, server):
        config["downloads"] = {"table": str(table), "mirror": url, "retries": 0, "timeout_seconds": 60}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        command, env = snakemake_invocation(
            "results/downloads/ted_talks.tar.gz", "--cores", "1", "--configfile", "config.yaml", cwd=tmp_path
        )
        # as from a terminal: SIGINT handled (a test runner started in the background may ignore it)
        restore = (
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", restore, *command], cwd=tmp_path, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert wait_for(lambda: server.requests, 120), "the download never started"
            os.killpg(process.pid, signal.SIGINT)
            ended = wait_for(lambda: process.poll() is not None and not session_processes(process.pid), 20)
            assert ended, f"20 s after Ctrl-C still running: pids {session_processes(process.pid)}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    downloads = tmp_path / "results" / "downloads"
    assert not downloads.exists() or leftovers(downloads) == []  # no file, no .part
    assert (
        "error: download interrupted (Ctrl-C)" in (tmp_path / "logs" / "downloads" / "ted_talks.tar.gz.log").read_text()
    )
