"""requirements.lock: the exact versions the tests passed with, installed by scripts/install.sh by default."""

import os
import re
import stat
import subprocess
import tomllib
from importlib import metadata

from tests.helpers import REPO

UNPINNED = {"torch", "lssd", "pip"}  # torch: TORCH_SPEC decides the build; lssd: this checkout; pip: upgraded first


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def locked():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def test_the_lock_pins_every_dependency_of_the_project_and_nothing_it_leaves_to_torch_spec():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {canonical(re.match(r"[A-Za-z0-9_.-]+", spec).group()) for spec in wanted}
    pins = locked()
    assert names - UNPINNED <= set(pins), sorted(names - UNPINNED - set(pins))
    assert not UNPINNED & set(pins)


def torch_requirements():
    """What the installed torch itself requires: install.sh leaves these to a torch it keeps (a CUDA build installed
    first differs from the CPU build the lock was written with, e.g. torch 2.11 wants setuptools < 82)."""
    return {canonical(re.match(r"[A-Za-z0-9_.-]+", line).group()) for line in metadata.requires("torch") or []}


def test_the_environment_running_the_tests_has_the_locked_versions():
    """What CI installs is what the lock says (install.sh read it); a version that drifted names the way back."""
    pins = locked()
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    left_to_torch = torch_requirements()
    drifted = {
        name: (version, installed[name])
        for name, version in pins.items()
        if installed.get(name, version) != version and name not in left_to_torch
    }
    assert not drifted, (
        f"installed versions differ from requirements.lock (locked, installed): {drifted}; reinstall "
        "with scripts/install.sh, or run scripts/lock.sh after a green test run to pin these"
    )


def fake_install_dir(tmp_path):
    """A copy of install.sh beside a venv whose python records its arguments instead of installing."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "install.sh").write_text((REPO / "scripts" / "install.sh").read_text())
    (tmp_path / "requirements.lock").write_text("")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    # `python -c "import fairseq"` fails: fairseq is not there yet, so its install runs too
    python.write_text(f'#!/bin/sh\n[ "$1" = -c ] && exit 1\necho "$@" >> {tmp_path / "calls"}\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"\n')
    return tmp_path


def install_calls(tmp_path, **env):
    workdir = fake_install_dir(tmp_path)
    subprocess.run(["bash", "scripts/install.sh"], cwd=workdir, env={**os.environ, **env}, check=True)
    return [line for line in (workdir / "calls").read_text().splitlines() if line.startswith("-m pip install")]


def test_install_uses_the_lock_as_constraints_for_every_install_but_pips_own_upgrade(tmp_path):
    calls = install_calls(tmp_path)
    assert calls[0] == "-m pip install --quiet --upgrade pip>=24"
    assert len(calls) == 4 and all("-c requirements.lock" in call for call in calls[1:]), calls
    assert "fairseq-fixed==0.12.3.1" in calls[2] and "-e .[test]" in calls[3]


def test_install_unpinned_on_request(tmp_path):
    calls = install_calls(tmp_path, LSSD_UNPINNED="1")
    assert len(calls) == 4 and not any("requirements.lock" in call for call in calls), calls
