"""Verified downloads, driven by one checked-in table (``config/downloads.tsv``).

The table has one row per file: ``name`` (the file name under ``results/downloads/``, and under a mirror),
``url``, ``bytes`` (expected size, or empty), ``sha256`` and/or ``md5`` (expected digests, or both empty for a
file no one has published a checksum of), ``provenance`` and ``license``.

A download

* goes to ``<output>.part`` and is renamed onto the output only after its size and checksums match, so an
  interrupted, truncated or wrong download never leaves a file that a later rule would accept;
* fails with a message naming the URL and what was wrong: an HTTP error (404, …), an HTML page answered with
  HTTP 200 (what a dead link or a login wall looks like: the phontron TED URL does this), a body shorter than
  its ``Content-Length`` or the expected size, a body longer than the expected size (reading stops one byte past
  it, so an endless body cannot fill the disk), a stalled transfer, a checksum mismatch, a full disk;
* is retried (with a growing pause) on the failures a second attempt can cure: connection errors, HTTP 5xx,
  cut-short bodies and stalls. A 4xx, an HTML page, a body too long, a checksum mismatch of a complete body and a
  failed write of the ``.part`` file (a full disk) are final.

A stall is a transfer whose last ``timeout`` seconds brought less than ``min_rate`` bytes per second (curl's
``--speed-limit``/``--speed-time``): a per-read timeout alone lets a server trickling a byte every few seconds
hold the job for ever. A rate floor, unlike a limit on the total time, does not depend on the file's size or the
link's speed, so a slow but steady transfer of a multi-GB corpus runs to its end. From the command line the
process also ends when its parent dies (a killed Snakemake), removing its ``.part`` file.

``downloads.mirror`` (a URL prefix) replaces every URL's location by ``<mirror>/<name>``: for a local copy, a
cluster proxy, or the offline tests (a server on 127.0.0.1).

Usage::

    python -m lssd.data.download --table config/downloads.tsv --name ted_talks.tar.gz \
        --output results/downloads/ted_talks.tar.gz [--mirror URL] [--retries 3] [--timeout 60] [--min-rate 1024]
    python -m lssd.data.download --entry '<table row as JSON>' --output ...     (the ``download`` rule)
"""

from __future__ import annotations

import argparse
import collections
import csv
import ctypes
import errno
import hashlib
import http.client
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lssd.io import atomic_path

COLUMNS = ("name", "url", "bytes", "sha256", "md5", "provenance", "license")
CHUNK = 1 << 20
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<!--")
MIN_RATE = 1024.0  # bytes/s over the timeout window: a stall, far below any real link (1 MB/s is 1000 times more)
NETWORK_ERRORS = (OSError, ValueError, http.client.HTTPException)  # IncompleteRead is an HTTPException
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class DownloadError(RuntimeError):
    """A download that failed; the message names the URL and the reason."""

    def __init__(self, message: str, retry: bool = False):
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    size: int | None
    sha256: str
    md5: str
    provenance: str = ""
    license: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.md5)


def read_table(path: str | Path) -> dict[str, Entry]:
    """Read the downloads table; a malformed row is an error naming the file and line."""
    path = Path(path)
    entries: dict[str, Entry] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip() and line[0] != "#"]
    if not lines:
        raise ValueError(f"{path}: the downloads table is empty")
    header = next(csv.reader([lines[0][1]], delimiter="\t"))
    if tuple(header) != COLUMNS:
        raise ValueError(f"{path}, line {lines[0][0]}: header must be {' '.join(COLUMNS)} (tab-separated)")
    for number, line in lines[1:]:
        fields = next(csv.reader([line.rstrip("\r\n")], delimiter="\t"))
        where = f"{path}, line {number}"
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{where}: {len(fields)} tab-separated fields, expected {len(COLUMNS)}")
        row = dict(zip(COLUMNS, fields, strict=True))
        name = row["name"]
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{where}: name '{name}' must be a plain file name")
        if name in entries:
            raise ValueError(f"{where}: duplicate name '{name}'")
        if not row["url"].startswith(("http://", "https://")):
            raise ValueError(f"{where}: url '{row['url']}' is not an http(s) URL")
        for key, length in (("sha256", 64), ("md5", 32)):
            value = row[key]
            if value and (len(value) != length or any(c not in "0123456789abcdef" for c in value)):
                raise ValueError(f"{where}: {key} '{value}' is not {length} lowercase hex digits")
        if row["bytes"] and not row["bytes"].isdigit():
            raise ValueError(f"{where}: bytes '{row['bytes']}' is not a whole number")
        entries[name] = Entry(
            name=name,
            url=row["url"],
            size=int(row["bytes"]) if row["bytes"] else None,
            sha256=row["sha256"],
            md5=row["md5"],
            provenance=row["provenance"],
            license=row["license"],
        )
    return entries


def resolve_url(entry: Entry, mirror: str | None) -> str:
    """The URL to fetch: the table's, or ``<mirror>/<name>`` when a mirror is configured."""
    if not mirror:
        return entry.url
    return mirror.rstrip("/") + "/" + entry.name


