"""Vietnamese text helpers: NFC normalisation, diacritic folding for search, ASCII slugs.

>>> fold("Hà Nội")
'ha noi'
>>> slugify("Liên đoàn Lao động tỉnh Bà Rịa - Vũng Tàu")
'lien_doan_lao_dong_tinh_ba_ria_vung_tau'
"""

from __future__ import annotations

import re
import unicodedata

# "đ" is a letter of its own, not "d" with a combining mark, so NFD does not split it.
_SPECIAL = str.maketrans({"đ": "d", "Đ": "D"})
_NON_WORD = re.compile(r"[^a-z0-9]+")


def nfc(value: str) -> str:
    """Normalise to NFC (files from some office tools arrive in NFD)."""
    return unicodedata.normalize("NFC", value)


def fold(value: str) -> str:
    """Lower case without diacritics, for search that ignores them ("ha noi" finds "Hà Nội")."""
    decomposed = unicodedata.normalize("NFD", value.translate(_SPECIAL))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


def slugify(value: str, sep: str = "_") -> str:
    """ASCII identifier safe for Ansible group names and URLs."""
    return _NON_WORD.sub(sep, fold(value)).strip(sep)


# -- checks shared by every import (files, API) ----------------------------------------------
# C0/C1 control characters (NUL, tab, line breaks included: every field of the contract is one
# line of text) and the invisible characters that make two codes look equal but differ:
# zero-width space/joiners, word joiner, BOM inside a value, bidi embeddings/overrides/isolates
# and the Unicode line/paragraph separators, soft hyphen, left/right and Arabic letter marks,
# lone surrogates. One rule for imports, the API and the services (``bad_char``); the web's
# body check (``TEXT_BAD_CHARS``) lets tab and line breaks through to the field's own rule.
_CONTROL = "\x00-\x1f\x7f-\x9f"
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\ud800-\udfff"
)
BAD_CHARS = re.compile(f"[{_CONTROL}{_INVISIBLE}]")
TEXT_BAD_CHARS = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_INVISIBLE}]")


def bad_char(value: str) -> str | None:
    """The first character of ``value`` that user text may not hold, or None.

    >>> bad_char("Hà Nội"), bad_char("a\\x00b"), bad_char("HN\\u200b"), bad_char("a\\u200eb")
    (None, '\\x00', '\\u200b', '\\u200e')
    """
    m = BAD_CHARS.search(value)
    return m[0] if m else None


_CODE = re.compile(r"[A-Z0-9-]+")


def escape(value: str) -> str:
    """``value`` with every control or invisible character written as an escape, for messages.

    >>> escape("HN\\x00\\u200b1")
    'HN\\\\x00\\\\u200b1'
    """
    return BAD_CHARS.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", value
    )


def control_problem(value: str) -> tuple[str, str] | None:
    """``(why_vi, why_en)`` if ``value`` holds a control or invisible character, else ``None``.

    >>> control_problem("Hà Nội") is None
    True
    >>> control_problem("a\\x00b")[1]
    'contains the control character U+0000; remove it'
    """
    m = BAD_CHARS.search(value)
    if m is None:
        return None
    point = f"U+{ord(m[0]):04X}"
    if ord(m[0]) < 0x100:
        return (
            f"chứa ký tự điều khiển {point}; hãy xóa ký tự này",
            f"contains the control character {point}; remove it",
        )
    return (
        f"chứa ký tự ẩn {point} (độ rộng 0 / đảo chiều văn bản); hãy gõ lại giá trị",
        f"contains the invisible character {point} (zero-width or bidi); type the value again",
    )


def normalise_code(value: str) -> str:
    """A code as stored: trimmed and upper case (``hni`` and ``HNI`` are the same code).

    >>> normalise_code(" hni-bd ")
    'HNI-BD'
    """
    return value.strip().upper()


def code_problem(value: str) -> tuple[str, str] | None:
    """``(why_vi, why_en)`` unless ``value`` (already normalised) is a code: ``[A-Z0-9-]+``.

    >>> code_problem("HN-BD") is None, code_problem("HN_BD") is not None
    (True, True)
    """
    if value.isascii() and _CODE.fullmatch(value):
        return None
    bad = control_problem(value)
    if bad is not None:
        return bad
    return (
        "mã chỉ gồm chữ A-Z, số 0-9 và dấu gạch ngang '-' (không dấu, không khoảng trắng)",
        "a code may only hold the letters A-Z, digits 0-9 and '-' (no accents, no spaces)",
    )


# -- spreadsheet formulas in CSV exports ------------------------------------------------------
# A CSV cell opened in Excel/LibreOffice starting with one of these is run as a formula
# (=HYPERLINK(...), DDE "-2+3+cmd|..."). A leading apostrophe makes it text. A signed number
# or phone number ("-5", "-1.5", "+84912345678", "+84 28 3829 0000") is left alone: it holds
# no letter, quote, "|" or "!", so it can name no function, cell or program, and at worst
# Excel shows it as a number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"[+-]\d[\d .,()/-]*")


def _needs_quote(value: str) -> bool:
    first = value[:1]
    if first in _FORMULA_START:
        return not (first in "+-" and _SIGNED_NUMBER.fullmatch(value))
    # An apostrophe we would strip again on import must itself be protected, so that
    # csv_cell and csv_uncell are exact inverses for every value.
    return first == "'" and _needs_quote(value[1:])


def csv_cell(value: str) -> str:
    """``value`` safe to open in a spreadsheet: formula-like text gets a leading ``'``.

    >>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-5"), csv_cell("-x"), csv_cell("HN")
    ('\\'=HYPERLINK("http://x")', '-5', "'-x", 'HN')
    """
    return "'" + value if value and _needs_quote(value) else value


def csv_uncell(value: str) -> str:
    """The inverse of :func:`csv_cell` (the importer reads exported CSV back unchanged).

    >>> csv_uncell("'=1+1"), csv_uncell("'quoted"), csv_uncell(csv_cell("''=x"))
    ('=1+1', "'quoted", "''=x")
    """
    if value[:1] == "'" and _needs_quote(value[1:]):
        return value[1:]
    return value


def normalise_phone(value: str) -> str | None:
    """A Vietnamese phone number in the national format (``0912 345 678``, ``024 3826 5000``),
    or ``None`` when ``value`` is not a valid number (callers keep the original and warn).

    Accepts the spellings offices use: ``+84…``, ``84…``, a missing leading 0, dots, dashes,
    brackets.

    >>> normalise_phone("+84 912.345.678"), normalise_phone("(024) 38265000")
    ('0912 345 678', '024 3826 5000')
    >>> normalise_phone("gọi bảo vệ") is None
    True
    """
    import phonenumbers  # 0.1 s to import: only commands that handle phones pay for it

    try:
        number = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 84
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(number, fmt))
