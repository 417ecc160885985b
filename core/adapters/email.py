"""Adapters of the :class:`core.ports.Email` port: receipts and reports sent by e-mail.

``EmailOutbox`` keeps messages in memory, per recipient, for the simulator, the tests and the
demo (a scenario reads the receipt it was sent). ``SmtpEmail`` really sends them through an
SMTP server, such as a local relay on the bench; one connection per message, so it needs no
lock and survives a server restart between messages.
"""
from __future__ import annotations

import re
import smtplib
import threading
from email.message import EmailMessage as MimeMessage

from core.ports import EmailMessage

_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


class EmailNotSent(Exception):
    """The SMTP server could not be reached or refused the message."""


def check_address(address: str, *, field: str = "to") -> None:
    """One plain address, as a receipt form collects it (no display name, no list)."""
    if not (isinstance(address, str) and _ADDRESS.fullmatch(address)):
        raise ValueError(f"{field}: invalid e-mail address {address!r}; expected one address "
                         f"like 'name@example.dz'")


class EmailOutbox:
    """Keeps every message sent, in order, so tests and scenarios can read them back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        check_address(message.to)
        with self._lock:
            self._messages.append(message)

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        """Messages sent (to ``to`` if given), oldest first."""
        with self._lock:
            return [m for m in self._messages if to is None or m.to == to]


def to_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """The RFC 5322 message for the port's message: UTF-8 text body, attachments as parts."""
    mime = MimeMessage()
    mime["From"], mime["To"], mime["Subject"] = sender, message.to, message.subject
    mime.set_content(message.body)
    for filename, mime_type, content in message.attachments:
        maintype, slash, subtype = mime_type.partition("/")
        if not (slash and maintype and subtype):
            raise ValueError(f"attachment {filename!r}: invalid MIME type {mime_type!r}; "
                             f"expected type/subtype like 'application/pdf'")
        mime.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return mime


class SmtpEmail:
    """Sends each message through the SMTP server at ``host``:``port``."""

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0) -> None:
        check_address(sender, field="sender")
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send(self, message: EmailMessage) -> None:
        check_address(message.to)
        mime = to_mime(message, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(mime)
        except (OSError, smtplib.SMTPException) as e:
            raise EmailNotSent(f"e-mail to {message.to} not sent via SMTP server "
                               f"{self.host}:{self.port}: {_reason(e)}") from e


def _reason(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt} refused: {code} {_text(reply)}"
                         for rcpt, (code, reply) in e.recipients.items())
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{e.smtp_code} {_text(e.smtp_error)}"
    return str(e) or type(e).__name__


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
