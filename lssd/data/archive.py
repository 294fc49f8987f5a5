"""Finding and extracting files inside downloaded archives (``.tar.gz``/``.tgz``/``.tar`` and ``.zip``).

Archive members are named by a path *suffix* (``europarl-v7.fr-en.fr`` matches ``training/europarl-v7.fr-en.fr``),
so the config does not depend on the top-level directory an archive happens to use.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath


def _matches(name: str, suffix: str) -> bool:
    name = name.lstrip("./").rstrip("/")  # a zip names its directories with a trailing slash
    return name == suffix or name.endswith("/" + suffix)


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    """What a tar member is when it is not a regular file (for the error naming it); None for a regular file."""
    if member.isfile():
        return None
    if member.issym():
        return f"a symbolic link to '{member.linkname}'"
    if member.islnk():
        return f"a hard link to '{member.linkname}'"
    if member.isdir():
        return "a directory"
    if member.ischr() or member.isblk():
        return "a device file"
    return "a FIFO" if member.isfifo() else "a special file"


def _zip_kind(handle: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    if info.is_dir():
        return "a directory"
    if stat.S_ISLNK(info.external_attr >> 16):  # a Unix symlink: its body is the target, not the file's text
        return f"a symbolic link to '{handle.read(info).decode('utf-8', 'replace')}'"
    return None


def _members(archive: Path) -> list[tuple[str, str | None]]:
    """Every member of ``archive`` with what it is: None for a regular file, else a description."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            return [(info.filename, _zip_kind(handle, info)) for info in handle.infolist()]
    try:
        with tarfile.open(archive, "r:*") as handle:
            return [(member.name, _tar_kind(member)) for member in handle.getmembers()]
    except tarfile.TarError as error:
        raise ValueError(f"{archive}: not a readable tar or zip archive ({error})") from None


def member_names(archive: Path) -> list[str]:
    """The regular files of ``archive`` (the only members that can be read as text)."""
    return [name for name, kind in _members(archive) if kind is None]


def _not_regular(archive: Path, suffix: str) -> str:
    """Why no regular file matches ``suffix`` when a link, directory or device does ("" when none does)."""
    found = [f"member '{name}' is {kind}" for name, kind in _members(archive) if kind and _matches(name, suffix)]
    return f"{archive}: {'; '.join(found)}, not a regular file" if found else ""


def find_member(archive: Path, suffix: str, names: list[str] | None = None) -> str:
    """The one member of ``archive`` whose path ends with ``suffix``; an error lists close candidates."""
    names = member_names(archive) if names is None else names
    found = [name for name in names if _matches(name, suffix)]
    if len(found) == 1:
        return found[0]
    if not found:
        if why := _not_regular(archive, suffix):  # listed apart: "no member named" would be misleading
            raise ValueError(why)
        stem = suffix.rsplit("/", 1)[-1].split(".")[0]
        similar = [name for name in names if stem and stem in name][:10]
        hint = f"; members with '{stem}' in their name: {', '.join(similar)}" if similar else ""
        raise ValueError(f"{archive}: no member named '{suffix}'{hint}")
    raise ValueError(f"{archive}: several members end with '{suffix}': {', '.join(found)}")


def _target(archive: Path, name: str, outdir: Path) -> Path:
    """Where member ``name`` is extracted: its own path under ``outdir``, so that ``dev/set.fr`` and
    ``test/set.fr`` stay two files. An absolute path or a ``..`` would write outside ``outdir``: refused."""
    parts = PurePosixPath(name).parts  # drops "." parts and repeated slashes
    if not parts or parts[0] == "/" or ".." in parts:
        raise ValueError(f"{archive}: member '{name}' has an unsafe path (absolute or with '..'); not extracting it")
    return outdir.joinpath(*parts)


def extract_members(archive: Path, suffixes: list[str], outdir: Path) -> dict[str, Path]:
    """Extract the members named by ``suffixes`` into ``outdir``, each at its path inside the archive; returns
    suffix → extracted file.

    One pass over a compressed tar (members in archive order), so a multi-GB ``.tgz`` is decompressed once.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    names = member_names(archive)
    wanted: dict[str, list[str]] = {}  # member → the suffixes naming it (two suffixes may name one member)
    for suffix in suffixes:
        wanted.setdefault(find_member(archive, suffix, names), []).append(suffix)
    targets: dict[Path, str] = {}
    for name in wanted:
        target = _target(archive, name, outdir)
        if target in targets:  # "./a" and "a" are two tar members but one path
            raise ValueError(f"{archive}: members '{targets[target]}' and '{name}' would both be extracted to {target}")
        targets[target] = name
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    extracted: dict[str, Path] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            for target, name in targets.items():
                with handle.open(name) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                extracted |= dict.fromkeys(wanted[name], target)
        return extracted
    target_of = {name: target for target, name in targets.items()}
    with tarfile.open(archive, "r|*") as handle:  # streaming mode: no seeking back through the gzip stream
        for member in handle:
            if member.name in target_of and member.isfile():
                source = handle.extractfile(member)
                with open(target_of[member.name], "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                extracted |= dict.fromkeys(wanted[member.name], target_of[member.name])
    return extracted
