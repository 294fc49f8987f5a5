"""The release metadata a user cites and installs by: one version everywhere, the license pyproject declares, a
citation file that names the paper, and the README's BibTeX for the same paper."""

import re
import tomllib

import yaml

import lssd
from tests.helpers import REPO


def test_one_version_in_pyproject_the_package_the_citation_and_the_changelog():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert lssd.__version__ == version
    assert citation["version"] == version
    assert f"## [{version}]" in changelog


def test_the_license_file_is_the_license_pyproject_declares():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert declared == citation["license"] == "MIT"
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_the_citation_file_prefers_the_lssd_paper_and_the_readme_bibtex_agrees():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type"):
        assert citation[key], key
    paper = citation["preferred-citation"]
    assert paper["title"] == "Unifying the Convergences in Multilingual Neural Machine Translation"
    assert [a["family-names"] for a in paper["authors"]] == ["Huang", "Feng", "Geng", "Qin"]
    assert paper["year"] == 2022 and (paper["start"], paper["end"]) == (6822, 6835)
    bibtex = re.search(r"```bibtex\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert bibtex, "the README has no bibtex block"
    entry = bibtex.group(1)
    assert paper["title"] in entry and paper["doi"] in entry and "6822--6835" in entry
    assert "Huang, Yichong and Feng, Xiaocheng and Geng, Xinwei and Qin, Bing" in entry
