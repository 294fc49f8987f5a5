"""A dataset of your own: line-aligned parallel files, checked and copied into the pipeline's layout.

``datasets.<name>.source: {kind: parallel_files, path: DIR}`` where ``DIR`` holds, for every language ``xx`` of
the dataset and every split, ``{train,valid,test}.xx-<pivot>.xx`` and ``{train,valid,test}.xx-<pivot>.<pivot>``
(one sentence per line, UTF-8), the layout the pipeline itself writes.

Every file is checked before anything is written: the two sides of a pair must have the same number of lines,
no line may be empty or only spaces and invisible characters (in any split: the files are yours to fix), the
text must be valid UTF-8 without NUL bytes (the check every source shares, ``lssd.data.text``; a byte-order mark
at the start of a file or line is removed), and every split of every language must have at least one pair. Each
problem stops the job with the file and line (or the language) named.

Usage (the ``prepare_parallel_files`` rule)::

    python -m lssd.data.user --spec '<dataset JSON>' --name mine --outdir results/data/mine
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lssd.config import dataset_languages
from lssd.data.parallel import SPLITS, dataset_parser, parallel_path, read_parallel, run_builder, write_parallel
from lssd.io import atomic_directory, write_json


def source_files(spec: dict) -> list[Path]:
    """Every file the dataset needs, in a fixed order."""
    root, pivot = Path(spec["source"]["path"]), spec["pivot"]
    return [
        parallel_path(root, split, lang, pivot, side)
        for lang in dataset_languages(spec)
        for split in SPLITS
        for side in (lang, pivot)
    ]


def build(spec: dict, name: str, outdir: Path) -> dict:
    root, pivot = Path(spec["source"]["path"]), spec["pivot"]
    missing = [str(path) for path in source_files(spec) if not path.is_file()]
    if missing:
        raise ValueError(f"datasets.{name}.source.path: missing file(s): {', '.join(missing)}")
    pairs = {}
    for lang in dataset_languages(spec):
        for split in SPLITS:
            pairs[lang, split] = read_parallel(root, split, lang, pivot)  # line counts, empty lines, UTF-8
            if not pairs[lang, split]:
                raise ValueError(f"datasets.{name}: language '{lang}' has no {split} pairs in {root}")
    manifest = {"dataset": name, "pivot": pivot, "source": {"kind": "parallel_files", "path": str(root)}}
    manifest["languages"] = {
        lang: {
            "sizes": {split: len(pairs[lang, split]) for split in SPLITS},
        }
        for lang in dataset_languages(spec)
    }
    with atomic_directory(outdir) as staging:
        for (lang, split), values in pairs.items():
            write_parallel(staging, split, lang, pivot, values)
        write_json(staging / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = dataset_parser("Check and import a dataset of line-aligned parallel files")
    args = parser.parse_args(argv)
    manifest = run_builder(lambda: build(json.loads(args.spec), args.name, args.outdir))
    if manifest is None:
        return 1
    for lang, info in manifest["languages"].items():
        print(f"{lang}: {info['sizes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
