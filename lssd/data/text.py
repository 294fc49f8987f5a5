"""The one text check every source of sentences goes through: your parallel files, TED, WMT (plain text and
SGML) and the demo's catalogs.

- Bytes (``lssd.io.decode_line``): invalid UTF-8 and NUL bytes (binary data, a UTF-16 file) are errors naming
  the file and the line; a byte-order mark at the start of a file (or of a line: files concatenated from files
  with one) is removed. U+FEFF anywhere else is what Unicode makes it there, an invisible character.
- Sentences (``sentence``): whitespace is collapsed; a sentence with nothing visible left (empty, spaces,
  zero-width spaces, joiners, U+FEFF) is an error naming the file and line in a dev or test set, which is used
  whole (dropping a line would change the test set, and its two sides must stay aligned); in a training corpus
  its pair is dropped and the source counts it in the manifest, as it counts the pairs it filters for other
  reasons. Your own parallel files are stricter (``require_visible`` on every split): they are yours to fix.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from lssd.io import NUL_BYTE, decode_line, decoded_lines

__all__ = [
    "decode_line",
    "decoded_lines",
    "normalize_text",
    "require_no_nul",
    "require_visible",
    "sentence",
    "visible_text",
]

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Collapse every run of whitespace (newlines and tabs included) into one space: one sentence per line."""
    return _WHITESPACE.sub(" ", text).strip()


def visible_text(line: str) -> str:
    """The line without whitespace and invisible format characters (zero-width space, joiners, BOM, ...): empty
    for a line that would give the model nothing to translate. Joiners inside words (Hindi, Persian) stay legal."""
    return "".join(char for char in line if not char.isspace() and unicodedata.category(char) != "Cf")


def require_visible(text: str, where: str, number: int, what: str = "line", why: str = "") -> None:
    """An error naming ``where`` and the line (1-based) if ``text`` has nothing visible."""
    if not visible_text(text):
        raise ValueError(f"{where}, line {number}: empty {what} (or only spaces or invisible characters){why}")


def require_no_nul(path: Path) -> None:
    """``decode_line``'s NUL check for a file that a library decodes itself (the demo's gettext catalogs, whose
    charset is their own business): a NUL byte anywhere is an error naming the file and the line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if b"\0" in raw:
                raise ValueError(f"{path}, line {number}: {NUL_BYTE}")


def sentence(text: str, split: str, where: str, number: int, what: str = "sentence") -> str | None:
    """``text`` whitespace-normalised, or ``None`` for a training sentence with nothing visible (its pair is
    dropped and counted by the caller); in a dev or test set such a sentence is an error naming the line."""
    text = normalize_text(text)
    if split == "train":
        return text if visible_text(text) else None
    why = f" in the {'dev' if split == 'valid' else split} set: dropping it would change the set that is scored"
    require_visible(text, where, number, what, why)
    return text
