"""What ``benchmarks/rehearse_data.py`` prints: a rehearsal's records per job and stage, its Markdown table (the
docs/paper.md's), and the growth fit over several rehearsals."""

from __future__ import annotations

import math
import statistics

from lssd.data import resources

MB = 1e6


def spread(values: list[float], digits: int = 0) -> str:
    """Median and, over several repeats, min–max."""
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def summary(result: dict) -> str:
    """Per job, then per stage: wall time, CPU time, peak memory, what it read and wrote."""
    rows = [
        "job                                  read MB   wall s              CPU s     peak MB             written MB"
    ]
    jobs: dict[tuple[str, str], list[dict]] = {}
    for record in result["records"]:
        jobs.setdefault((record["stage"], record["job"]), []).append(record)
    for (stage, job), items in sorted(jobs.items()):
        wall = spread([i["seconds"] for i in items], 1)
        cpu, peak = spread([i["cpu_seconds"] for i in items]), spread([i["peak_mb"] for i in items])
        rows.append(
            f"{stage + ' ' + job:36.36} {items[0]['read_bytes'] / MB:8.0f}   {wall:18} {cpu:9} {peak:19} "
            f"{items[0]['written_bytes'] / MB:8.0f}"
        )
    rows += ["", "stage          jobs  wall s (sum)        largest peak MB     written MB (sum)"]
    stages: dict[str, dict[int, list[dict]]] = {}
    for record in result["records"]:
        stages.setdefault(record["stage"], {}).setdefault(record["repeat"], []).append(record)
    for stage, by_repeat in stages.items():
        sums = [sum(r["seconds"] for r in items) for items in by_repeat.values()]
        peaks = [max(r["peak_mb"] for r in items) for items in by_repeat.values()]
        written = sum(r["written_bytes"] for r in next(iter(by_repeat.values())))
        count = len(next(iter(by_repeat.values())))
        rows.append(f"{stage:14} {count:4}  {spread(sums, 1):19} {spread(peaks):19} {written / MB:8.0f}")
    info = result["machine"]
    rows += [
        "",
        f"fraction {result['fraction']:g}, {result['repeats']} repeat(s), snakemake --cores {result['cores']}; "
        f"whole DAG {spread(result['wall_seconds'])} s; {info['cpus']} CPUs, {info['memory_gb']} GB, "
        f"{info['platform']}",
    ]
    return "\n".join(rows)


def markdown(result: dict) -> str:
    """Per dataset and stage, as a Markdown table (docs/paper.md's): jobs, their summed wall time per repeat and the
    largest job's peak memory (median, min–max over repeats), what the stage wrote."""
    groups: dict[tuple[str, str], dict[int, list[dict]]] = {}
    for record in result["records"]:
        dataset = "downloads" if record["stage"] == "download" else record["job"].split(".")[0]
        groups.setdefault((dataset, record["stage"]), {}).setdefault(record["repeat"], []).append(record)
    rows = [
        f"| dataset | stage | jobs | wall time, s ({result['cores']} cores) | peak memory, MB | read, MB "
        "| written, MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for (dataset, stage), by_repeat in sorted(
        groups.items(), key=lambda item: (item[0][0], STAGE_ORDER.index(item[0][1]))
    ):
        first = by_repeat[min(by_repeat)]
        sums = [sum(r["seconds"] for r in items) for items in by_repeat.values()]
        peaks = [max(r["peak_mb"] for r in items) for items in by_repeat.values()]
        read = sum(r["read_bytes"] for r in first) / MB
        written = sum(r["written_bytes"] for r in first) / MB
        rows.append(
            f"| {dataset} | {stage} | {len(first)} | {spread(sums, 1)} | {spread(peaks)} | {read:.0f} | {written:.0f} |"
        )
    return "\n".join(rows)


STAGE_ORDER = ["download", "prepare_ted", "prepare_wmt", "prepare_other", "spm_train", "spm_encode", "binarize"]


def fit(results: list[dict]) -> str:
    """Per stage, over every job of every rehearsal given: peak memory and wall time against what the job read.
    The exponent is the log-log least-squares slope (1: linear; it needs inputs of different sizes); the fixed
    and per-GB figures are the least-squares line, as lssd.data.resources.COSTS holds them."""
    by_stage: dict[str, list[dict]] = {}
    for result in results:
        for record in result["records"]:
            by_stage.setdefault(record["stage"], []).append(record)
    lines = ["stage          points  GB read (range)     time exponent  memory exponent  "
             "fixed MB  MB/GB    fixed min  min/GB"]  # fmt: skip
    for stage, records in sorted(by_stage.items()):
        sizes = [r["read_bytes"] / resources.GB for r in records]
        seconds = [r["seconds"] for r in records]
        peaks = [r["peak_mb"] for r in records]
        mem_fixed, mem_slope = line(sizes, peaks)
        time_fixed, time_slope = line(sizes, [s / 60 for s in seconds])
        lines.append(
            f"{stage:14} {len(records):6}  {min(sizes):.3f}–{max(sizes):.3f}   {exponent(sizes, seconds):13}  "
            f"{exponent(sizes, peaks):15}  {mem_fixed:8.0f}  {mem_slope:7.0f}  {time_fixed:9.2f}  {time_slope:6.2f}"
        )
    return "\n".join(lines)


def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope (the mean and 0 when every x is the same)."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread_x = sum((x - mean_x) ** 2 for x in xs)
    if spread_x == 0:
        return mean_y, 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread_x
    return mean_y - slope * mean_x, slope


def exponent(xs: list[float], ys: list[float]) -> str:
    """The log-log slope over the points with input and value above zero, or '-' when the inputs do not span
    a factor of 3 (too narrow to tell linear from quadratic)."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(points) < 2 or max(p[0] for p in points) - min(p[0] for p in points) < math.log(3):
        return "-"
    return f"{line([p[0] for p in points], [p[1] for p in points])[1]:.2f}"