def looks_like_html(head: bytes) -> bool:
    return head.lstrip().lower().startswith(HTML_STARTS)


class RateFloor:
    """Tells a stalled transfer: one whose last ``window`` seconds brought fewer than ``min_rate`` bytes a second."""

    def __init__(self, window: float, min_rate: float, clock=time.monotonic):
        self.window, self.min_rate, self.clock = window, min_rate, clock
        self.samples = collections.deque([(clock(), 0)])  # (time, bytes received by then)

    def stalled(self, received: int) -> str:
        """Record that ``received`` bytes have arrived; a description of the stall, or "" while the rate is fine."""
        now = self.clock()
        if now - self.samples[-1][0] >= self.window / 32:  # a few dozen samples a window, however fast the reads
            self.samples.append((now, received))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()  # keep the newest sample at least a window old: the window's start
        start, base = self.samples[0]
        elapsed, recent = now - start, received - base
        if self.min_rate <= 0 or elapsed < self.window or recent >= self.min_rate * elapsed:
            return ""
        return (
            f"{recent} bytes in the last {elapsed:.0f} s ({recent / elapsed:.1f} bytes/s, below the floor of "
            f"{self.min_rate:g} bytes/s)"
        )


def open_url(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "lssd-pipeline"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}", retry=error.code >= 500) from None
    except (urllib.error.URLError, *NETWORK_ERRORS) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: could not connect ({reason})", retry=True) from None


