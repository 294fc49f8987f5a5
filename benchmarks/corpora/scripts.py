"""How each language's words are spelled, and the words themselves.

Per-language alphabets in the language's script (Latin with the language's diacritics, Cyrillic, Greek, Hangul,
Devanagari, Han without spaces between words, Arabic, Hebrew, Thai, ...), built from syllables; ``word_list``
spells a vocabulary from them in Zipf rank order, frequent words short.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

MAX_SYLLABLES = 5


@dataclass(frozen=True)
class Script:
    syllables: tuple[str, ...]
    spaced: bool = True  # words separated by spaces (Chinese, Japanese, Thai, Burmese are not)
    cased: bool = True
    comma: str = ","
    stops: tuple[str, str, str] = (".", "?", "!")
    ratio: float = 1.0  # tokens per English token in a translation
    growth: tuple[float, float] = (0.0, 0.25)  # syllables per word: 1 + Poisson(a + b * log10(rank + 1))
    clitics: tuple[tuple[str, str, str], ...] = ()  # (Moses form, raw form, "left"/"right": where the raw one attaches)


def combos(onsets: Iterable[str], vowels: Iterable[str], codas: Iterable[str] = ()) -> tuple[str, ...]:
    """Every onset+vowel syllable, as many onset+vowel+coda ones (an even spread of them), every bare vowel: as
    many closed syllables as open ones keeps words about as long as real ones."""
    onsets, vowels, codas = list(onsets), list(vowels), list(codas)
    open_syllables = [onset + vowel for onset in onsets for vowel in vowels]
    closed = [onset + vowel + coda for onset in onsets for vowel in vowels for coda in codas]
    step = max(1, math.ceil(len(closed) / max(1, len(open_syllables))))
    return tuple(dict.fromkeys(open_syllables + closed[::step] + vowels))


CLUSTERS = ("st", "tr", "pr", "br", "gr", "pl", "kr", "sl")


def latin(vowels="aeiou", extra="", clusters=(), codas="nrslmt", **options) -> Script:
    onsets = list("bcdfghjklmnprstvz") + list(extra) + list(CLUSTERS) + list(clusters)
    return Script(combos(onsets, vowels, codas), **options)


def cyrillic(vowels="аеиоуяю", consonants="бвгдзклмнпрстфхцчшж", codas="нрслмтв", **options) -> Script:
    return Script(combos(consonants, vowels, codas), **options)


def abugida(consonants: str, signs: Iterable[str], extra: Iterable[str] = (), **options) -> Script:
    """Consonant + vowel sign (an empty sign: the inherent vowel), plus independent vowels or codas."""
    return Script(tuple(dict.fromkeys([c + s for c in consonants for s in signs] + list(extra))), **options)


def hangul() -> tuple[str, ...]:
    # a block is 0xAC00 + (initial * 21 + vowel) * 28 + final; finals: none, ㄴ ㄹ ㅁ ㅂ ㅇ
    return tuple(
        chr(0xAC00 + (initial * 21 + vowel) * 28 + final)
        for initial in range(19)
        for vowel in (0, 1, 4, 6, 8, 12, 13, 17, 18, 20)
        for final in (0, 4, 8, 16, 17, 21)
    )


def han(count: int, key: str, kana: bool = False) -> tuple[str, ...]:
    """``count`` CJK ideographs (a fixed draw per ``key``), with the kana syllabaries for Japanese."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    chars = [chr(0x4E00 + int(code)) for code in np.sort(rng.choice(0x9FA5 - 0x4E00, count, replace=False))]
    if kana:
        chars += [chr(code) for code in range(0x3042, 0x3093)] + [chr(code) for code in range(0x30A2, 0x30F3)]
    return tuple(chars)


ENGLISH_CLITICS = (("&apos;s", "'s", "left"), ("&apos;t", "'t", "left"), ("&apos;re", "'re", "left"),
                   ("&apos;m", "'m", "left"), ("&apos;ve", "'ve", "left"), ("&apos;ll", "'ll", "left"))  # fmt: skip
FRENCH_CLITICS = (("l&apos;", "l'", "right"), ("d&apos;", "d'", "right"), ("qu&apos;", "qu'", "right"),
                  ("c&apos;", "c'", "right"), ("n&apos;", "n'", "right"), ("j&apos;", "j'", "right"),
                  ("s&apos;", "s'", "right"))  # fmt: skip
