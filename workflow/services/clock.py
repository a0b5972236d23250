"""Today's date for the services: the real date, or a pinned one for demos and tests."""
from __future__ import annotations

from datetime import date

from flask import current_app, has_app_context


def today() -> date:
    pinned = current_app.config.get("TODAY") if has_app_context() else None
    return date.fromisoformat(pinned) if pinned else date.today()
