"""Every message the page templates mark for translation has an English text: a new string
without one fails here, before a page in English shows Chinese."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def _template_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "templates"), method_map=[("**.html", "jinja2")]):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_template_message_has_an_english_text():
    with CATALOG.open("rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}  # compiled ones
    missing = sorted(_template_messages() - translated)
    assert missing == [], f"no English text for: {missing}"


def test_the_compiled_catalog_is_not_older_than_its_source():
    compiled = CATALOG.with_suffix(".mo")
    assert compiled.stat().st_mtime >= CATALOG.stat().st_mtime - 1, \
        "run: pybabel compile -d translations"
