import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def snakemake(*args, cwd, timeout=1800):
    """Run the real Snakemake CLI of this environment on the project's Snakefile."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="2")
    command = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fake_django(tmp_path):
    """A directory laid out like an installed django package with hand-written catalogs."""
    root = tmp_path / "django"

    def add_catalog(locale, entries, domain="django", app="conf"):
        path = root / app / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        path.write_text(header + "\n".join(entries), encoding="utf-8")
        return path

    root.mkdir()
    return root, add_catalog


def have(program):
    return shutil.which(program) is not None
