"""The printed report of benchmarks/paper_training.py: the run's shape, the two methods side by side, teacher
pool and files, validation per pair, the memory arithmetic against the RSS, wall times and the GPU prediction."""

from __future__ import annotations


def size(value: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def report_header(record: dict) -> None:
    layout, machine, options = record["layout"], record["machine"], record["options"]
    base = record["results"]["baseline"]
    print(f"{options['size']} ({layout['dataset']}, {options['direction']}): {base['arch']['arch']}, "
          f"{base['parameters'] / 1e6:.1f}M parameters, vocabularies {base['source_vocab']} (source) / "
          f"{base['target_vocab']} (target), {len(base['pairs'])} pairs, max_tokens {base['max_tokens']} x "
          f"update_freq {base['update_freq']}")  # fmt: skip
    print(f"machine: {machine['platform']}, {machine['cpus']} CPUs, {options['threads']} threads, "
          f"torch {machine['torch']}; fp32 on CPU")  # fmt: skip
    print()


def report_methods(record: dict) -> None:
    results, fig = record["results"], record["figures"]
    base, lssd = results["baseline"], results["lssd_whole"]
    print(f"{'':34}{'baseline':>14}{'lssd_whole':>14}{'ratio':>8}")
    times = fig["update_s"]
    print(f"{'seconds per update (median)':34}{times['baseline']:>14.2f}{times['lssd_whole']:>14.2f}"
          f"{times['ratio']:>8.3f}")  # fmt: skip
    print(f"{'  updates timed':34}{' '.join(f'{s:.2f}' for s in base['update_s']):>14}"
          f"{' '.join(f'{s:.2f}' for s in lssd['update_s']):>14}")  # fmt: skip
    peak_base, peak_lssd = fig["peak_rss"]["baseline"], fig["peak_rss"]["lssd_whole"]
    print(f"{'peak RSS in training':34}{size(peak_base):>14}{size(peak_lssd):>14}{peak_lssd / peak_base:>8.3f}")
    epoch = fig["epoch"]
    print(f"{'an epoch at the paper size':34}{duration(epoch['baseline_s']):>14}{duration(epoch['lssd_whole_s']):>14}")
    how = (
        "fairseq's batching of the built epoch"
        if epoch["built_sentences"] == epoch["train_pairs"]
        else (f"the batches per sentence of a built epoch of {epoch['built_sentences']}, which overstates the padding")
    )
    print(
        f"  ({epoch['train_pairs']} training pairs: {epoch['batches']:.0f} batches ({how}), {epoch['updates']:.0f} "
        f"updates on one worker; {epoch['updates_without_padding']:.0f} by length arithmetic without padding)"
    )
    print()


def report_files(record: dict) -> None:
    base, lssd = record["results"]["baseline"], record["results"]["lssd_whole"]
    teachers = lssd["teachers"]
    print(
        f"teacher pool: {teachers['count']} teachers for {teachers['pairs']} pairs, {teachers['dtype']}, "
        f"{size(teachers['pool_bytes'])} held ({size(teachers['parameter_bytes_each'])} of parameters each), "
        f"RSS +{size(teachers['rss_increase'])}, made and written in {duration(teachers['build_s'])}"
    )
    checkpoint = base["checkpoint"]
    print(
        f"files: checkpoint_last.pt {size(checkpoint['last_bytes'])}, checkpoint_best.pt "
        f"{size(checkpoint['best_bytes'])} (saved in {duration(checkpoint['save_s'])}); one teacher file "
        f"{size(teachers['file_bytes'])} (the checkpoint: {record['figures']['checkpoint_vs_teacher_file']:.2f}x)"
    )
    print()


def report_validation(record: dict) -> None:
    validation = record["figures"]["validation"]
    print(
        f"validation (fairseq's validate, every pair's dev set): {duration(validation['measured_s'])} for "
        f"{validation['dev_sentences']} dev sentences; at the real {validation['real_dev_sentences']}: "
        f"{duration(validation['real_s'])} = {validation['share_of_baseline_epoch']:.1%} of a baseline epoch's "
        f"training, {validation['share_of_lssd_epoch']:.1%} of an LSSD epoch's"
    )
    if validation["dev_sentences"] < validation["real_dev_sentences"]:
        print("  (scaled by sentences from a share of the dev sets: an upper bound, their batches being smaller)")
    print(f"{'  pair':14}{'sentences':>10}{'target tokens':>15}{'seconds':>10}")
    for pair, entry in record["results"]["baseline"]["validation"]["per_pair"].items():
        print(f"  {pair:12}{entry['sentences']:>10}{entry['target_tokens']:>15}{entry['seconds']:>10.2f}")
    print()


def report_memory(record: dict) -> None:
    results, fig, layout = record["results"], record["figures"], record["layout"]
    print("memory arithmetic (lssd.run.memory) against this run (fp32 on CPU, RSS increases):")
    print(f"{'':26}{'predicted':>14}{'measured':>14}{'ratio':>8}")
    for name, check in fig["cpu_memory_check"].items():
        print(f"{name:26}{size(check['predicted']):>14}{size(check['measured']):>14}{check['ratio']:>8.3f}")
    print()
    print(f"wall time: data-bin {duration(layout['build_s'])}; " + "; ".join(
        f"{method} process {duration(result['wall_s'])} (" + ", ".join(
            f"{stage} {duration(seconds)}" for stage, seconds in result["stages_s"].items()) + ")"
        for method, result in results.items() if "stages_s" in result))  # fmt: skip
    print()
    gpu = fig["gpu_memory"]
    print(f"predicted GPU memory per GPU ({gpu['setting']}):")
    print(f"{'':22}{'baseline':>14}{'lssd_whole':>14}")
    for part in gpu["baseline"]:
        print(f"{part:22}{size(gpu['baseline'][part]):>14}{size(gpu['lssd_whole'][part]):>14}")


def report_host(record: dict) -> None:
    """What a GPU job holds on the host (benchmarks/training/host.py)."""
    evaluation, host = record["results"]["evaluate"], record["results"]["host"]
    pieces = evaluation["hypothesis_pieces"]
    print(
        f"evaluation process: {evaluation['sentences']} sentences of {evaluation['pair']} (batch "
        f"{evaluation['batch_size']}, beam {evaluation['beam']}; hypotheses {pieces['mean']:.0f} pieces on average, "
        f"{pieces['max']} at most, max_len_b {evaluation['max_len_b']}) from a {size(evaluation['checkpoint_bytes'])} "
        f"checkpoint: peak RSS {size(evaluation['peak_rss'])}, translated in {duration(evaluation['translate_s'])}"
    )
    stages = ", ".join(f"{stage} {size(value)}" for stage, value in host["rss"].items())
    print(
        f"training process, host side at a resume ({size(host['checkpoint_bytes'])} checkpoint, "
        f"{host['teacher_files']} teacher files of {size(host['teacher_bytes'])}): peak RSS {size(host['peak_rss'])}"
        f" (RSS: {stages})"
    )
    print()


def report(record: dict) -> None:
    report_header(record)
    report_methods(record)
    report_files(record)
    report_validation(record)
    if "evaluate" in record["results"]:
        report_host(record)
    report_memory(record)
