"""A small client of a ``mail`` service's API (Mailpit's ``/api/v1``) for tests.

::

    mail = tempstack_run.mail("mail")        # or MailClient(run.env["MAIL_API_URL"])
    mail.clear()
    ...                                      # the code under test sends a message
    msg = mail.wait_for(to="ann@example.com", subject="order shipped")
    assert "tracking" in msg.text

``to`` matches one recipient address exactly (ignoring case); ``subject`` matches any
part of the subject (ignoring case), so tests need not repeat a whole generated subject.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

_PAGE = 200  # messages per listing request
_SHOWN = 10  # messages described when wait_for gives up


@dataclass(frozen=True)
class Message:
    """One captured message. ``text`` and ``html`` are None in listings (see ``get``)."""

    id: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    created: str
    snippet: str
    attachments: int
    text: str | None = None
    html: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        attachments = data.get("Attachments", 0)
        full = not isinstance(attachments, int)  # a full message lists its attachments
        return cls(
            id=str(data["ID"]),
            subject=str(data.get("Subject", "")),
            sender=_address(data.get("From")),
            to=tuple(_address(a) for a in data.get("To") or ()),
            cc=tuple(_address(a) for a in data.get("Cc") or ()),
            bcc=tuple(_address(a) for a in data.get("Bcc") or ()),
            created=str(data.get("Created") or data.get("Date") or ""),
            snippet=str(data.get("Snippet", "")),
            attachments=len(attachments) if full else int(attachments),
            text=str(data.get("Text", "")) if full else None,
            html=str(data.get("HTML", "")) if full else None,
        )

    def matches(self, to: str | None, subject: str | None) -> bool:
        if to is not None and to.lower() not in (a.lower() for a in self.to + self.cc + self.bcc):
            return False
        return subject is None or subject.lower() in self.subject.lower()

    def describe(self) -> str:
        return f"{self.subject!r} from {self.sender} to {', '.join(self.to) or '-'}"


class MailClient:
    """A synchronous client of one ``mail`` service's API (its ``api_url`` export)."""

    def __init__(self, api_url: str, *, timeout: float = 10.0) -> None:
        # No kept-alive connections: a client never closed leaves no socket behind.
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def messages(self) -> list[Message]:
        """Every captured message, newest first (without ``text``/``html``)."""
        out: list[Message] = []
        while True:
            response = self._http.get("/messages", params={"start": len(out), "limit": _PAGE})
            response.raise_for_status()
            page = response.json()["messages"]
            out += [Message.from_json(m) for m in page]
            if len(page) < _PAGE:
                return out

    def get(self, message_id: str) -> Message:
        """One message in full, with ``text`` and ``html`` (reading marks it read)."""
        response = self._http.get(f"/message/{message_id}")
        if response.status_code == 404:
            raise KeyError(f"no message {message_id!r}")
        response.raise_for_status()
        return Message.from_json(response.json())

    def wait_for(
        self,
        *,
        to: str | None = None,
        subject: str | None = None,
        timeout: float = 10.0,
        interval: float = 0.05,
    ) -> Message:
        """The newest message to ``to`` whose subject contains ``subject``, in full.

        Polls until one arrives; after ``timeout`` seconds raises ``AssertionError``
        listing what the mailbox holds.
        """
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            held = self.messages()
            found = next((m for m in held if m.matches(to, subject)), None)
            if found is not None:
                return self.get(found.id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                wanted = " and ".join(
                    part
                    for part in (
                        f"to {to}" if to is not None else "",
                        f"subject containing {subject!r}" if subject is not None else "",
                    )
                    if part
                )
                listing = "".join(f"\n  {m.describe()}" for m in held[:_SHOWN])
                more = f"\n  ... and {len(held) - _SHOWN} more" if len(held) > _SHOWN else ""
                raise AssertionError(
                    f"no message {wanted or 'at all'} within {timeout:g}s; "
                    f"the mailbox holds {len(held)}{':' if held else ''}{listing}{more}"
                )
            time.sleep(min(interval, remaining))

    def clear(self) -> None:
        """Delete every message."""
        self._http.delete("/messages").raise_for_status()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MailClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _address(data: Any) -> str:
    return str(data.get("Address", "")) if isinstance(data, Mapping) else ""
