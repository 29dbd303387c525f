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
