"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.ports import free_port


@dataclass
class Inbox:
    """What the SMTP server received, and who logged in."""

    port: int
    accounts: dict[str, str] = field(default_factory=dict)
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator: a login/password pair from `accounts` succeeds."""
        ok = isinstance(data, LoginPassword) and (
            self.accounts.get(data.login.decode()) == data.password.decode()
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


@contextmanager
def smtp_server(
    *, tls: ssl.SSLContext | None = None, accounts: Mapping[str, str] | None = None
) -> Iterator[Inbox]:
    """An SMTP server on a free loopback port for the duration of the block.

    With `tls` the server requires STARTTLS; with `accounts` (login -> password) it
    requires AUTH and records each successful login in ``Inbox.logins``.
    """
    inbox = Inbox(free_port(), accounts=dict(accounts or {}))
    options: dict[str, Any] = {}
    if tls is not None:
        options.update(tls_context=tls, require_starttls=True)
    if accounts is not None:
        options.update(authenticator=inbox.authenticate, auth_required=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def body(msg: EmailMessage, subtype: str) -> str:
    """The text of a message's text/`subtype` part (plain or html)."""
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())
