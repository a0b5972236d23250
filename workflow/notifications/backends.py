"""The channels: in-app (the outbox row is the notification), console (development), e-mail
and group robots (notifications.webhooks).

Which ones run is decided from the configuration alone: in-app always; the group robots an
organisation configured (none: nothing to do); e-mail when MAIL_SERVER is set, otherwise the
console log, so a development machine shows what would have been sent.
"""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from workflow.notifications.base import DeliveryError, Message, Notifier
from workflow.notifications.templates import render
from workflow.notifications.webhooks import WebhookNotifier

log = logging.getLogger("workflow.notifications")
SMTP_TIMEOUT = 20  # seconds: a hung mail server must fail the attempt, not hold the worker


class InAppNotifier(Notifier):
    """Nothing to send: the outbox row is what the inbox shows, from the moment it is inserted."""

    name = "in_app"

    def send(self, message: Message) -> None:
        return None


class ConsoleNotifier(Notifier):
    """Logs the rendered message: development, and a record of what e-mail would have said."""

    name = "console"

    def send(self, message: Message) -> None:
        subject, body = render(message.template, message.context)
        to = ", ".join(r.username for r in message.recipients) or "(no users)"
        log.info("alert %s to %s: %s\n%s", message.key, to, subject, body)


class EmailNotifier(Notifier):
    """smtplib: SMTP_SSL on port 465, otherwise STARTTLS whenever the server offers it."""

    name = "email"

    def __init__(self, server: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None) -> None:
        self.server, self.port, self.sender = server, port, sender
        self.username, self.password = username, password

    def send(self, message: Message) -> None:
        addresses = sorted({r.email for r in message.recipients if r.email})
        if not addresses:
            return  # nobody of that organisation has an address: in-app only
        subject, body = render(message.template, message.context)
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = subject, self.sender, ", ".join(addresses)
        mail["Message-ID"] = make_msgid(idstring=message.key or None)
        mail.set_content(body)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.server}:{self.port}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.port == 465:
            return smtplib.SMTP_SSL(self.server, self.port, timeout=SMTP_TIMEOUT)
        smtp = smtplib.SMTP(self.server, self.port, timeout=SMTP_TIMEOUT)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp


def configured(config: Mapping[str, Any]) -> list[Notifier]:
    """The channels for this configuration, in-app first, then the group robots (they remember
    which chats have a row, so a later e-mail failure's retry posts nothing twice; e-mail keeps
    no such record and goes last), then e-mail or the console."""
    server = config.get("MAIL_SERVER")
    if not server:
        return [InAppNotifier(), WebhookNotifier(), ConsoleNotifier()]
    port = int(config.get("MAIL_PORT") or 25)
    sender = config.get("MAIL_DEFAULT_SENDER") or config.get("MAIL_USERNAME") or "noreply@localhost"
    return [InAppNotifier(), WebhookNotifier(),
            EmailNotifier(server, port, sender, config.get("MAIL_USERNAME"),
                          config.get("MAIL_PASSWORD"))]
