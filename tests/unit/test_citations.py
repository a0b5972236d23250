"""Articles in words: every article of the registry reads as Chinese on a Chinese page."""
from __future__ import annotations

import re

import pytest

from workflow.citations import article_text, chinese_number
from workflow.rules import REGISTRY, STEP_ARTICLES


@pytest.mark.parametrize("n,text", [(1, "一"), (7, "七"), (10, "十"), (13, "十三"), (20, "二十"),
                                    (25, "二十五"), (99, "九十九"), (100, "100")])
def test_chinese_numbers(n, text):
    assert chinese_number(n) == text


@pytest.mark.parametrize("article,text", [
    ("art. 7", "第七条"), ("art. 7–8", "第七至八条"), ("art. 32, 35", "第三十二、三十五条"),
    ("art. 30, local", "第三十条，本地规定"), ("local", "本地规定"),
    ("art. 13–25 (回避)", "第十三至二十五条 (回避)"), ("rubric item 13", "考核细则第十三项"),
    ("—", "—"),
])
def test_articles_read_as_chinese(article, text):
    assert article_text(article) == text


def test_no_article_of_the_registry_keeps_latin_text_in_chinese():
    for article in {r.article for r in REGISTRY.values()} | set(STEP_ARTICLES.values()):
        assert not re.search(r"[A-Za-z]", article_text(article)), article
    assert article_text("art. 7", "en") == "art. 7"
    assert article_text("local", "en") == "local rules"
