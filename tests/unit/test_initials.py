"""A name's pinyin initials, as the case search stores them (workflow/initials.py)."""
from __future__ import annotations

from workflow.initials import QUERY, name_initials


def test_initials_of_names():
    assert name_initials("张伟") == " zw"
    assert name_initials("欧阳娜娜") == " oynn"
    # a polyphonic surname under each reading, the common one first
    assert name_initials("曾国藩") == " cgf zgf"
    assert name_initials("Anna李") == " annal"  # letters of a non-Chinese part kept
    assert name_initials("李·娜") == " ln"  # the middle dot of a transliterated name dropped
    assert name_initials("") is None and name_initials("  ") is None


def test_only_letters_search_by_initials():
    assert QUERY.fullmatch("zw") and QUERY.fullmatch("ZW")
    assert not QUERY.fullmatch("张") and not QUERY.fullmatch("0022") and not QUERY.fullmatch("z w")