def write_error(url: str, part: Path, error: OSError) -> DownloadError:
    """A failed write of the ``.part`` file: final, since another attempt would fail the same way."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        problem = "the disk is full" if error.errno == errno.ENOSPC else "the disk quota is used up"
        return DownloadError(f"{url}: cannot write {part}: {problem} ({error.strerror}); free space there and rerun")
    return DownloadError(f"{url}: cannot write {part} ({error.strerror or error})")


def read_chunk(response, url: str, want: int, received: int) -> bytes:
    try:
        # read1: what has arrived, at most one socket read; read() would wait for a whole chunk, so that a
        # trickling server would never give the stall check a chance to run
        return response.read1(want)
    except NETWORK_ERRORS as error:
        raise DownloadError(
            f"{url}: the transfer broke off after {received} bytes ({type(error).__name__}: {error})", retry=True
        ) from None


def stream(response, handle, url: str, entry: Entry, timeout: float, min_rate: float) -> tuple[int, bytes, dict]:
    """Copy the body into ``handle``; returns (bytes received, the first 512 bytes, the digests)."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    limit = None if entry.size is None else entry.size + 1  # one byte past the expected size: the body is too long
    floor = RateFloor(timeout, min_rate)
    received, head = 0, b""
    while limit is None or received < limit:
        chunk = read_chunk(response, url, CHUNK if limit is None else min(CHUNK, limit - received), received)
        if not chunk:
            break
        head += chunk[: max(0, 512 - len(head))]
        handle.write(chunk)
        sha256.update(chunk)
        md5.update(chunk)
        received += len(chunk)
        if stall := floor.stalled(received):
            raise DownloadError(f"{url}: the transfer stalled after {received} bytes: {stall}", retry=True)
    return received, head, {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def html_error(url: str, entry: Entry, received: int, content_type: str, head: bytes) -> DownloadError | None:
    if entry.name.endswith((".html", ".htm")) or not ("text/html" in content_type.lower() or looks_like_html(head)):
        return None
    return DownloadError(
        f"{url}: the server answered an HTML page ({received} bytes, Content-Type '{content_type}') instead "
        f"of {entry.name}: the link is dead or behind a login. Set downloads.mirror to a mirror that has it."
    )


def check_announced(url: str, entry: Entry, declared: str | None, content_type: str) -> None:
    """A ``Content-Length`` above the table's size: the wrong file, not worth reading (an HTML page is named
    after its first bytes are read)."""
    if entry.size is None or declared is None or not declared.isdigit() or int(declared) <= entry.size:
        return
    if "text/html" not in content_type.lower():
        raise DownloadError(
            f"{url}: the server announces {declared} bytes (Content-Length), the downloads table expects "
            f"{entry.size} for {entry.name}"
        )


def check_body(url: str, entry: Entry, received: int, declared: str | None, content_type: str, head: bytes) -> None:
    """The body's length and kind: cut short (worth another attempt), too long, an HTML page, the wrong size."""
    html = html_error(url, entry, received, content_type, head)
    if entry.size is not None and received > entry.size:  # a different file, or an endless body: final
        announced = f" (the server announced {declared}, Content-Length)" if declared else ""
        raise html or DownloadError(
            f"{url}: the body is longer than the {entry.size} bytes the downloads table expects for {entry.name}: "
            f"stopped reading after {received} bytes{announced}"
        )
    if declared is not None and declared.isdigit() and received < int(declared):
        raise DownloadError(
            f"{url}: truncated body: received {received} of {declared} bytes (Content-Length)", retry=True
        )
    if html:
        raise html
    if entry.size is not None and received != entry.size:
        raise DownloadError(
            f"{url}: received {received} bytes, expected {entry.size} (downloads table, {entry.name})", retry=True
        )


def fetch_once(url: str, part: Path, entry: Entry, timeout: float, min_rate: float = MIN_RATE) -> dict:
    """One attempt: stream ``url`` into ``part`` and check it; returns the digests. Raises DownloadError."""
    response = open_url(url, timeout)
    with response:
        declared = response.headers.get("Content-Length")
        content_type = response.headers.get("Content-Type", "")
        check_announced(url, entry, declared, content_type)
        try:
            with open(part, "wb") as handle:
                received, head, digests = stream(response, handle, url, entry, timeout, min_rate)
        except OSError as error:  # the reads' errors are DownloadErrors by now: this is the local disk
            raise write_error(url, part, error) from None
    check_body(url, entry, received, declared, content_type, head)
    for kind in ("sha256", "md5"):
        expected = getattr(entry, kind)
        if expected and digests[kind] != expected:
            raise DownloadError(
                f"{url}: checksum mismatch: {kind} of the {received} bytes received is {digests[kind]}, "
                f"expected {expected} (downloads table, {entry.name})"
            )
    return digests


def download(
    entry: Entry,
    output: str | Path,
    mirror: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    pause: float = 5.0,
    log=sys.stdout,
    min_rate: float = MIN_RATE,
) -> dict:
    """Fetch ``entry`` to ``output`` (renamed into place only when verified); return its digests."""
    url = resolve_url(entry, mirror)
    output = Path(output)
    with atomic_path(output) as part:
        for attempt in range(1, retries + 2):
            print(f"downloading {url} (attempt {attempt})", file=log, flush=True)
            try:
                digests = fetch_once(url, part, entry, timeout, min_rate)
                break
            except DownloadError as error:
                if not error.retry or attempt > retries:
                    raise
                print(f"  {error}; retrying in {pause * attempt:.0f} s", file=log, flush=True)
                time.sleep(pause * attempt)
    if not entry.pinned:
        print(
            f"WARNING: {entry.name} has no checksum in the downloads table; received sha256 {digests['sha256']}. "
            "Add it to the table to pin this file.",
            file=log,
            flush=True,
        )
    print(f"verified {output} ({output.stat().st_size} bytes, sha256 {digests['sha256']})", file=log, flush=True)
    return digests


def terminated(signum, frame):
    # an exception unwinds, so the .part file is removed (the default action would leave it)
    raise SystemExit(f"error: download stopped by {signal.Signals(signum).name} (its parent exited, or it was killed)")


def die_with_parent() -> None:
    """End this process when its parent dies: a killed Snakemake must not leave a download running for hours."""
    signal.signal(signal.SIGTERM, terminated)
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    # the kernel sends the signal when the parent exits, however it dies (SIGKILL included)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        raise SystemExit(f"error: the parent process (pid {parent}) has exited; not downloading")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download one file of the downloads table and verify it")
    parser.add_argument("--table", type=Path, help="the downloads table (with --name)")
    parser.add_argument("--name", help="the file's name in the table")
    parser.add_argument("--entry", help="the table row as JSON, instead of --table/--name")
    parser.add_argument("--output", required=True, type=Path)
    # the transport settings also come from the environment (LSSD_DOWNLOAD_*), for a download outside the workflow;
    # the download rule passes them as flags from the config's downloads section
    env = os.environ.get
    parser.add_argument("--mirror", default=env("LSSD_DOWNLOAD_MIRROR", ""), help="URL prefix replacing the URLs")
    parser.add_argument("--retries", type=int, default=int(env("LSSD_DOWNLOAD_RETRIES", "3")))
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(env("LSSD_DOWNLOAD_TIMEOUT", "60")),
        help="seconds without data; also the window of --min-rate",
    )
    parser.add_argument(
        "--min-rate",
        type=float,
        default=float(env("LSSD_DOWNLOAD_MIN_RATE", str(MIN_RATE))),
        help="bytes per second over the last --timeout seconds below which a transfer has stalled (0: no floor)",
    )
    parser.add_argument(
        "--pause", type=float, default=float(env("LSSD_DOWNLOAD_PAUSE", "5")), help="seconds before the first retry"
    )
    args = parser.parse_args(argv)
    if args.entry:
        entry = Entry(**json.loads(args.entry))
    elif args.table and args.name:
        entries = read_table(args.table)
        if args.name not in entries:
            print(f"error: {args.table} has no entry named '{args.name}'", file=sys.stderr)
            return 2
        entry = entries[args.name]
    else:
        parser.error("give --entry, or --table and --name")
    die_with_parent()
    try:
        download(
            entry, args.output, args.mirror or None, args.retries, args.timeout, args.pause, min_rate=args.min_rate
        )
    except DownloadError as error:
        print(f"error: download failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: download interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
