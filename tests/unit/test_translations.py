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


def _python_messages() -> set[str]:
    """What the page modules mark in Python: flashes (`_`), form labels (`_l`) and the labels
    and service messages of workflow/web/label_messages.py (`N_`)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "workflow" / "web"), method_map=[("**.py", "python")],
            keywords={"_": None, "_l": None, "N_": None, "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _translated() -> set[str]:
    with CATALOG.open("rb") as f:
        catalog = read_po(f)
    return {m.id for m in catalog if m.id and m.string and not m.fuzzy}  # compiled ones


def test_every_template_message_has_an_english_text():
    missing = sorted(_template_messages() - _translated())
    assert missing == [], f"no English text for: {missing}"


def test_every_message_marked_in_the_page_modules_has_an_english_text():
    found = _python_messages()
    assert "程序不到位" in found and "用户名或密码不正确" in found  # the extraction reads both
    missing = sorted(found - _translated())
    assert missing == [], f"no English text for (run scripts/label_messages.py, extract, " \
                          f"update): {missing}"


def test_the_label_catalogue_is_generated_from_the_current_labels():
    """workflow/web/label_messages.py holds every label the scripts/label_messages.py finds
    today (a label added to a dictionary without regenerating it fails here)."""
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from label_messages import labels
    finally:
        sys.path.pop(0)
    generated = (ROOT / "workflow" / "web" / "label_messages.py").read_text(encoding="utf-8")
    missing = [label for label in labels() if f"N_({label!r})" not in generated]
    assert missing == [], f"run scripts/label_messages.py: {missing}"


def test_the_compiled_catalog_is_not_older_than_its_source():
    compiled = CATALOG.with_suffix(".mo")
    assert compiled.stat().st_mtime >= CATALOG.stat().st_mtime - 1, \
        "run: pybabel compile -d translations"


def test_the_listed_service_messages_are_still_written_by_the_services():
    """scripts/label_messages.py's ERRORS are the services' own words: one reworded in a
    service would silently fall back to Chinese on an English page."""
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from label_messages import ERRORS
    finally:
        sys.path.pop(0)
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "workflow").rglob("*.py")
                      if p.name != "label_messages.py")
    stale = [m for m in ERRORS if f'"{m}"' not in sources]
    assert stale == [], f"no longer written by any service: {stale}"
