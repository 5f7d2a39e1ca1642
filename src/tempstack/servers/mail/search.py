"""Mailpit's search syntax, matched against captured messages in memory.

A query is a list of terms, all of which must match. A term is a plain word (searched in
the subject, addresses, bodies and attachment names) or a filter: ``to:``, ``from:``,
``cc:``, ``bcc:``, ``reply-to:``, ``subject:``, ``message-id:``, ``tag:``, ``is:read``,
``is:unread``, ``is:tagged``, ``has:attachment``, ``has:inline``, ``larger:`` / ``smaller:``
(a size such as ``10K`` or ``2M``), ``after:`` / ``before:`` (an ISO date or time). Double
quotes group words (``subject:"order shipped"``); a leading ``-`` or ``!`` negates a term.
Matching ignores case, like Mailpit's SQL ``LIKE``. Terms without a letter or digit are
ignored, as are unparsable sizes and dates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tempstack.servers.mail.store import Captured

_WORDISH = re.compile(r"[A-Za-z0-9]")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

Predicate = Callable[["Captured"], bool]


def tokens(query: str) -> list[str]:
    """Split on whitespace outside double quotes; the quotes themselves are dropped."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in query:
        if char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        out.append("".join(current))
    return out


def _addresses(get: Callable[[Captured], tuple[object, ...]]) -> Callable[[str], Predicate]:
    def build(value: str) -> Predicate:
        return lambda c: any(value in str(a).lower() for a in get(c))

    return build


def _size(value: str) -> int | None:
    match = _SIZE.match(value)
    return int(float(match[1]) * _UNITS[match[2].lower()]) if match else None


def _when(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _larger(value: str) -> Predicate | None:
    size = _size(value)
    return None if size is None else (lambda c: len(c.raw) >= size)


def _smaller(value: str) -> Predicate | None:
    size = _size(value)
    return None if size is None else (lambda c: len(c.raw) <= size)


def _after(value: str) -> Predicate | None:
    moment = _when(value)
    return None if moment is None else (lambda c: c.created >= moment)


def _before(value: str) -> Predicate | None:
    moment = _when(value)
    return None if moment is None else (lambda c: c.created <= moment)


# filters taking a value that is matched case-insensitively as a substring
_CONTAINS: dict[str, Callable[[str], Predicate]] = {
    "to:": _addresses(lambda c: c.message.to),
    "from:": _addresses(lambda c: (c.message.sender,)),
    "cc:": _addresses(lambda c: c.message.cc),
    "bcc:": _addresses(lambda c: c.message.bcc),
    "reply-to:": _addresses(lambda c: c.message.reply_to),
    "subject:": lambda v: lambda c: v in c.message.subject.lower(),
    "message-id:": lambda v: lambda c: v in c.message.message_id.lower(),
    "tag:": lambda v: lambda c: v in (t.lower() for t in c.message.tags),
}
# filters whose value must parse (a size, a date); an unparsable one is ignored
_PARSED: dict[str, Callable[[str], Predicate | None]] = {
    "larger:": _larger,
    "smaller:": _smaller,
    "after:": _after,
    "before:": _before,
}
_FLAGS: dict[str, Predicate] = {
    "is:read": lambda c: c.read,
    "is:unread": lambda c: not c.read,
    "is:tagged": lambda c: bool(c.message.tags),
    "has:attachment": lambda c: bool(c.message.attachments),
    "has:attachments": lambda c: bool(c.message.attachments),
    "has:inline": lambda c: bool(c.message.inline),
}


def _term(word: str) -> Predicate | None:
    lower = word.lower()
    if lower in _FLAGS:
        return _FLAGS[lower]
    for prefix, build in _CONTAINS.items():
        if lower.startswith(prefix):
            value = lower[len(prefix) :].strip()
            return build(value) if value else None
    for prefix, parse in _PARSED.items():
        if lower.startswith(prefix):
            return parse(lower[len(prefix) :].strip())
    return lambda c: lower in c.message.search_text


@dataclass(frozen=True)
class Query:
    terms: tuple[tuple[bool, Predicate], ...]  # (negated, predicate)

    @classmethod
    def parse(cls, query: str) -> Query:
        terms: list[tuple[bool, Predicate]] = []
        for word in tokens(query):
            negated = len(word) > 1 and word[0] in "-!"
            if negated:
                word = word[1:]
            if not _WORDISH.search(word):
                continue
            predicate = _term(word)
            if predicate is not None:
                terms.append((negated, predicate))
        return cls(tuple(terms))

    def matches(self, captured: Captured) -> bool:
        return all(predicate(captured) != negated for negated, predicate in self.terms)
