"""The in-memory mailbox: captured messages, newest first, at most ``max_messages``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tempstack.servers.mail.message import ParsedMessage, parse, unparsable
from tempstack.servers.mail.search import Query

# shortuuid's alphabet, so ids look like Mailpit's (22 characters, no look-alikes)
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(22))


@dataclass
class Captured:
    id: str
    created: datetime
    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: ParsedMessage
    username: str = ""  # the SMTP AUTH login, when the client authenticated
    read: bool = False


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    accepted: int = 0
    accepted_size: int = 0
    deleted: int = 0
    dropped: int = 0  # evicted beyond max_messages


class Mailbox:
    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self._messages: dict[str, Captured] = {}  # oldest first (insertion order)
        self.stats = Stats()

    def add(
        self, raw: bytes, mail_from: str, rcpt_tos: Iterable[str], username: str = ""
    ) -> tuple[Captured, list[Captured]]:
        """Store a message; returns it and the oldest messages dropped to stay in bounds."""
        rcpts = tuple(rcpt_tos)
        try:
            parsed = parse(raw, mail_from, rcpts)
        except Exception as exc:  # a catcher keeps even mail it cannot parse
            print(f"could not parse a message from <{mail_from}>: {exc!r}", flush=True)
            parsed = unparsable(raw, mail_from, rcpts)
        captured = Captured(
            id=new_id(),
            created=datetime.now(UTC),
            raw=raw,
            mail_from=mail_from,
            rcpt_tos=rcpts,
            message=parsed,
            username=username,
        )
        self._messages[captured.id] = captured
        self.stats.accepted += 1
        self.stats.accepted_size += len(raw)
        dropped: list[Captured] = []
        while len(self._messages) > self.max_messages:
            dropped.append(self._messages.pop(next(iter(self._messages))))
        self.stats.dropped += len(dropped)
        return captured, dropped

    def __len__(self) -> int:
        return len(self._messages)

    def newest_first(self) -> Iterator[Captured]:
        return reversed(self._messages.values())

    def get(self, message_id: str) -> Captured | None:
        return self._messages.get(message_id)

    def search(self, query: str) -> list[Captured]:
        matcher = Query.parse(query)
        return [c for c in self.newest_first() if matcher.matches(c)]

    def latest(self, query: str = "") -> Captured | None:
        found = self.search(query) if query else self.newest_first()
        return next(iter(found), None)

    @property
    def unread(self) -> int:
        return sum(not c.read for c in self._messages.values())

    def tags(self) -> list[str]:
        return sorted({t for c in self._messages.values() for t in c.message.tags})

    def delete(self, ids: Iterable[str]) -> int:
        removed = sum(self._messages.pop(i, None) is not None for i in set(ids))
        self.stats.deleted += removed
        return removed

    def clear(self) -> int:
        return self.delete(list(self._messages))

    def mark(self, ids: Iterable[str] | None, read: bool) -> None:
        """Set the read flag of ``ids``, or of every message when ``ids`` is None."""
        targets = self._messages.values() if ids is None else map(self._messages.get, ids)
        for captured in targets:
            if captured is not None:
                captured.read = read
