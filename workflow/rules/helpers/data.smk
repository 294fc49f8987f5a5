# Helpers of the rules in workflow/rules/data.smk (included there; what every stage shares is in common.smk).


def datasets_of_kind(kind):
    names = [name for name, spec in config["datasets"].items() if spec["source"]["kind"] == kind]
    return "|".join(names) if names else NEVER


def user_parallel_files(wildcards):
    """The files of a parallel_files dataset: Snakemake names any that is missing before a job runs."""
    from lssd.data.user import source_files

    return [str(path) for path in source_files(config["datasets"][wildcards.dataset])]


def download_entry(wildcards):
    """The table row of a download (what identifies the file: a changed URL or checksum downloads it again)."""
    return json.dumps(dataclasses.asdict(DOWNLOADS[wildcards.file]), sort_keys=True)


def download_file(entry_json, output, log):
    """The download rule's body: fetch and verify, the log telling what happened (the error too).

    The download runs as a process of its own. Snakemake runs a run block in a thread, which Ctrl-C does not
    interrupt: Snakemake waited for a stalled download for ever. The process gets the Ctrl-C (it is in the
    terminal's process group) and ends with its parent (``die_with_parent``). The transport settings are its
    arguments, not the rule's params, so that changing the mirror or the retries downloads nothing again.
    """
    options = config["downloads"]
    command = [sys.executable, "-m", downloads_module.__name__, "--entry", entry_json, "--output", output]
    command += ["--mirror", options.get("mirror") or "", "--retries", str(options["retries"])]
    command += ["--timeout", str(options["timeout_seconds"]), "--pause", str(options["retry_pause_seconds"])]
    command += ["--min-rate", str(options["min_bytes_per_second"])]
    with open(log, "w", encoding="utf-8") as handle:
        status = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT).returncode
    if status != 0:
        errors = [line for line in Path(log).read_text(encoding="utf-8").splitlines() if line.startswith("error: ")]
        reason = errors[-1].removeprefix("error: ") if errors else f"download ended with exit status {status}"
        raise WorkflowError(f"{reason} (log: {log})")
