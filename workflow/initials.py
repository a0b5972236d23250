"""The pinyin initials of a person's name, for finding a person by typing "zw" for 张伟.

Stored on the case (`cases.name_initials`, filled when the case is opened or its name is
corrected) so that the search is one SQL condition, never a scan of every name in Python.
A surname read otherwise than the character's common reading (曾 zeng, not ceng; 单 shan) is
found under each of its readings: the stored text holds one variant per reading of the first
character, each after a space (" cgf zgf"), and a search matches the start of any variant.
"""
from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin, pinyin

MAX_VARIANTS = 4
_KEEP = re.compile(r"[a-z0-9]")
QUERY = re.compile(r"[A-Za-z]{1,20}")  # what a search by initials looks like


def _letters(parts: list[str]) -> str:
    return "".join(c for part in parts for c in part.lower() if _KEEP.match(c))


def name_initials(name: str | None) -> str | None:
    """" zw" for 张伟; " cgf zgf" for 曾国藩; letters of a non-Chinese part kept whole ("Anna李"
    → " annal"); None for an empty name."""
    name = (name or "").strip()
    if not name:
        return None
    rest = _letters(lazy_pinyin(name[1:], style=Style.FIRST_LETTER))
    readings = pinyin(name[0], style=Style.FIRST_LETTER, heteronym=True)[0][:MAX_VARIANTS]
    common = _letters(lazy_pinyin(name[0], style=Style.FIRST_LETTER))
    firsts = dict.fromkeys([common, *(_letters([r]) for r in readings)])
    variants = [f + rest for f in firsts if f + rest]
    return "".join(f" {v}" for v in variants) or None
