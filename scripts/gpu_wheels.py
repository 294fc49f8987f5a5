"""The wheels that a GPU machine without network needs to run the project over its own CUDA torch.

The GPU machine we are lent now and then (docs/gpu.md) has Python 3.12, its own torch and many common packages, and
no network. What the project needs beyond those travels with the checkout as wheels in a git-ignored folder, and
``scripts/gpu_check.sh`` installs them there with ``pip --target`` (nothing of the machine's own is replaced).

Which wheels: every distribution that the project's runtime requirements need, transitively (read from this
environment's installed metadata, so the versions are the ones the tests passed with, requirements.lock's), less
those the GPU machine already has (``scripts/gpu_machine_packages.txt``). torch and numpy are never carried: the
project runs with the machine's.

    python scripts/gpu_wheels.py download [--dest .whl] [--python-version 3.12]   # here, with network
    python scripts/gpu_wheels.py list                                              # what download would fetch
    python scripts/gpu_wheels.py check                                             # there: every requirement met?

``check`` exits 1 naming each requirement that the running interpreter (with PYTHONPATH) does not meet.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
MACHINE_PACKAGES = HERE / "gpu_machine_packages.txt"
NEVER_CARRIED = {"torch", "numpy", "triton"}  # the machine's own CUDA build and what it was built with
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
PLATFORMS += ["manylinux1_x86_64"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def applies(requirement: Requirement, extras: tuple[str, ...]) -> bool:
    """Whether a requirement holds here for a distribution asked for with these extras (markers evaluated)."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in (extras or ("",)))


def project_requirements(pyproject: Path = HERE.parent / "pyproject.toml") -> list[Requirement]:
    """The project's run-time requirements, from pyproject.toml (the project itself need not be installed: on the
    GPU machine it runs from the checkout)."""
    return [Requirement(line) for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]


def closure(roots: list[Requirement], find=metadata.distribution) -> dict[str, tuple[str | None, list[Requirement]]]:
    """Every distribution the root requirements need, transitively: ``{name: (installed version or None, the
    requirements naming it)}``. Extras are followed only where a requirement asks for them."""
    found: dict[str, tuple[str | None, list[Requirement]]] = {}
    pending = [root for root in roots if applies(root, ())]
    while pending:
        requirement = pending.pop()
        key = normalized(requirement.name)
        if key in found:
            found[key][1].append(requirement)
            continue
        try:
            distribution = find(requirement.name)
        except metadata.PackageNotFoundError:
            found[key] = (None, [requirement])
            continue
        found[key] = (distribution.version, [requirement])
        extras = tuple(sorted(requirement.extras))
        pending += [need for need in map(Requirement, distribution.requires or []) if applies(need, extras)]
    return found


def machine_packages(path: Path = MACHINE_PACKAGES) -> set[str]:
    """The distributions the machine has and the project may use, one per line; a line ``NAME carry`` names one it
    has in a release that some requirement here excludes, so it is carried all the same."""
    present = set()
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 1:
            present.add(normalized(fields[0]))
        elif fields and fields[1:] != ["carry"]:
            raise SystemExit(f"gpu_wheels: {path}: cannot read the line {line!r} (NAME, or NAME carry)")
    return present


def to_carry(needed: dict, present: set[str]) -> list[str]:
    """``name==version`` of each needed distribution that the machine lacks, sorted; an error for one not installed
    here (its version would be a guess)."""
    pins = []
    for name, (version, _) in sorted(needed.items()):
        if name in NEVER_CARRIED or name in present:
            continue
        if version is None:
            raise SystemExit(f"gpu_wheels: {name} is required but not installed here: run scripts/install.sh first")
        pins.append(f"{name}=={version}")
    return pins


def unmet(needed: dict) -> list[str]:
    """Each requirement the installed distributions do not meet, as a sentence naming who asked for what."""
    problems = []
    for name, (version, asked) in sorted(needed.items()):
        for requirement in asked:
            if version is None:
                problems.append(f"{name}: not installed ({requirement})")
            elif not requirement.specifier.contains(version, prereleases=True):
                problems.append(f"{name} {version} does not satisfy {requirement}")
    return problems


def fetch(pin: str, dest: Path, python_version: str) -> Path:
    """One wheel for the target Python and x86-64 Linux; a pure-Python sdist is built into a py3 wheel here."""
    before = set(dest.iterdir())
    binary = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    binary += ["--python-version", python_version, "--implementation", "cp"]
    binary += [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    if subprocess.run([*binary, pin], capture_output=True, text=True).returncode != 0:
        build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), pin]
        built = subprocess.run(build, capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"gpu_wheels: no wheel of {pin} for Python {python_version}:\n{built.stderr[-2000:]}")
    new = sorted(set(dest.iterdir()) - before)
    if len(new) != 1 or new[0].suffix != ".whl":
        raise SystemExit(f"gpu_wheels: {pin} gave {[path.name for path in new]}, not one wheel")
    tags = new[0].stem.split("-")[-3:]
    if tags[1] == "none" or tags[0].startswith(f"cp{python_version.replace('.', '')}"):
        return new[0]
    raise SystemExit(f"gpu_wheels: {pin} gave {new[0].name}, which Python {python_version} cannot install")


def download(pins: list[str], dest: Path, python_version: str) -> None:
    """Fetch every wheel into a fresh folder, then swap it in: never two versions of one package, never half a set."""
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    for pin in pins:
        wheel = fetch(pin, staging, python_version)
        print(f"{pin}: {wheel.name} ({wheel.stat().st_size / 2**20:.1f} MiB)", flush=True)
    listing = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}" for path in sorted(staging.iterdir())]
    (staging / "SHA256SUMS").write_text("\n".join(listing) + "\n")
    if dest.exists():
        old = dest.with_name(dest.name + ".old")
        subprocess.run(["rm", "-rf", str(old)], check=True)
        dest.rename(old)
        staging.rename(dest)
        subprocess.run(["rm", "-rf", str(old)], check=True)
    else:
        staging.rename(dest)
    total = sum(path.stat().st_size for path in dest.iterdir())
    print(f"{len(pins)} wheels, {total / 2**20:.1f} MiB in {dest} (the device tool carries 64 MiB in all)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["download", "list", "check"])
    parser.add_argument("--dest", default=str(HERE.parent / ".whl"), help="the wheels folder (default: .whl)")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python")
    options = parser.parse_args(argv)
    needed = closure(project_requirements())
    if options.action == "check":
        problems = unmet(needed)
        for problem in problems:
            print(f"gpu_wheels check: {problem}", file=sys.stderr)
        print(f"gpu_wheels check: {len(needed)} distributions, {len(problems)} unmet requirements")
        return 1 if problems else 0
    pins = to_carry(needed, machine_packages())
    if options.action == "list":
        print("\n".join(pins))
        return 0
    download(pins, Path(options.dest), options.python_version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
