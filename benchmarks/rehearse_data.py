"""Rehearse the data half of ``config/paper.yaml`` at paper size, and measure what every job needs.

Synthetic corpora in the real formats and at the real sizes (``benchmarks/paper_corpora.py``; times ``--fraction``
for the training corpora) are served from 127.0.0.1 with a downloads table of their own; the real Snakemake then
runs the paper config's download, extraction, SentencePiece, encoding and binarization rules on them, in a fresh
working directory per repeat. Every data rule has a ``benchmark:`` (Snakemake's own: wall time, CPU time, I/O,
memory sampled every 30 s after a job's first 30 s) and every data job logs its exact peak memory
(``lssd.io.peak_memory_line``); this script collects both, with the size of what each job read (as
``lssd.data.resources`` counts it for the job's cluster request) and of what it wrote.

Prints one line per job (the spread over repeats: median, min–max) and one per stage, and with ``--json`` keeps
every record. ``--fit A.json B.json ...`` (rehearsals at several fractions) fits, per stage, peak memory and wall
time against input size: the growth exponent (log-log slope: 1 is linear) and the fixed + per-GB figures that
``lssd.data.resources.COSTS`` holds.

Usage::

    python benchmarks/rehearse_data.py --fraction 0.01 --datasets wmt6 --workdir /tmp/rehearsal --json wmt-1.json
    python benchmarks/rehearse_data.py --fraction 1 --datasets ted8_diverse ted8_related --repeats 3 --json ted.json
    python benchmarks/rehearse_data.py --fit wmt-1.json wmt-10.json ted.json
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import http.server
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.paper_corpora import generate  # noqa: E402
from benchmarks.rehearsal_report import MB, fit, markdown, summary  # noqa: E402
from lssd.data import resources  # noqa: E402

PEAK = re.compile(r"^peak memory: (\d+) MB \(this process\), (\d+) MB \(largest child process\)$", re.M)


@contextmanager
def served(directory: Path):
    """The generated corpora over HTTP on 127.0.0.1 (a free port), streamed from disk."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the http.server API
        pass


def rehearsal_config(table: Path, mirror: str, datasets: list[str], fraction: float, overrides: dict) -> dict:
    """``config/paper.yaml`` reduced to its data half for ``datasets``: the downloads from the local mirror,
    the subsampling targets (and the compared TED sizes) times ``fraction``, no GPU; ``overrides`` (nested
    dicts) on top, e.g. a smaller vocabulary for a seconds-long test."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text(encoding="utf-8"))
    config["run"].update(
        datasets=datasets, methods=["baseline"], gpus_per_training=0, gpus_per_evaluation=0, fp16=False
    )
    config["downloads"] = {"table": str(table), "mirror": mirror, "retries": 1, "retry_pause_seconds": 0}
    for name in datasets:
        for info in config["datasets"][name]["languages"].values():
            info["reference_size"] = max(1, round(info["reference_size"] * fraction))
    return merged(config, overrides)


def merged(base: dict, overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def du(path: Path) -> int:
    """Bytes under a file or directory, as the requests count them (0 if absent)."""
    return resources.input_bytes([path]) if path.exists() else 0


def job_of(benchmark: Path, config: dict) -> dict:
    """A benchmark file's job: stage, name, its log, what it read (as lssd.data.resources counts it for the
    job's request) and its outputs."""
    kind, stem = benchmark.parent.name, benchmark.name.removesuffix(".tsv")
    if kind == "download":
        return dict(
            stage="download", job=stem, log=f"logs/downloads/{stem}.log", read=[], outputs=[f"results/downloads/{stem}"]
        )
    if kind == "data":
        spec = config["datasets"][stem]
        from lssd.config import dataset_downloads

        read = [f"results/downloads/{name}" for name in dataset_downloads(spec)]
        stage = {"ted_talks": "prepare_ted", "wmt": "prepare_wmt"}.get(spec["source"]["kind"], "prepare_other")
        return dict(stage=stage, job=stem, log=f"logs/data/{stem}.log", read=read, outputs=[f"results/data/{stem}"])
    if kind == "binarize":
        return dict(
            stage="binarize",
            job=stem,
            log=f"logs/binarize/{stem}.log",
            read=[f"results/spm/{stem}/encoded"],
            outputs=[f"results/bin/{stem}"],
        )
    dataset, unit, action = stem.split(".")
    if action == "train":
        models = f"results/spm/{dataset}/models/spm.{unit}"
        outputs = [f"{models}.model", f"{models}.vocab"]
    else:
        outputs = [f"results/spm/{dataset}/encoded/{unit}"]
    return dict(
        stage=f"spm_{action}",
        job=f"{dataset}.{unit}",
        log=f"logs/spm/{stem}.log",
        read=[],
        outputs=outputs,
        unit=unit,
        dataset=dataset,
    )


def read_bytes(job: dict, run_dir: Path, config: dict) -> int:
    if job["stage"] == "spm_train":
        spec = config["datasets"][job["dataset"]]
        return resources.spm_model_bytes(spec, run_dir / "results" / "data" / job["dataset"], job["unit"])
    if job["stage"] == "spm_encode":
        spec = config["datasets"][job["dataset"]]
        return resources.encode_bytes(spec, run_dir / "results" / "data" / job["dataset"], job["unit"])
    return sum(du(run_dir / name) for name in job["read"])


