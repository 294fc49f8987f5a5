"""Atomic file output: every file is written under a temporary name in its directory, then renamed.

A process killed mid-write leaves at most a ``.tmp-*`` file behind, never a truncated output that a later
step (or Snakemake, which only looks at the final name) would accept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (reading it means setting it: done under a lock, and set back at once)."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode a plain ``open``/``mkdir`` would give: mkstemp/mkdtemp make 0600/0700 whatever the umask, which
    would hide results from the other members of a group on a shared cluster."""
    return (0o777 if directory else 0o666) & ~current_umask()


def remove_orphans(path: Path) -> None:
    """Delete the temporary files and directories that earlier writes of ``path`` left when they were killed (a
    SIGKILL, a node lost, a time limit: no ``finally`` ran), which nothing else would ever delete: for a large
    output (a WMT corpus, an encoded side, a data-bin) gigabytes each time. Only one job writes a given path at a
    time, so a temporary name of this path that exists now is a dead write's. The names are matched exactly (the
    prefix and mkstemp's 8 characters), never another file's temporary name in the same directory."""
    orphan = re.compile(rf"\.tmp-{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}")
    try:
        entries = [entry for entry in os.scandir(path.parent) if orphan.fullmatch(entry.name)]
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        with contextlib.suppress(OSError):  # a log on a full disk: the removal is what matters
            print(f"removed {entry.path}: left by a write of {path} that was killed", file=sys.stderr)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, default_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory next to ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, default_mode(directory=True))
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"{path}: a line to write contains a line break: {line!r}")
            handle.write(line + "\n")


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


BOM = "\ufeff"
NUL_BYTE = "a NUL byte (binary data, or a UTF-16 file?)"


def decode_line(raw: bytes, where: str, number: int) -> str:
    """Line ``number`` (1-based) of a one-sentence-per-line UTF-8 file, without its line ending: invalid UTF-8 or
    a NUL byte is an error naming ``where`` (the file, or archive:member) and the line.

    A byte-order mark at the start of the line is removed: at the start of the file some editors write one, and
    at the start of a later line it is one left by concatenating such files; it is not text, and kept it would
    become a piece of the sentence. (U+FEFF anywhere else is an invisible character, see ``lssd.data.text``.)
    """
    if b"\0" in raw:  # looked for before decoding: a UTF-16 file is named as such, not as invalid UTF-8
        raise ValueError(f"{where}, line {number}: {NUL_BYTE}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{where}, line {number}: invalid UTF-8 ({error.reason})") from None
    return text.removeprefix(BOM).rstrip("\n").rstrip("\r")


def decoded_lines(stream: Iterable[bytes], where: str) -> Iterator[str]:
    """The lines of a binary stream, each through ``decode_line``."""
    for number, raw in enumerate(stream, start=1):
        yield decode_line(raw, where, number)


def read_lines(path: str | os.PathLike) -> list[str]:
    """Read a one-sentence-per-line UTF-8 file (``decode_line``'s checks, the file named in its errors)."""
    return list(iter_lines(path))


def iter_lines(path: str | os.PathLike) -> Iterator[str]:
    """``read_lines`` one line at a time, for corpora whose size memory should not follow."""
    with open(path, "rb") as handle:
        yield from decoded_lines(handle, str(path))


def count_lines(path: str | os.PathLike) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))


class DamagedFile(ValueError):
    """A pipeline file that cannot be read as what it should be (cut short, overwritten, edited)."""


def parse_json_file(path: Path):
    """The JSON in ``path``; else a :class:`DamagedFile` saying why it cannot be read (without the path)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedFile("missing") from None
    except OSError as error:
        raise DamagedFile(f"unreadable ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise DamagedFile(f"not UTF-8 JSON ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise DamagedFile(
            f"not valid JSON ({error.msg}, line {error.lineno} column {error.colno}): it was cut short or overwritten"
        ) from None


def read_json(path: str | os.PathLike, *, required: Iterable[str] = (), advice: str | None = None):
    """A JSON file the pipeline wrote; a damaged or missing one (not JSON, or without ``required`` keys) is an
    error that names the file and says how to get it back (``advice``: what to delete, when not the file itself)."""
    path = Path(path)
    advice = advice or "delete it and run snakemake again: the job that writes it rebuilds it"
    try:
        data = parse_json_file(path)
    except DamagedFile as error:
        raise DamagedFile(f"{path}: {error}; {advice}") from None
    missing = [key for key in required if not isinstance(data, dict) or key not in data]
    if missing:
        raise DamagedFile(f"{path}: no '{missing[0]}' in it: not a file of this pipeline's; {advice}")
    return data


def run_cli(main) -> int:
    """Run a stage's ``main``; a damaged input file ends it with its message (no traceback)."""
    try:
        return main()
    except DamagedFile as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def peak_memory_line() -> str:
    """The job's peak resident memory as the kernel counts it (exact high-water marks, where Snakemake's
    ``benchmark:`` samples every 30 s after a job's first 30 s): this process, and its largest finished child
    (fairseq-preprocess's workers). ``benchmarks/rehearse_data.py`` reads this line from the job logs."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak memory: {own:.0f} MB (this process), {child:.0f} MB (largest child process)"
