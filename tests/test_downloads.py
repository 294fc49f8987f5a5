"""The downloader against a real HTTP server on 127.0.0.1: verified files, and clean failures."""

import hashlib

import pytest

from lssd.data import download as dl
from tests.helpers import REPO
from tests.mirror import serve

PAYLOAD = bytes(range(256)) * 400  # 100 KiB, not HTML


def entry(name="archive.tgz", data=PAYLOAD, **changes):
    fields = dict(
        name=name,
        url=f"https://example.invalid/{name}",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5="",
    )
    fields.update(changes)
    return dl.Entry(**fields)


@pytest.fixture
def served(tmp_path):
    source = tmp_path / "served"
    source.mkdir()
    (source / "archive.tgz").write_bytes(PAYLOAD)
    return source


def leftovers(directory):
    return sorted(path.name for path in directory.iterdir())


def test_download_from_the_mirror_is_verified_and_renamed_into_place(served, tmp_path):
    out = tmp_path / "downloads" / "archive.tgz"
    with serve(served) as (url, server):
        digests = dl.download(entry(), out, mirror=url, retries=0)
    assert out.read_bytes() == PAYLOAD
    assert digests["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert server.requests == ["archive.tgz"]  # the table's own URL (example.invalid) was never used
    assert leftovers(out.parent) == ["archive.tgz"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("html", "answered an HTML page"),
        ("404", "HTTP 404"),
        ("truncated", "truncated body: received 51200 of 102400 bytes"),
        ("corrupt", "checksum mismatch: sha256"),
    ],
)
def test_bad_server_fails_naming_the_url_and_leaves_nothing(served, tmp_path, fault, message):
    out = tmp_path / "downloads" / "archive.tgz"
    with serve(served, faults={"archive.tgz": fault}) as (url, server):
        with pytest.raises(dl.DownloadError) as error:
            dl.download(entry(), out, mirror=url, retries=1, pause=0)
    text = str(error.value)
    assert f"{url}/archive.tgz" in text and message in text
    assert not out.exists() and leftovers(out.parent) == []
    # a cut-short body is worth a second try; an HTML page, a 404 or a wrong checksum of a whole body are not
    assert len(server.requests) == (2 if fault == "truncated" else 1)


def test_a_transient_truncation_is_retried(served, tmp_path):
    out = tmp_path / "archive.tgz"
    with serve(served, faults={"archive.tgz": "truncated_once"}) as (url, server):
        dl.download(entry(), out, mirror=url, retries=2, pause=0)
    assert out.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_wrong_size_in_the_table_is_an_error(served, tmp_path):
    with serve(served) as (url, _):
        with pytest.raises(dl.DownloadError, match="received 102400 bytes, expected 99"):
            dl.download(entry(size=99), tmp_path / "archive.tgz", mirror=url, retries=0)


def test_md5_is_checked_when_that_is_the_published_checksum(served, tmp_path):
    good = entry(sha256="", md5=hashlib.md5(PAYLOAD).hexdigest())
    bad = entry(sha256="", md5="0" * 32)
    with serve(served) as (url, _):
        dl.download(good, tmp_path / "good.tgz", mirror=url, retries=0)
        with pytest.raises(dl.DownloadError, match="md5 of the 102400 bytes received"):
            dl.download(bad, tmp_path / "bad.tgz", mirror=url, retries=0)
    assert (tmp_path / "good.tgz").exists() and not (tmp_path / "bad.tgz").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a.tgz\tftp://x/a.tgz\t\t\t\t\t", "is not an http(s) URL"),
        ("a.tgz\thttp://x/a.tgz\t12\tABC\t\t\t", "sha256 'ABC' is not 64 lowercase hex digits"),
        ("a.tgz\thttp://x/a.tgz\tbig\t\t\t\t", "bytes 'big' is not a whole number"),
        ("a.tgz\thttp://x/a.tgz", "2 tab-separated fields, expected 7"),
        ("../a.tgz\thttp://x/a.tgz\t\t\t\t\t", "must be a plain file name"),
    ],
)
def test_malformed_table_rows_name_the_file_and_line(tmp_path, row, message):
    table = tmp_path / "downloads.tsv"
    table.write_text("# comment\nname\turl\tbytes\tsha256\tmd5\tprovenance\tlicense\n" + row + "\n")
    with pytest.raises(ValueError) as error:
        dl.read_table(table)
    assert f"{table}, line 3" in str(error.value) and message in str(error.value)


def test_the_checked_in_table_matches_sacrebleus_test_set_metadata():
    """The dev/test archives' URLs and md5s are sacrebleu's (a second, independent record of them)."""
    from sacrebleu.dataset import DATASETS

    table = dl.read_table(REPO / "config" / "downloads.tsv")
    ted = table["ted_talks.tar.gz"]
    assert ted.size == 352_222_045
    assert ted.sha256 == "03457b9ebc6d60839f1a48c5a03c940266aff78b81fcda4c6d9e2a5a7fb670ae"
    names = {"wmt13": "wmt13-test.tgz", "wmt14": "wmt14-test-filtered.tgz", "wmt16": "wmt16-test.tgz"}
    names |= {"wmt16/dev": "wmt16-dev.tgz", "wmt17": "wmt17-test.tgz", "wmt17/dev": "wmt17-dev.tgz"}
    names |= {"wmt18": "wmt18-test.tgz", "wmt18/dev": "wmt18-dev.tgz"}
    for dataset, name in names.items():
        meta = DATASETS[dataset]
        assert (table[name].url, table[name].md5) == (meta.data[0], meta.md5[0]), dataset


def test_the_paper_configs_dev_and_test_members_are_the_ones_sacrebleu_reads():
    import yaml
    from sacrebleu.dataset import DATASETS

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    corpora = paper["datasets"]["wmt6"]["source"]["corpora"]
    by_archive = {"wmt13-test.tgz": "wmt13", "wmt14-test-filtered.tgz": "wmt14", "wmt16-test.tgz": "wmt16"}
    by_archive |= {"wmt16-dev.tgz": "wmt16/dev", "wmt17-test.tgz": "wmt17", "wmt17-dev.tgz": "wmt17/dev"}
    by_archive |= {"wmt18-test.tgz": "wmt18", "wmt18-dev.tgz": "wmt18/dev"}
    codes = {"fra": "fr", "deu": "de", "zho": "zh", "est": "et", "ron": "ro", "tur": "tr"}
    for lang, sets in corpora.items():
        for split in ("valid", "test"):
            entry_ = sets[split]
            files = DATASETS[by_archive[entry_["download"]]].langpairs[f"{codes[lang]}-en"]
            assert [f.split("/")[-1] for f in files] == [entry_["foreign"], entry_["english"]], (lang, split)
