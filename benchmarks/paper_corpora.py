"""Paper-sized synthetic corpora in the real source formats: what the paper datasets download, at any fraction of
their real size, without the network and without their text (which may not be redistributed).

``generate`` writes, into one directory, the archives that ``config/paper.yaml``'s datasets download, under the
names of ``config/downloads.tsv``, and a ``downloads.tsv`` listing them with their sizes and checksums (for a
rehearsal that sets ``downloads.mirror`` to a local server of that directory). The package ``benchmarks/corpora/``
does the work:

* ``ted.py``: ``ted_talks.tar.gz`` (both TED-8 datasets), its three tables with the real header and row counts
  times the fraction, Moses-tokenized, ``__NULL__`` where a language has no translation;
* ``wmt.py``: the WMT-6 training releases (Europarl, CommonCrawl, News Commentary, UNPC, SETIMES2, Europarl v8),
  the real member paths and line counts times the fraction, untokenized; ``wmt_devtest.py``: the dev/test ``.tgz``
  files, their "fake SGML" sets whole;
* ``scripts.py`` and ``text.py``: the random text, shaped like the real thing where the pipeline can notice (each
  language's script, Zipf-distributed vocabularies, lognormal sentence lengths correlated across a pair);
* ``archives.py``: tars and zips with fixed dates; ``files.py``: the file list, the stamp, the downloads table.

Every file is a function of (its name, the fraction, the seed): numpy Generators seeded from them, no time in any
header (gzip mtime 0, fixed tar and zip dates), so the same fraction and seed give byte-identical archives.
Sampling and rendering are vectorised (inverse-CDF Zipf sampling, one byte gather per block of rows: 50-130 MB/s
of text on one core); gzip and zip deflate at level ``COMPRESSION_LEVEL`` (3: twice as fast as the default 6 here,
for files 4% larger). With the compression, about 20 MB/s of text: the full-size TED archive, 0.79 GB of text in
0.38 GB (random text compresses less than real text; the real archive is 0.35 GB), took 39 s on one core.

Usage::

    python -m benchmarks.paper_corpora --out DIR --fraction 0.01 [--datasets ted8_diverse ted8_related wmt6]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.corpora.files import DATASETS, generate, generate_files

__all__ = ["generate", "generate_files", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory of the archives and downloads.tsv")
    parser.add_argument("--fraction", required=True, type=float, help="of the real training sizes, in (0, 1]")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    table, written = generate_files(args.out, args.fraction, args.datasets, args.seed)
    for item in written:
        cost = (
            "reused"
            if item.reused
            else f"{item.seconds:.1f} s, {item.text_bytes / 1e6 / item.seconds:.1f} MB/s of text"
        )
        print(
            f"{item.name}: {item.bytes / 1e6:.1f} MB ({item.text_bytes / 1e6:.1f} MB of text), "
            f"{item.lines} lines, {cost}"
        )
    print(f"{table} ({time.perf_counter() - began:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
