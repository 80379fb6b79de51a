"""Ways out: SMTP or .eml files for mail, a pluggable sender for SMS (logging by default)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger("portal.notifications")


class DeliveryError(Exception):
    """The message could not be handed over; it stays in the outbox and is retried.

    A permanent error (an address that can never work) is not retried.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str | None
    message_id_seed: str  # the outbox id: the same row always gets the same Message-ID
    sent_at: datetime | None = None  # the Date: header (now, when not given)
    thread_seed: str | None = None  # the case: its messages thread together in a mail program


def header_safe(value: str) -> str:
    """No CR, LF or other control characters in anything placed in a mail header (A6)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def message_domain(config: Any) -> str:
    """The right-hand side of our Message-IDs: MAIL_DOMAIN, else the host of BASE_URL."""
    configured = (config.get("MAIL_DOMAIN") or "").strip()
    host = configured or (urlsplit(config.get("BASE_URL") or "").hostname or "")
    return header_safe(host) or "localhost"


def build_message(mail: OutgoingMail, sender: str, domain: str = "localhost") -> EmailMessage:
    """A message receiving servers trust: Date, a stable Message-ID on our domain, threading.

    The Message-ID depends only on the outbox row, so a message sent again after an interrupted
    attempt carries the same id and a receiving server can drop the duplicate (at-least-once).
    """
    name, address = parseaddr(header_safe(mail.to))
    if not address or "@" not in address:
        raise DeliveryError("invalid recipient address", permanent=True)
    message = EmailMessage()
    message["From"] = header_safe(sender)
    message["To"] = formataddr((header_safe(name), address))
    message["Subject"] = header_safe(mail.subject)[:200]
    message["Date"] = format_datetime(mail.sent_at or datetime.now(UTC))
    message["Message-ID"] = f"<outbox-{header_safe(mail.message_id_seed)}@{domain}>"
    if mail.thread_seed:
        root = f"<case-{header_safe(mail.thread_seed)}@{domain}>"
        message["In-Reply-To"] = root
        message["References"] = root
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> None: ...


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None: ...


class FileMailSender:
    """Development: each message becomes an .eml file that any mail program opens."""

    def __init__(self, directory: str, sender: str, domain: str = "localhost") -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.domain = domain

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self.sender, self.domain)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{int(mail.message_id_seed):08d}.eml"
        path.write_bytes(bytes(message))


class SmtpMailSender:
    def __init__(self, config: Any) -> None:
        self.config = config

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self.config["MAIL_FROM"], message_domain(self.config))
        try:
            with smtplib.SMTP(
                self.config["SMTP_HOST"],
                self.config["SMTP_PORT"],
                timeout=self.config["SMTP_TIMEOUT_SECONDS"],
            ) as smtp:
                if self.config["SMTP_STARTTLS"]:
                    smtp.starttls(context=ssl.create_default_context())
                if self.config["SMTP_USERNAME"]:
                    smtp.login(self.config["SMTP_USERNAME"], self.config["SMTP_PASSWORD"])
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP: {error.__class__.__name__}: {error}") from error


class LogSmsSender:
    """Until an SMS gateway is configured, text messages are written to the log (and the outbox)."""

    def send(self, to: str, text: str) -> None:
        log.info("sms to=%s chars=%d", to[:4] + "…", len(text))


def mail_sender_for(config: Any) -> MailSender:
    if config["MAIL_BACKEND"] == "file":
        return FileMailSender(config["MAIL_DIR"], config["MAIL_FROM"], message_domain(config))
    return SmtpMailSender(config)


def sms_sender_for(config: Any) -> SmsSender:
    return LogSmsSender()