def job_records(run_dir: Path, config: dict, repeat: int) -> list[dict]:
    """One record per data job of a finished rehearsal run."""
    records = []
    for benchmark in sorted((run_dir / "results" / "benchmarks").rglob("*.tsv")):
        job = job_of(benchmark.relative_to(run_dir / "results" / "benchmarks"), config)
        with open(benchmark, encoding="utf-8") as stream:
            row = next(csv.DictReader(stream, delimiter="\t"))
        log = run_dir / job["log"]
        peaks = PEAK.findall(log.read_text(encoding="utf-8", errors="replace")) if log.exists() else []
        own, child = (int(peaks[-1][0]), int(peaks[-1][1])) if peaks else (0, 0)
        sampled = float(row["max_rss"]) if row["max_rss"] not in ("", "-", "NA") else 0.0
        records.append(
            {
                "stage": job["stage"],
                "job": job["job"],
                "repeat": repeat,
                "seconds": float(row["s"]),
                "cpu_seconds": float(row["cpu_time"]) if row.get("cpu_time") not in (None, "", "-") else 0.0,
                # the exact high-water mark of the job's own process beside Snakemake's sampled sum over its
                # process tree (which sees concurrent workers together, but may miss a short peak)
                "peak_mb": max(own, child, sampled),
                "peak_own_mb": own,
                "peak_child_mb": child,
                "sampled_max_rss_mb": sampled,
                "io_in_mb": float(row["io_in"] or 0),
                "io_out_mb": float(row["io_out"] or 0),
                "read_bytes": read_bytes(job, run_dir, config),
                "written_bytes": sum(du(run_dir / name) for name in job["outputs"]),
            }
        )
    return records


def run_rehearsal(workdir: Path, fraction: float, datasets: list[str], cores: int, repeats: int, seed: int,
                  overrides: dict | None = None, keep: bool = False, log=sys.stdout) -> dict:  # fmt: skip
    """Generate (or reuse) the corpora, serve them, run the data DAG ``repeats`` times; every job's records."""
    corpora = workdir / f"corpora-f{fraction:g}-s{seed}"
    started = time.monotonic()
    table = generate(corpora, fraction, datasets, seed=seed)
    print(f"corpora: {corpora} ({du(corpora) / MB:.0f} MB, {time.monotonic() - started:.0f} s)", file=log)
    records: list[dict] = []
    wall = []
    with served(corpora) as mirror:
        config = rehearsal_config(table, mirror, datasets, fraction, overrides or {})
        for repeat in range(1, repeats + 1):
            run_dir = workdir / f"run-f{fraction:g}-{repeat}"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            targets = [f"results/bin/{name}" for name in datasets]
            command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(run_dir),
                       *targets, "--cores", str(cores), "--configfile", "config.yaml"]  # fmt: skip
            started = time.monotonic()
            result = subprocess.run(command, cwd=run_dir, capture_output=True, text=True)
            wall.append(time.monotonic() - started)
            (run_dir / "snakemake.log").write_text(result.stdout + result.stderr, encoding="utf-8")
            if result.returncode != 0:
                raise RuntimeError(f"the rehearsal's Snakemake failed (exit {result.returncode}); see "
                                   f"{run_dir / 'snakemake.log'}:\n{result.stderr[-3000:]}")  # fmt: skip
            records += job_records(run_dir, config, repeat)
            print(f"repeat {repeat}: {wall[-1]:.0f} s", file=log)
            if not keep and repeat < repeats:
                shutil.rmtree(run_dir / "results")
    return {
        "fraction": fraction,
        "datasets": datasets,
        "cores": cores,
        "repeats": repeats,
        "wall_seconds": wall,
        "machine": machine(),
        "records": records,
    }


def machine() -> dict:
    memory = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        pass
    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "memory_gb": round(memory, 1) if memory else None, "python": platform.python_version()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=0.01, help="of the paper's training corpora (1: full)")
    parser.add_argument("--datasets", nargs="+", default=["ted8_diverse", "ted8_related", "wmt6"])
    parser.add_argument("--workdir", type=Path, default=Path("results/rehearsal"))
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=yaml.safe_load, default={}, help="YAML overrides of the rehearsal config")
    parser.add_argument("--keep", action="store_true", help="keep every repeat's outputs (default: the last)")
    parser.add_argument("--json", type=Path, help="write every record here")
    parser.add_argument("--fit", nargs="+", type=Path, help="fit growth over these --json files instead")
    parser.add_argument("--markdown", type=Path, help="print this --json file's stage table in Markdown instead")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return 0
    if args.fit:
        print(fit([json.loads(path.read_text(encoding="utf-8")) for path in args.fit]))
        return 0
    if not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = run_rehearsal(args.workdir.resolve(), args.fraction, args.datasets, args.cores, args.repeats,
                           args.seed, args.config, args.keep)  # fmt: skip
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
