"""Archive members: found by path suffix, extracted at their own paths, and named when they are not regular files."""

import io
import stat
import tarfile
import zipfile

import pytest

from lssd.data import wmt
from lssd.data.archive import extract_members, find_member
from lssd.data.parallel import read_parallel
from tests.helpers import PIVOT

DEV_FR, TEST_FR = b"dev un\ndev deux\n", b"test un\ntest deux\ntest trois\n"


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def add_special(archive: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    archive.addfile(info)


def dev_test_archive(path, files):
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    else:
        with tarfile.open(path, "w:gz") as archive:
            for name, data in files.items():
                add_file(archive, name, data)


@pytest.mark.parametrize("name", ["sets.tgz", "sets.zip"])
def test_dev_and_test_members_with_one_base_name_are_two_files(tmp_path, name):
    archive = tmp_path / name
    dev_test_archive(archive, {"dev/set.fr": DEV_FR, "./test/set.fr": TEST_FR})
    out = tmp_path / "out"
    extracted = extract_members(archive, ["dev/set.fr", "test/set.fr"], out)
    assert extracted["dev/set.fr"] != extracted["test/set.fr"]
    assert extracted["dev/set.fr"].read_bytes() == DEV_FR and extracted["test/set.fr"].read_bytes() == TEST_FR
    assert all(path.is_relative_to(out) for path in extracted.values())


def test_two_suffixes_naming_one_member_both_get_it(tmp_path):
    archive = tmp_path / "sets.tgz"
    dev_test_archive(archive, {"dev/set.fr": DEV_FR})
    extracted = extract_members(archive, ["set.fr", "dev/set.fr"], tmp_path / "out")
    assert extracted["set.fr"] == extracted["dev/set.fr"] and extracted["set.fr"].read_bytes() == DEV_FR


def test_wmt_dev_and_test_sets_sharing_a_base_name_stay_apart(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    train_fr, train_en = (
        b"".join(b"phrase %d\n" % i for i in range(5)),
        b"".join(b"sentence %d\n" % i for i in range(5)),
    )
    files = {"train/c.fr": train_fr, "train/c.en": train_en, "dev/set.fr": DEV_FR, "test/set.fr": TEST_FR}
    files |= {"dev/set.en": b"dev one\ndev two\n", "test/set.en": b"test one\ntest two\ntest three\n"}
    dev_test_archive(downloads / "release.tgz", files)

    def pair(prefix):
        return {"download": "release.tgz", "foreign": f"{prefix}/set.fr", "english": f"{prefix}/set.en"}

    train = {"download": "release.tgz", "foreign": "train/c.fr", "english": "train/c.en"}
    spec = {
        "pivot": PIVOT,
        "languages": {"fra": {"role": "high", "reference_size": 10}},
        "source": {"kind": "wmt", "corpora": {"fra": {"train": [train], "valid": pair("dev"), "test": pair("test")}}},
    }
    out = tmp_path / "data" / "wmt"
    wmt.build(spec, "wmt", downloads, out, log=io.StringIO())
    assert read_parallel(out, "valid", "fra", PIVOT) == [("dev un", "dev one"), ("dev deux", "dev two")]
    assert [foreign for foreign, _ in read_parallel(out, "test", "fra", PIVOT)] == [
        "test un",
        "test deux",
        "test trois",
    ]


@pytest.mark.parametrize("name", ["../escape.fr", "/etc/escape.fr", "a/../../escape.fr"])
def test_a_member_path_leaving_the_output_directory_is_refused(tmp_path, name):
    archive = tmp_path / "bad.tgz"
    dev_test_archive(archive, {name: b"x\n"})
    out = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match=rf"{archive}: member '{name}' has an unsafe path"):
        extract_members(archive, ["escape.fr"], out)
    assert not (tmp_path / "deep" / "escape.fr").exists() and not (tmp_path / "escape.fr").exists()


@pytest.mark.parametrize(
    ("kind", "linkname", "description"),
    [
        (tarfile.SYMTYPE, "../real/y.fr", "a symbolic link to '../real/y.fr'"),
        (tarfile.LNKTYPE, "real/y.fr", "a hard link to 'real/y.fr'"),
        (tarfile.DIRTYPE, "", "a directory"),
        (tarfile.FIFOTYPE, "", "a FIFO"),
    ],
    ids=["symlink", "hardlink", "directory", "fifo"],
)
def test_a_member_that_is_not_a_regular_file_is_named_with_what_it_is(tmp_path, kind, linkname, description):
    archive = tmp_path / "links.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        add_file(handle, "real/y.fr", b"bonjour\n")
        add_special(handle, "x/y.fr", kind, linkname)
    message = f"{archive}: member 'x/y.fr' is {description}, not a regular file"
    with pytest.raises(ValueError) as error:
        extract_members(archive, ["x/y.fr"], tmp_path / "out")
    assert str(error.value) == message


def test_a_zip_symlink_is_named_not_extracted_as_its_target_path(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("real/y.fr", b"bonjour\n")
        link = zipfile.ZipInfo("x/y.fr")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        handle.writestr(link, b"../real/y.fr")
    with pytest.raises(ValueError, match=r"member 'x/y.fr' is a symbolic link to '../real/y.fr', not a regular file"):
        find_member(archive, "x/y.fr")
