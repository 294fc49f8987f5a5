"""Offline stand-ins for the paper datasets' sources: archives in the real formats, built from the demo text, and a
local HTTP server on 127.0.0.1 that can also misbehave the ways real servers do."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path

from lssd.data.demo import catalog_pairs, django_root, find_catalogs
from lssd.data.parallel import stable_bucket

# the header of all_talks_*.tsv as the TED corpus has it (talk_name, then TED language codes)
TED_HEADER = (
    "talk_name en es pt-br fr ru he ar ko zh-cn it ja zh-tw nl ro tr de vi pl pt bg el fa sr hu hr uk cs id th sv "
    "sk sq lt da calv my sl mk fr-ca fi hy hi nb ka mn et ku gl mr zh ur eo ms az ta bn kk be eu bs"
).split()
TED_LOCALES = {"bs": "bs", "fr": "fr", "pt-br": "pt_BR", "pt": "pt"}


def django_translations(locale: str) -> dict[str, str]:
    """English → translation of one Django locale (the demo corpus's extraction)."""
    pairs, _ = catalog_pairs(find_catalogs(django_root(), locale))
    return {english: translation for translation, english in pairs}


def ted_archive(path: Path) -> dict:
    """``ted_talks.tar.gz`` with ``all_talks_{train,dev,test}.tsv`` in the real layout; returns what it holds.

    Every English string of the French catalog is one row; a column without a translation gets ``__NULL__``,
    every 7th Bosnian cell the spaced marker ``_ _ NULL _ _``, every 11th French cell is empty.
    """
    translations = {column: django_translations(locale) for column, locale in TED_LOCALES.items()}
    english = sorted(translations["fr"])
    expected: dict[str, dict[str, list[tuple[str, str]]]] = {"train": {}, "dev": {}, "test": {}}
    tables = {split: ["\t".join(TED_HEADER)] for split in expected}
    for number, sentence in enumerate(english):
        bucket = stable_bucket(sentence)
        split = "test" if bucket < 10 else "dev" if bucket < 20 else "train"
        cells = dict.fromkeys(TED_HEADER, "__NULL__")
        cells["talk_name"] = f"talk{number // 20}"
        cells["en"] = sentence
        for column in TED_LOCALES:
            cells[column] = translations[column].get(sentence, "__NULL__")
        if number % 7 == 0:
            cells["bs"] = "_ _ NULL _ _"
        if number % 11 == 0:
            cells["fr"] = ""
        for column in TED_LOCALES:
            if cells[column] not in ("__NULL__", "_ _ NULL _ _", ""):
                expected[split].setdefault(column, []).append((cells[column], sentence))
        tables[split].append("\t".join(cells[name].replace("\t", " ") for name in TED_HEADER))
    with tarfile.open(path, "w:gz") as archive:
        for split, lines in tables.items():
            add_bytes(archive, f"ted_talks/all_talks_{split}.tsv", ("\n".join(lines) + "\n").encode())
    return expected


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def sgm(lines: list[str], lang: str) -> bytes:
    body = [f'<srcset setid="newstest" srclang="any"><doc sysid="ref" docid="d1" genre="news" origlang="{lang}">']
    body += [f'<seg id="{index}">{line}</seg>' for index, line in enumerate(lines, start=1)]
    body += ["</doc>", "</srcset>"]
    return ("\n".join(body) + "\n").encode()


def wmt_archives(directory: Path) -> dict:
    """WMT-like releases of French and Turkish demo text: Moses-text training archives (a .tgz with a directory
    prefix, an OPUS-style .zip) and .sgm dev/test sets in a .tgz; returns the pairs each holds."""
    french = sorted(django_translations("fr").items())
    turkish = sorted(django_translations("tr").items())
    held = {
        "fra_train": [(fr, en) for en, fr in french[:-60]],
        "fra_valid": [(fr, en) for en, fr in french[-60:-30]],
        "fra_test": [(fr, en) for en, fr in french[-30:]],
        "tur_train": [(tr, en) for en, tr in turkish[:-40]],
        "tur_valid": [(tr, en) for en, tr in turkish[-40:-20]],
        "tur_test": [(tr, en) for en, tr in turkish[-20:]],
    }
    half = len(held["fra_train"]) // 2

    def text(pairs, side):
        return ("\n".join(pair[side] for pair in pairs) + "\n").encode()

    with tarfile.open(directory / "training-parallel-europarl-v7.tgz", "w:gz") as archive:
        add_bytes(archive, "training/europarl-v7.fr-en.fr", text(held["fra_train"][:half], 0))
        add_bytes(archive, "training/europarl-v7.fr-en.en", text(held["fra_train"][:half], 1))
    with tarfile.open(directory / "training-parallel-commoncrawl.tgz", "w:gz") as archive:
        add_bytes(archive, "commoncrawl.fr-en.fr", text(held["fra_train"][half:], 0))
        add_bytes(archive, "commoncrawl.fr-en.en", text(held["fra_train"][half:], 1))
    with zipfile.ZipFile(directory / "opus-setimes-v2-en-tr.txt.zip", "w") as archive:
        archive.writestr("SETIMES.en-tr.tr", text(held["tur_train"], 0))
        archive.writestr("SETIMES.en-tr.en", text(held["tur_train"], 1))
        archive.writestr("README", b"OPUS SETIMES v2\n")
    with tarfile.open(directory / "wmt-test.tgz", "w:gz") as archive:
        for lang, code, short in (("fra", "fren", "fr"), ("tur", "tren", "tr")):
            for split, name in (("valid", "newstest2013"), ("test", "newstest2014")):
                pairs = held[f"{lang}_{split}"]
                add_bytes(archive, f"test/{name}-{code}-src.{short}.sgm", sgm([p[0] for p in pairs], short))
                add_bytes(archive, f"test/{name}-{code}-ref.en.sgm", sgm([p[1] for p in pairs], "en"))
    return held


def table_row(path: Path, url: str) -> str:
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    return "\t".join([path.name, url, str(len(data)), sha256, "", "test fixture", "BSD-3-Clause (Django)"])


def write_table(directory: Path, files: list[Path], table: Path) -> None:
    header = "name\turl\tbytes\tsha256\tmd5\tprovenance\tlicense"
    # the table's own URLs are never fetched in the tests: downloads.mirror replaces them
    rows = [table_row(path, f"https://example.invalid/{path.name}") for path in files]
    table.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name → bytes); ``server.faults`` (name → kind, or a list of kinds, one per
    request, None for a good answer) makes a file misbehave. Answers ``Range: bytes=N-`` with 206 unless the fault
    is ``no_range``; ``server.ranges`` records each request's range start (None: the whole file)."""

    def do_GET(self):  # noqa: N802 - the http.server API
        name = self.path.lstrip("/")
        self.server.requests.append(name)
        fault = self.server.faults.get(name)
        if isinstance(fault, list):
            fault = fault.pop(0) if fault else None
        if fault and fault.endswith("_once"):  # misbehave on the first request only
            del self.server.faults[name]
            fault = fault.removesuffix("_once")
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(wanted.group(1)) if wanted and fault != "no_range" else None
        self.server.ranges.append(start)
        data = self.server.files.get(name)
        if data is None or fault == "404":
            self.send_error(404, "Not Found")
            return
        if fault == "html":
            page = b"<!DOCTYPE html><html><head><title>Moved</title></head><body>This file is gone.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if fault == "corrupt":  # the last byte: also wrong in the rest a resumed transfer asks for
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        whole = len(data)
        if start is not None:
            if start >= whole:
                self.send_error(416, "Range Not Satisfiable")
                return
            data = data[start:]
        self.send_response(200 if start is None else 206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        if start is not None:
            self.send_header("Content-Range", f"bytes {start}-{whole - 1}/{whole}")
        self.end_headers()
        if fault == "truncated":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def running(server: http.server.ThreadingHTTPServer):
    """Serve with ``server`` (bound to 127.0.0.1) in a thread for the block; yields (base URL, server)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(directory: Path, faults: dict | None = None):
    """Serve every file of ``directory`` on 127.0.0.1 (a free port); yields (base URL, server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.files = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    server.faults = dict(faults or {})
    server.requests = []
    server.ranges = []
    with running(server) as served:
        yield served
