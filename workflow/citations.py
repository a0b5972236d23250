"""Articles as people read them: "art. 7–8" is 第七至八条 on a Chinese page, "local" is 本地规定.

The registry keeps one compact form (`Rule.article`, in the API and exports as it is); pages
show it in their language. Pure: the core's own vocabulary.
"""
from __future__ import annotations

import re
from typing import Any

_DIGITS = "零一二三四五六七八九"
# the Chinese glosses some articles carry (Rule.article), in English
_GLOSSES_EN = {"(回避)": "(recusal)", "(有计划)": "(planned)"}
_ART = re.compile(r"art\. ?([0-9]+(?:[–-][0-9]+)?(?:, ?[0-9]+(?:[–-][0-9]+)?)*)")


def chinese_number(n: int) -> str:
    """1–99 in Chinese numerals (第十三条, not 第一十三条); larger numbers as digits."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _DIGITS[ones]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def _span(text: str) -> str:
    parts = re.split(r"[–-]", text.strip())
    return "至".join(chinese_number(int(p)) for p in parts)


def article_text(article: str, lang: str = "zh") -> str:
    """`art. 7–8` → 第七至八条; `art. 32, 35` → 第三十二、三十五条; `local` → 本地规定;
    `rubric item 13` → 考核细则第十三项; anything else as it is. English: as stored, with
    `local` spelled out."""
    if lang == "en":
        text = article.replace("local", "local rules")
        for zh, en in _GLOSSES_EN.items():
            text = text.replace(zh, en)
        return text
    text = _ART.sub(lambda m: "第" + "、".join(_span(p) for p in m.group(1).split(",")) + "条",
                    article)
    text = re.sub(r"rubric item ([0-9]+)",
                  lambda m: f"考核细则第{chinese_number(int(m.group(1)))}项", text)
    return text.replace("local", "本地规定").replace(", ", "，")


class Article(str):
    """An article inside a message (`messages.Message`): the Chinese words as its text, its
    compact form kept, so that a page says it in its own language (web.common.tr)."""

    article: str

    def __new__(cls, article: str) -> Article:
        made = super().__new__(cls, article_text(article))
        made.article = article
        return made

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with its message (a worker's result)
        return (Article, (self.article,))
