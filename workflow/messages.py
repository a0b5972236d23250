"""Messages with data in them, worded once in Chinese and sayable in the page's language."""
from __future__ import annotations

from typing import Any


class Message(str):
    """A message with data in it, as the API sends it (the Chinese text, a plain string to
    every caller) that also keeps its template and values, so that a page can say it in its own
    language (workflow.web.common.tr looks the template up in the catalogue, where
    scripts/label_messages.py puts every `Message("…")` of the domain and the services). A value
    may be a Message itself, or a tuple of messages that Chinese runs together and English
    spaces."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        values = {k: "".join(v) if isinstance(v, tuple) else v for k, v in params.items()}
        made = super().__new__(cls, template % values if params else template)
        made.template, made.params = template, params
        return made

    def __reduce__(self) -> Any:  # pickled into a Celery result or a worker's exception
        return (_message, (self.template, self.params))


def _message(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)
