"""Verified downloads, driven by one checked-in table (``config/downloads.tsv``).

The table has one row per file: ``name`` (the file name under ``results/downloads/``, and under a mirror),
``url``, ``bytes`` (expected size, or empty), ``sha256`` and/or ``md5`` (expected digests, or both empty for a
file no one has published a checksum of), ``provenance`` and ``license``.

A download

* goes to ``<output>.part`` and is renamed onto the output only after its size and checksums match, so an
  interrupted, truncated or wrong download never leaves a file that a later rule would accept;
* fails with a message naming the URL and what was wrong: an HTTP error (404, …), an HTML page answered with
  HTTP 200 (what a dead link or a login wall looks like: the phontron TED URL does this), a body shorter than
  its ``Content-Length`` or the expected size, a checksum mismatch;
* is retried (with a growing pause) on the failures a second attempt can cure: connection errors, HTTP 5xx and
  cut-short bodies. A 4xx, an HTML page or a checksum mismatch of a complete body are final.

``downloads.mirror`` (a URL prefix) replaces every URL's location by ``<mirror>/<name>``: for a local copy, a
cluster proxy, or the offline tests (a server on 127.0.0.1).

Usage::

    python -m lssd.data.download --table config/downloads.tsv --name ted_talks.tar.gz \
        --output results/downloads/ted_talks.tar.gz [--mirror URL] [--retries 3]
    python -m lssd.data.download --entry '<table row as JSON>' --output ...     (the ``download`` rule)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
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


def fetch_once(url: str, part: Path, entry: Entry, timeout: float) -> dict:
    """One attempt: stream ``url`` into ``part`` and check it; returns the digests. Raises DownloadError."""
    request = urllib.request.Request(url, headers={"User-Agent": "lssd-pipeline"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}", retry=error.code >= 500) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: could not connect ({reason})", retry=True) from None
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    received = 0
    head = b""
    with response, open(part, "wb") as handle:
        declared = response.headers.get("Content-Length")
        content_type = response.headers.get("Content-Type", "")
        try:
            while chunk := response.read(CHUNK):
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                handle.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                received += len(chunk)
        except (OSError, ValueError) as error:  # http.client.IncompleteRead is a ValueError... of sorts
            raise DownloadError(
                f"{url}: the transfer broke off after {received} bytes ({type(error).__name__}: {error})", retry=True
            ) from None
    if declared is not None and declared.isdigit() and received < int(declared):
        raise DownloadError(
            f"{url}: truncated body: received {received} of {declared} bytes (Content-Length)", retry=True
        )
    expects_html = entry.name.endswith((".html", ".htm"))
    if not expects_html and ("text/html" in content_type.lower() or looks_like_html(head)):
        raise DownloadError(
            f"{url}: the server answered an HTML page ({received} bytes, Content-Type '{content_type}') instead "
            f"of {entry.name}: the link is dead or behind a login. Set downloads.mirror to a mirror that has it."
        )
    if entry.size is not None and received != entry.size:
        raise DownloadError(
            f"{url}: received {received} bytes, expected {entry.size} (downloads table, {entry.name})",
            retry=received < entry.size,
        )
    digests = {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}
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
) -> dict:
    """Fetch ``entry`` to ``output`` (renamed into place only when verified); return its digests."""
    url = resolve_url(entry, mirror)
    output = Path(output)
    with atomic_path(output) as part:
        for attempt in range(1, retries + 2):
            print(f"downloading {url} (attempt {attempt})", file=log, flush=True)
            try:
                digests = fetch_once(url, part, entry, timeout)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download one file of the downloads table and verify it")
    parser.add_argument("--table", type=Path, help="the downloads table (with --name)")
    parser.add_argument("--name", help="the file's name in the table")
    parser.add_argument("--entry", help="the table row as JSON, instead of --table/--name")
    parser.add_argument("--output", required=True, type=Path)
    # the transport settings also come from the environment: the download rule passes them that way so that a
    # changed mirror or retry count does not make Snakemake download verified files again
    env = os.environ.get
    parser.add_argument("--mirror", default=env("LSSD_DOWNLOAD_MIRROR", ""), help="URL prefix replacing the URLs")
    parser.add_argument("--retries", type=int, default=int(env("LSSD_DOWNLOAD_RETRIES", "3")))
    parser.add_argument(
        "--timeout", type=float, default=float(env("LSSD_DOWNLOAD_TIMEOUT", "60")), help="seconds without data"
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
    try:
        download(entry, args.output, args.mirror or None, args.retries, args.timeout, args.pause)
    except DownloadError as error:
        print(f"error: download failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
