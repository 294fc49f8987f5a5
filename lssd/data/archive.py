"""Finding and extracting files inside downloaded archives (``.tar.gz``/``.tgz``/``.tar`` and ``.zip``).

Archive members are named by a path *suffix* (``europarl-v7.fr-en.fr`` matches ``training/europarl-v7.fr-en.fr``),
so the config does not depend on the top-level directory an archive happens to use.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path


def _matches(name: str, suffix: str) -> bool:
    name = name.lstrip("./")
    return name == suffix or name.endswith("/" + suffix)


def member_names(archive: Path) -> list[str]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            return [info.filename for info in handle.infolist() if not info.is_dir()]
    try:
        with tarfile.open(archive, "r:*") as handle:
            return [member.name for member in handle.getmembers() if member.isfile()]
    except tarfile.TarError as error:
        raise ValueError(f"{archive}: not a readable tar or zip archive ({error})") from None


def find_member(archive: Path, suffix: str, names: list[str] | None = None) -> str:
    """The one member of ``archive`` whose path ends with ``suffix``; an error lists close candidates."""
    names = member_names(archive) if names is None else names
    found = [name for name in names if _matches(name, suffix)]
    if len(found) == 1:
        return found[0]
    if not found:
        stem = suffix.rsplit("/", 1)[-1].split(".")[0]
        similar = [name for name in names if stem and stem in name][:10]
        hint = f"; members with '{stem}' in their name: {', '.join(similar)}" if similar else ""
        raise ValueError(f"{archive}: no member named '{suffix}'{hint}")
    raise ValueError(f"{archive}: several members end with '{suffix}': {', '.join(found)}")


def extract_members(archive: Path, suffixes: list[str], outdir: Path) -> dict[str, Path]:
    """Extract the members named by ``suffixes`` into ``outdir`` (flat); returns suffix → extracted file.

    One pass over a compressed tar (members in archive order), so a multi-GB ``.tgz`` is decompressed once.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    names = member_names(archive)
    wanted = {find_member(archive, suffix, names): suffix for suffix in suffixes}
    extracted: dict[str, Path] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            for name, suffix in wanted.items():
                target = outdir / Path(name).name
                with handle.open(name) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                extracted[suffix] = target
        return extracted
    with tarfile.open(archive, "r|*") as handle:  # streaming mode: no seeking back through the gzip stream
        for member in handle:
            if member.name in wanted and member.isfile():
                target = outdir / Path(member.name).name
                source = handle.extractfile(member)
                with open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                extracted[wanted[member.name]] = target
    return extracted
