"""E-mail adapters: the in-memory outbox, and real SMTP against a tiny local receiver."""
from __future__ import annotations

import email
import email.message
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from core.adapters.email import EmailNotSent, EmailOutbox, SmtpEmail
from core.ports import Email, EmailMessage

RECEIPT = EmailMessage(
    to="amina@example.dz", subject="Reçu de recharge 1 000 DZD",
    body="Votre recharge flexy de 1 000 DA est effectuée.\nشكرا لكم",
    attachments=(("recu-0001.pdf", "application/pdf", b"%PDF-1.4\n\x00\xff binary"),
                 ("recu.txt", "text/plain", b"ok")),
)


# --- a minimal SMTP receiver (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) --------------------

@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    def parsed(self) -> email.message.EmailMessage:
        """As a mailbox stores it: CRLF line ends back to the local newline."""
        return email.message_from_bytes(self.data.replace(b"\r\n", b"\n"),  # type: ignore[return-value]
                                        policy=email.policy.default)


@dataclass
class SmtpReceiver:
    port: int = 0
    refuse: set[str] = field(default_factory=set)        # recipients answered with 550
    messages: list[Received] = field(default_factory=list)

    def serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            def reply(line: str) -> None:
                conn.sendall(line.encode() + b"\r\n")
            reply("220 localhost test SMTP")
            sender, recipients = "", list[str]()
            for raw in rfile:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb == "EHLO":
                    reply("250-localhost")
                    reply("250-8BITMIME")
                    reply("250 SMTPUTF8")
                elif verb in ("HELO", "NOOP", "RSET"):
                    reply("250 OK")
                elif verb == "MAIL":
                    sender, recipients = line.split(":", 1)[1].split()[0].strip("<>"), list[str]()
                    reply("250 OK")
                elif verb == "RCPT":
                    rcpt = line.split(":", 1)[1].strip().strip("<>")
                    if rcpt in self.refuse:
                        reply("550 5.1.1 mailbox unavailable")
                    else:
                        recipients.append(rcpt)
                        reply("250 OK")
                elif verb == "DATA":
                    reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    for data_line in rfile:
                        if data_line == b".\r\n":
                            break
                        lines.append(data_line[1:] if data_line.startswith(b".") else data_line)
                    self.messages.append(Received(sender, recipients, b"".join(lines)))
                    reply("250 OK queued")
                elif verb == "QUIT":
                    reply("221 bye")
                    return
                else:
                    reply("502 command not implemented")


@pytest.fixture
def smtp_server() -> Iterator[SmtpReceiver]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = SmtpReceiver(port=sock.getsockname()[1])
    threading.Thread(target=server.serve, args=(sock,), daemon=True).start()
    yield server
    sock.close()


# --- outbox -------------------------------------------------------------------------------------

def test_outbox_keeps_messages_per_recipient_in_order() -> None:
    outbox = EmailOutbox()
    port: Email = outbox
    other = EmailMessage(to="karim@example.dz", subject="Facture", body="...")
    port.send(RECEIPT)
    port.send(other)
    port.send(RECEIPT)
    assert outbox.messages() == [RECEIPT, other, RECEIPT]
    assert outbox.messages("karim@example.dz") == [other]
    assert outbox.messages("nobody@example.dz") == []


@pytest.mark.parametrize("to", ["amina", "amina@", "a b@example.dz", "a@x.dz, b@y.dz",
                                "Amina <a@x.dz>", "a@example.dz\nBcc: x@evil.com"])
def test_outbox_refuses_malformed_addresses(to: str) -> None:
    outbox = EmailOutbox()
    with pytest.raises(ValueError, match="to: invalid e-mail address .* expected one address"):
        outbox.send(EmailMessage(to=to, subject="s", body="b"))
    assert outbox.messages() == []


def test_outbox_is_thread_safe() -> None:
    outbox = EmailOutbox()

    def worker(n: int) -> None:
        for i in range(200):
            outbox.send(EmailMessage(to=f"user{n}@example.dz", subject=str(i), body=""))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outbox.messages()) == 1600
    assert [m.subject for m in outbox.messages("user3@example.dz")] == [str(i) for i in range(200)]


# --- SMTP ---------------------------------------------------------------------------------------

def test_smtp_sends_a_real_message(smtp_server: SmtpReceiver) -> None:
    SmtpEmail("127.0.0.1", smtp_server.port, "receipts@rbench.example").send(RECEIPT)
    [got] = smtp_server.messages
    assert (got.sender, got.recipients) == ("receipts@rbench.example", ["amina@example.dz"])
    parsed = got.parsed()
    assert parsed["Subject"] == RECEIPT.subject and parsed["To"] == RECEIPT.to
    assert parsed["From"] == "receipts@rbench.example"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().rstrip("\n") == RECEIPT.body
    attachments = [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
                   for a in parsed.iter_attachments()]
    assert attachments == list(RECEIPT.attachments)


def test_smtp_dot_at_line_start_survives(smtp_server: SmtpReceiver) -> None:
    message = EmailMessage(to="a@example.dz", subject="dots", body="line\n.\n..two\nend")
    SmtpEmail("127.0.0.1", smtp_server.port, "r@rbench.example").send(message)
    parsed = smtp_server.messages[0].parsed()
    assert parsed.get_content().rstrip("\n") == "line\n.\n..two\nend"


def test_smtp_refused_recipient_says_why(smtp_server: SmtpReceiver) -> None:
    smtp_server.refuse.add("gone@example.dz")
    with pytest.raises(EmailNotSent, match=rf"gone@example.dz not sent via SMTP server "
                                           rf"127.0.0.1:{smtp_server.port}: .*550 5.1.1 mailbox"):
        SmtpEmail("127.0.0.1", smtp_server.port, "r@rbench.example").send(
            EmailMessage(to="gone@example.dz", subject="s", body="b"))
    assert smtp_server.messages == []


def test_smtp_unreachable_server_says_where() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]       # closed again: nothing listens there
    with pytest.raises(EmailNotSent, match=rf"via SMTP server 127.0.0.1:{port}: .*refused"):
        SmtpEmail("127.0.0.1", port, "r@rbench.example", timeout=2).send(RECEIPT)


def test_smtp_refuses_bad_input_before_connecting() -> None:
    with pytest.raises(ValueError, match="sender: invalid e-mail address 'rbench'"):
        SmtpEmail("127.0.0.1", 25, "rbench")
    smtp = SmtpEmail("127.0.0.1", 1, "r@rbench.example")
    with pytest.raises(ValueError, match="invalid MIME type 'pdf'; expected type/subtype"):
        smtp.send(EmailMessage(to="a@example.dz", subject="s", body="b",
                               attachments=(("r.pdf", "pdf", b"x"),)))
