"""The downloads table (``config/downloads.tsv``): one row per file, read and checked line by line."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("name", "url", "bytes", "sha256", "md5", "provenance", "license")


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