ITALIAN_CLITICS = (("l&apos;", "l'", "right"), ("un&apos;", "un'", "right"), ("dell&apos;", "dell'", "right"),
                   ("all&apos;", "all'", "right"), ("c&apos;", "c'", "right"))  # fmt: skip
HAN_GROWTH = (0.15, 0.2)  # Chinese words: mostly one or two characters
CJK = {"spaced": False, "cased": False, "comma": "，", "stops": ("。", "？", "！"), "growth": HAN_GROWTH}
ARABIC = {"cased": False, "comma": "،", "stops": (".", "؟", "!")}
VIETNAMESE_VOWELS = "aáàảãạăắằẳẵặâấầẩẫậeéèẻẽẹêếềểễệiíìỉĩịoóòỏõọôốồổỗộơớờởỡợuúùủũụưứừửữựyýỳỷỹỵ"
VIETNAMESE_ONSETS = (*"bcdđghklmnpqrstvx", "ch", "nh", "ng", "th", "tr", "ph", "kh")
DEVANAGARI = "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
DEVANAGARI_SIGNS = ("", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं")
DEVANAGARI_VOWELS = tuple("अआइईउऊएऐओऔ")

SCRIPTS: dict[str, Callable[[], Script]] = {
    "en": lambda: latin(extra="wy", clusters=("th", "sh", "ch", "wh"), codas="nrstldk", clitics=ENGLISH_CLITICS),
    "es": lambda: latin("aeiouáéíóú", "ñ", ratio=1.08),
    "pt-br": lambda: latin("aeiouáâãéêíóôõú", "ç", ratio=1.05),
    "pt": lambda: latin("aeiouáâãéêíóôõú", "ç", ratio=1.05),
    "gl": lambda: latin("aeiouáéíóú", "ñ", ratio=1.05),
    "fr": lambda: latin("aeiouéèêàâîôûùë", "ç", ("ch", "qu"), ratio=1.12, clitics=FRENCH_CLITICS),
    "fr-ca": lambda: latin("aeiouéèêàâîôûùë", "ç", ("ch", "qu"), ratio=1.12, clitics=FRENCH_CLITICS),
    # "calv" (TED's own code) is read as Catalan/Valencian: an assumption, it only chooses the diacritics
    "calv": lambda: latin("aeiouàèéíïòóúü", "ç", ratio=1.08, clitics=FRENCH_CLITICS[:2]),
    "it": lambda: latin("aeiouàèéìòù", ratio=1.03, clitics=ITALIAN_CLITICS),
    "ro": lambda: latin("aeiouăâî", "șț", ratio=1.05),
    "de": lambda: latin("aeiouäöü", "wß", ("sch", "ch", "pf"), codas="nrstlch", ratio=0.95),
    "nl": lambda: latin(("a", "e", "i", "o", "u", "ij", "ee", "oe"), "wj", ("sch",), ratio=0.98),
    "da": lambda: latin("aeiouyæøå", "w", ratio=0.95),
    "nb": lambda: latin("aeiouyæøå", "w", ratio=0.95),
    "sv": lambda: latin("aeiouyåäö", "w", ratio=0.95),
    "fi": lambda: latin(("a", "e", "i", "o", "u", "y", "ä", "ö", "aa", "ää"), ratio=0.75),
    "et": lambda: latin("aeiouäöüõ", "šž", ratio=0.8),
    "hu": lambda: latin("aáeéiíoóöőuúüű", "y", ("sz", "gy", "cs"), ratio=0.85),
    "cs": lambda: latin("aeiouyáéěíóúůý", "čďňřšťž", ratio=0.85),
    "sk": lambda: latin("aeiouyáäéíóôúý", "čďĺľňŕšťž", ratio=0.85),
    "pl": lambda: latin("aąeęioóuy", "ćłńśźżw", ("sz", "cz", "rz"), ratio=0.88),
    "sl": lambda: latin("aeiou", "čšž", ratio=0.9),
    "hr": lambda: latin("aeiou", "čćšžđ", ratio=0.9),
    "bs": lambda: latin("aeiou", "čćšžđ", ratio=0.9),
    "sq": lambda: latin("aeiouëy", "çq", ratio=1.05),
    "lt": lambda: latin("aąeęėiįouųūy", "čšž", ratio=0.85),
    "tr": lambda: latin("aeıioöuü", "çğşy", ratio=0.78),
    "az": lambda: latin("aeəıioöuü", "çğşxqy", ratio=0.8),
    "ku": lambda: latin("aeiouêîû", "çşxqw", ratio=0.95),
    "eo": lambda: latin("aeiouŭ", "ĉĝĥĵŝ", ratio=1.0),
    "eu": lambda: latin("aeiou", "ñx", ("tx", "tz"), ratio=0.85),
    "id": lambda: latin("aeiou", "wy", ("ng", "ny"), ratio=0.9),
    "ms": lambda: latin("aeiou", "wy", ("ng", "ny"), ratio=0.92),
    # Vietnamese writes a space between syllables: its words are one syllable, the syllables many
    "vi": lambda: Script(
        combos(VIETNAMESE_ONSETS, VIETNAMESE_VOWELS, ("n", "c", "t", "m", "ng")), growth=(0.0, 0.05), ratio=1.3
    ),
    "ru": lambda: cyrillic("аеиоуыяю", "бвгдзклмнпрстфхцчшщж", ratio=0.88),
    "bg": lambda: cyrillic("аеиоуъяю", "бвгдзклмнпрстфхцчшщж", ratio=0.95),
    "uk": lambda: cyrillic("аеиіоуяюєї", "бвгґдзклмнпрстфхцчшщж", ratio=0.9),
    "be": lambda: cyrillic("аеіоуыяюэ", "бвгдзклмнпрстфхцчшжў", ratio=0.9),
    "mk": lambda: cyrillic("аеиоу", "бвгдѓжзѕјклљмнњпрсќтфхцчџш", ratio=0.95),
    "sr": lambda: cyrillic("аеиоу", "бвгдђжзјклљмнњпрстћфхцчџш", ratio=0.9),
    "kk": lambda: cyrillic("аеиоуыәөүұі", "бвгғдзйкқлмнңпрстшж", ratio=0.85),
    "mn": lambda: cyrillic("аэиоуөүыя", "бвгдзклмнпрстхцчшж", ratio=0.85),
    "el": lambda: Script(combos("βγδζθκλμνξπρστφχψ", "αεηιουωάέήίόύώ", "νρ"), stops=(".", ";", "!"), ratio=1.05),
    "ko": lambda: Script(hangul(), cased=False, growth=(0.6, 0.25), ratio=0.75),
    "zh-cn": lambda: Script(han(3000, "zh-cn"), **CJK),
    "zh-tw": lambda: Script(han(3000, "zh-tw"), **CJK),
    "zh": lambda: Script(han(3000, "zh"), **CJK),
    "ja": lambda: Script(han(1800, "ja", kana=True), **{**CJK, "comma": "、", "growth": (0.4, 0.3)}),
    "hi": lambda: abugida(DEVANAGARI, DEVANAGARI_SIGNS, DEVANAGARI_VOWELS, cased=False, stops=("।", "?", "!")),
    "mr": lambda: abugida(DEVANAGARI + "ळ", DEVANAGARI_SIGNS, DEVANAGARI_VOWELS, cased=False, ratio=0.8),
    "bn": lambda: abugida(
        "কখগঘচছজঝটঠডঢণতথদধনপফবভমযরলশষসহ",
        ("", "া", "ি", "ী", "ু", "ূ", "ে", "ৈ", "ো", "ৌ"),
        tuple("অআইউএও"),
        cased=False,
        stops=("।", "?", "!"),
        ratio=0.85,
    ),
    "ta": lambda: abugida(
        "கஙசஞடணதநபமயரலவழளறன",
        ("", "ா", "ி", "ீ", "ு", "ூ", "ெ", "ே", "ை", "ொ", "ோ", "்"),
        tuple("அஆஇஈஉஊஎஏஐஒ"),
        cased=False,
        ratio=0.75,
    ),
    "my": lambda: abugida(
        "ကခဂဃငစဆဇညတထဒဓနပဖဗဘမယရလဝသဟအ",
        ("", "ာ", "ိ", "ီ", "ု", "ူ", "ေ", "ဲ", "ံ"),
        spaced=False,
        cased=False,
        comma="၊",
        stops=("။", "?", "!"),
        growth=(0.3, 0.3),
    ),
    # Thai: no spaces between words and (mostly) no full stop at the end of a sentence
    "th": lambda: abugida(
        "กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮ",
        ("", "า", "ิ", "ี", "ึ", "ื", "ุ", "ู", "ั"),
        [p + c for p in "เแโไ" for c in "กคงจดตทนบปพมยรลวสห"],
        spaced=False,
        cased=False,
        stops=("", "?", "!"),
        growth=(0.4, 0.3),
    ),
    "ar": lambda: abugida("بتثجحخدذرزسشصضطظعغفقكلمنهوي", ("", "ا", "و", "ي"), **ARABIC, ratio=0.85),
    "fa": lambda: abugida("بپتثجچحخدذرزژسشصضطظعغفقکگلمنهوی", ("", "ا", "و", "ی"), **ARABIC, ratio=1.0),
    "ur": lambda: abugida(
        "بپتٹجچحخدڈرڑزسشصطعغفقکگلمنوہی", ("", "ا", "و", "ی", "ے"), **{**ARABIC, "stops": ("۔", "؟", "!")}, ratio=1.05
    ),
    "he": lambda: abugida("אבגדהוזחטיכלמנסעפצקרשת", ("", "ו", "י", "א"), cased=False, ratio=0.85),
    "hy": lambda: Script(
        combos("բգդզթժլխծկհձղճմյնշչպջռսվտրցփքֆ", ("ա", "ե", "է", "ը", "ի", "ո", "ու", "օ"), "նրմ"),
        stops=("։", "?", "!"),
        ratio=0.9,
    ),
    # Georgian: str.capitalize would turn a Mkhedruli letter into Mtavruli, which running text does not use
    "ka": lambda: Script(combos("ბგდვზთკლმნპჟრსტფქღყშჩცძწჭხჯჰ", "აეიოუ", "ნრსლმ"), cased=False, ratio=0.85),
}


# ---------------------------------------------------------------------------------------------------------------
# Words


def utf8_blob(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of ``strings`` back to back, with each one's offset and length."""
    encoded = [text.encode() for text in strings]
    sizes = np.fromiter((len(data) for data in encoded), dtype=np.int64, count=len(encoded))
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return blob, np.cumsum(sizes) - sizes, sizes


def gather(blob: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> bytes:
    """The concatenation of ``blob[starts[i]:starts[i] + lengths[i]]`` over ``i``, as one vectorised gather."""
    total = int(lengths.sum())
    if total == 0:
        return b""
    kind = np.int32 if max(total, blob.size) < 2**31 else np.int64  # half the memory traffic of int64
    lengths = lengths.astype(kind, copy=False)
    ends = np.cumsum(lengths, dtype=kind)
    index = np.repeat(starts.astype(kind, copy=False) - (ends - lengths), lengths)
    index += np.arange(total, dtype=kind)
    return blob[index].tobytes()


def affine_codes(count: int, modulus: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct numbers below ``modulus``: the first ones of a random affine bijection of [0, modulus)."""
    multiplier = int(rng.integers(1, 2**40)) | 1
    while math.gcd(multiplier, modulus) != 1:
        multiplier += 2
    offset = int(rng.integers(0, modulus))
    return (np.arange(count, dtype=np.int64) * multiplier + offset) % modulus  # < 2**57 + 2**61: no overflow


def word_list(script: Script, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` words in Zipf rank order (frequent words short), as a UTF-8 blob, offsets and lengths.

    A word's syllable count is 1 + Poisson(a + b log10(rank + 1)); within one syllable count, the words are the
    first codes of a random bijection of all syllable sequences of that length, so no two words are spelled with
    the same syllables (two sequences can still spell one string, which merely merges two types).
    """
    syllables = list(script.syllables)
    size = len(syllables)
    growth = script.growth[0] + script.growth[1] * np.log10(np.arange(count) + 1.0)
    longest = min(MAX_SYLLABLES, int(61 / math.log2(size)))  # the codes of size**longest sequences fit in int64
    length = np.minimum(1 + rng.poisson(growth), longest)
    for syllable_count in range(1, longest):  # more words of a length than it can spell: the rarest get longer
        chosen = np.flatnonzero(length == syllable_count)
        length[chosen[size**syllable_count :]] += 1
    digits = np.zeros((count, longest), dtype=np.int64)
    for syllable_count in range(1, longest + 1):
        chosen = np.flatnonzero(length == syllable_count)
        codes = affine_codes(len(chosen), size**syllable_count, rng)
        for place in range(syllable_count):
            codes, digits[chosen, place] = np.divmod(codes, size)
    order = rng.permutation(size)  # which syllable a digit spells
    syllable_ids = order[digits[np.arange(longest) < length[:, None]]]
    blob, offsets, sizes = utf8_blob(syllables)
    word_bytes = np.add.reduceat(sizes[syllable_ids], np.cumsum(length) - length)
    words = np.frombuffer(gather(blob, offsets[syllable_ids], sizes[syllable_ids]), dtype=np.uint8)
    return words, np.cumsum(word_bytes) - word_bytes, word_bytes
