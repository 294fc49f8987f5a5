import pytest

from tests.helpers import LANGS, REFERENCE_SIZES


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


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A real data-bin from three demo languages (per_language SentencePiece), shared by the fairseq tests."""
    from lssd.data import build_demo_data_bin

    root = tmp_path_factory.mktemp("task")
    spec = {
        "pivot": "eng",
        # bos and mkd cut to a dozen training pairs: upsampled by temperature sampling, they over-fit within a
        # few epochs, which is what makes LSSD switch distillation on in a short test run
        "languages": {lang: {"reference_size": size} for lang, size in REFERENCE_SIZES.items()},
        "source": {
            "kind": "django_catalogs",
            "locales": LANGS,
            "valid_percent": 10,
            "test_percent": 10,
            "subsample": {"floor": 12},
        },
        "spm": {"recipe": "per_language", "vocab_size": 400, "pivot_vocab_size": 500},
    }
    build_demo_data_bin(spec, "tiny", root)
    return root, spec
