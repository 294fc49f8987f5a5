"""The documentation a user navigates: every link between the README and docs/ resolves inside the repository
(the file exists; a #fragment names one of its headings), and no page points outside it to notes a user lacks."""

import re

from tests.helpers import REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def pages():
    return [
        REPO / "README.md",
        REPO / "config" / "README.md",
        REPO / "benchmarks" / "NOTES.md",
        *(REPO / "docs").glob("*.md"),
    ]


def anchors(path):
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_resolves_to_a_file_and_heading_of_the_repository():
    broken = []
    for page in pages():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: outside by design
                continue
            file, _, fragment = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if not linked.exists() or (fragment and fragment not in anchors(linked)):
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, broken


def test_no_page_or_config_refers_to_notes_outside_the_repository():
    texts = [*pages(), *(REPO / "config").glob("*.yaml")]
    outside = [str(path.relative_to(REPO)) for path in texts if re.search(r"\.\./shared|spec §", path.read_text())]
    assert not outside, outside


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 150
    for page in (REPO / "docs").glob("*.md"):
        assert f"](docs/{page.name})" in readme, page.name


def test_the_paper_disk_table_is_what_the_disk_command_prints():
    """docs/paper.md's disk table (a user sizes a 100-GPU-hour run's disk by it) is the disk command's output."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "lssd.run.disk", "--configfile", "config/paper.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) >= 4, result.stdout
    page = (REPO / "docs" / "paper.md").read_text(encoding="utf-8")
    assert all(row in page for row in rows), [row for row in rows if row not in page]
