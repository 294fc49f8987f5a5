"""The demo corpus: real human translations from the gettext catalogs that the Django package ships.

English ``msgid`` ↔ translated ``msgstr`` for each configured language. Fuzzy, obsolete, untranslated, plural,
context-keyed (``msgctxt``), invisible-only (zero-width characters, ``lssd.data.text``) and identity entries are
skipped (a NUL byte is an error naming the catalog and the line), whitespace is normalised, and the pairs are
deduplicated by their English side (first catalog in sorted path order wins). The split is by a hash of the
English side, shared by all languages as in TED's multi-way splits; then the training side is subsampled to a
TED-like high/low-resource skew.

Usage (what the ``prepare_demo`` rule runs)::

    python -m lssd.data.demo --spec '<dataset config as JSON>' --name demo --outdir results/data/demo
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import polib

from lssd.data.parallel import (
    SPLITS,
    dataset_parser,
    run_builder,
    split_pairs,
    subsample,
    subsample_sizes,
    write_parallel,
)
from lssd.data.text import normalize_text, require_no_nul, visible_text
from lssd.io import atomic_directory, write_json


def django_root() -> Path:
    spec = importlib.util.find_spec("django")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the demo corpus needs the 'django' package installed (pip install 'django==5.2.*')")
    return Path(spec.submodule_search_locations[0])


def find_catalogs(root: Path, locale: str) -> list[Path]:
    """Every ``.po`` catalog of one locale under ``root`` (``**/locale/<locale>/LC_MESSAGES/*.po``), sorted."""
    return sorted(root.glob(f"**/locale/{locale}/LC_MESSAGES/*.po"))


def catalog_pairs(paths: list[Path]) -> tuple[list[tuple[str, str]], Counter]:
    """(translation, english) pairs from gettext catalogs, with a count of every skipped kind of entry."""
    skipped: Counter = Counter()
    seen_english: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for path in paths:
        require_no_nul(path)
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                skipped["obsolete"] += 1
            elif "fuzzy" in entry.flags:
                skipped["fuzzy"] += 1
            elif entry.msgid_plural:
                skipped["plural"] += 1
            elif entry.msgctxt is not None:
                skipped["context"] += 1
            else:
                english, translation = normalize_text(entry.msgid), normalize_text(entry.msgstr)
                if not english or not translation:
                    skipped["untranslated"] += 1
                elif not visible_text(english) or not visible_text(translation):
                    # dropped before the split, so no dev or test set loses a line: the sets are drawn after it
                    skipped["invisible"] += 1
                elif translation == english:
                    skipped["identity"] += 1
                elif english in seen_english:
                    skipped["duplicate"] += 1
                else:
                    seen_english.add(english)
                    pairs.append((translation, english))
    return pairs, skipped


def extract_language(root: Path, name: str, lang: str, locale: str | None, source: dict):
    """One language's pairs from its catalogs, split into train/valid/test; and the entries skipped, by reason."""
    if locale is None:
        raise ValueError(f"datasets.{name}.source.locales has no entry for language '{lang}'")
    catalogs = find_catalogs(root, locale)
    if not catalogs:
        raise ValueError(f"datasets.{name}: language '{lang}' (Django locale '{locale}') has no catalog under {root}")
    pairs, skipped = catalog_pairs(catalogs)
    if not pairs:
        where = f"datasets.{name}: language '{lang}' (locale '{locale}')"
        raise ValueError(f"{where} yields zero pairs after filtering ({dict(skipped)})")
    splits = split_pairs(pairs, source["valid_percent"], source["test_percent"])
    for split in SPLITS:
        if not splits[split]:
            raise ValueError(f"datasets.{name}: language '{lang}' has no {split} pairs after splitting")
    return splits, dict(sorted(skipped.items()))


def build(spec: dict, name: str, outdir: Path, root: Path | None = None) -> dict:
    """Extract, split, subsample and write the corpus; return the manifest (also written to the outdir)."""
    root = root or django_root()
    pivot = spec["pivot"]
    source = spec["source"]
    locales = source["locales"]
    languages = {lang: info for lang, info in spec["languages"].items() if lang != pivot}
    extracted: dict[str, dict[str, list[tuple[str, str]]]] = {}
    skipped_by_lang: dict[str, dict[str, int]] = {}
    for lang in languages:
        extracted[lang], skipped_by_lang[lang] = extract_language(root, name, lang, locales.get(lang), source)

    available = {lang: len(extracted[lang]["train"]) for lang in languages}
    subsampling = source.get("subsample") or {}
    if subsampling.get("enabled", True) and subsampling:
        reference = {lang: languages[lang]["reference_size"] for lang in languages}
        sizes = subsample_sizes(available, reference, subsampling["floor"])
    else:
        sizes = dict(available)

    manifest = {
        "dataset": name,
        "pivot": pivot,
        "source": {
            "kind": source["kind"],
            "package": "django",
            "version": importlib.metadata.version("django"),
            "license": "BSD-3-Clause",
            "valid_percent": source["valid_percent"],
            "test_percent": source["test_percent"],
            "subsample": subsampling,
        },
        "languages": {},
    }
    with atomic_directory(outdir) as staging:
        for lang in languages:
            splits = extracted[lang]
            splits["train"] = subsample(splits["train"], sizes[lang])
            for split in SPLITS:
                write_parallel(staging, split, lang, pivot, splits[split])
            manifest["languages"][lang] = {
                "locale": locales[lang],
                "train_available": available[lang],
                "sizes": {split: len(splits[split]) for split in SPLITS},
                "skipped_entries": skipped_by_lang[lang],
            }
        write_json(staging / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    manifest = run_builder(lambda: build(json.loads(args.spec), args.name, args.outdir))
    if manifest is None:
        return 1
    for lang, info in manifest["languages"].items():
        print(f"{lang}: {info['sizes']} (train available {info['train_available']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
