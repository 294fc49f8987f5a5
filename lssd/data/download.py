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
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path

from lssd.data.download_table import COLUMNS, Entry, read_table, resolve_url
from lssd.data.transfer import (
    MIN_RATE,
    PROGRESS_SECONDS,
    DownloadError,
    Progress,
    RateFloor,
    open_url,
    resumed_at,
    stream,
    write_error,
)
from lssd.io import atomic_path

__all__ = ["COLUMNS", "MIN_RATE", "DownloadError", "Entry", "RateFloor", "download", "read_table", "resolve_url"]

HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<!--")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def looks_like_html(head: bytes) -> bool:
    return head.lstrip().lower().startswith(HTML_STARTS)


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


def fetch_once(
    url: str, part: Path, entry: Entry, timeout: float, min_rate: float = MIN_RATE, log=None, every=PROGRESS_SECONDS
) -> dict:
    """One attempt: stream ``url`` into ``part`` (resuming after the bytes a cut attempt left there) and check
    it; returns the digests. Raises DownloadError."""
    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset >= entry.size:
        offset = 0  # nothing left to ask for: the part is all there and was refused, so start over
    response = open_url(url, timeout, offset)
    with response:
        start = resumed_at(response, offset)
        if offset and log:
            how = f"resuming at byte {start}" if start else "the server ignores the Range: from the start"
            print(f"  {how} (HTTP {response.status})", file=log, flush=True)
        declared = response.headers.get("Content-Length")
        if start and declared is not None and declared.isdigit():
            declared = str(start + int(declared))  # a 206's length is the rest's: compare whole files
        content_type = response.headers.get("Content-Type", "")
        check_announced(url, entry, declared, content_type)
        total = entry.size or (int(declared) if declared and declared.isdigit() else None)
        try:
            with open(part, "ab" if start else "wb") as handle:
                progress = Progress(log, total, start, every) if log else None
                received, head, digests = stream(
                    response, handle, url, entry.size, timeout, min_rate, start=start, progress=progress
                )
        except OSError as error:  # the reads' errors are DownloadErrors by now: this is the local disk
            raise write_error(url, part, error) from None
    check_body(url, entry, received, declared, content_type, head)
    for kind in ("sha256", "md5"):
        expected = getattr(entry, kind)
        if expected and digests[kind] != expected:
            # after a resume the mismatch may be the seam (the file changed on the server): once more, whole
            raise DownloadError(
                f"{url}: checksum mismatch: {kind} of the {received} bytes received is {digests[kind]}, "
                f"expected {expected} (downloads table, {entry.name})"
                + (f"; resumed at byte {start}" if start else ""),
                retry=bool(start),
                restart=bool(start),
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
    every: float = PROGRESS_SECONDS,
) -> dict:
    """Fetch ``entry`` to ``output`` (renamed into place only when verified); return its digests. A retried
    attempt continues where the cut one stopped; progress lines go to ``log`` every ``every`` seconds."""
    url = resolve_url(entry, mirror)
    output = Path(output)
    with atomic_path(output) as part:
        for attempt in range(1, retries + 2):
            print(f"downloading {url} (attempt {attempt})", file=log, flush=True)
            try:
                digests = fetch_once(url, part, entry, timeout, min_rate, log, every)
                break
            except DownloadError as error:
                if not error.retry or attempt > retries:
                    raise
                if error.restart:
                    part.unlink(missing_ok=True)
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
