"""The SMTP side: aiosmtpd accepting every message into the mailbox.

Like Mailpit with ``--smtp-auth-accept-any --smtp-auth-allow-insecure``: AUTH PLAIN and
LOGIN are offered without TLS and any credentials are accepted, but not required, so
applications configured with or without SMTP credentials both work. 8BITMIME and SMTPUTF8
are advertised.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tempstack.servers.mail.store import Mailbox

HOSTNAME = "tempstack-mail"  # given explicitly: aiosmtpd's default is a (slow) DNS lookup


class CatcherSMTP(SMTP):
    # RFC 5321 caps lines at 1000 octets; real relays (and Mailpit) accept longer ones, and a
    # catcher that refused an application's long HTML lines would only hide its mail.
    line_length_limit = 1 << 20


def _accept_any(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


def _login(session: Session) -> str:
    data = getattr(session, "auth_data", None)
    if isinstance(data, LoginPassword):
        return data.login.decode("utf-8", "replace")
    return ""


class Catcher:
    """aiosmtpd's handler: every message is accepted and stored."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        captured, dropped = self.mailbox.add(
            raw, envelope.mail_from or "", envelope.rcpt_tos, username=_login(session)
        )
        print(
            f"received {captured.id}: {len(raw)} bytes from <{captured.mail_from}> to "
            f"{len(captured.rcpt_tos)} recipient(s), subject {captured.message.subject!r}",
            flush=True,
        )
        for old in dropped:
            print(f"dropped {old.id} (over max_messages={self.mailbox.max_messages})", flush=True)
        return f"250 2.0.0 Ok: queued as {captured.id}"


async def start_smtp(mailbox: Mailbox, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = Catcher(mailbox)

    def protocol() -> CatcherSMTP:
        return CatcherSMTP(
            handler,
            hostname=HOSTNAME,
            ident="tempstack mail",
            enable_SMTPUTF8=True,
            decode_data=False,  # keep the bytes as sent; also what makes 8BITMIME advertised
            auth_require_tls=False,
            authenticator=_accept_any,
            loop=loop,
        )

    return await loop.create_server(protocol, host=host, port=port)
