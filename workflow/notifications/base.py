"""The notifier interface: a message is a template name plus a context, sent to recipients.

Backends differ only in where the rendered text goes, so a test (or a new channel) subclasses
`Notifier` and the delivery code never changes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Recipient:
    username: str
    display_name: str = ""
    email: str | None = None


@dataclass(frozen=True)
class Message:
    template: str  # a name in workflow.notifications.templates
    context: Mapping[str, Any]
    recipients: tuple[Recipient, ...] = ()
    key: str = ""  # what the message is about (the outbox row), for logs and headers
    extra: Mapping[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A channel refused or failed; the delivery is retried later, the outbox row is kept."""


class Notifier(ABC):
    """One channel. `send` returns normally only once the channel has accepted the message."""

    name: ClassVar[str]

    @abstractmethod
    def send(self, message: Message) -> None: ...
