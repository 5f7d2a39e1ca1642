"""The request journal: every request the mock received, matched or not, and what it answered.

An entry is written when the request arrives (so a request held open by a ``timeout`` fault
is already visible) and completed once it is answered. The journal keeps the newest
``LIMIT`` entries, so a load test against the mock cannot exhaust its memory; how many were
dropped is reported with the list.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from multidict import MultiMapping

from tempstack.servers.mock.matching import Incoming, compile_path

LIMIT = 10_000


@dataclass
class Entry:
    id: int
    time: str  # ISO 8601, UTC
    method: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    body: str
    json: Any
    route: str | None = None  # the matched route's name (or "METHOD PATH" when unnamed)
    route_index: int | None = None  # its position among the routes of its source
    route_source: str | None = None  # "runtime" (added through the admin API) or "stack"
    status: int | None = None  # None while in progress, or when no response was sent
    fault: str | None = None  # reset, close or timeout when one was injected
    error: str | None = None  # a template error, or the client leaving early

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Journal:
    def __init__(self, limit: int = LIMIT) -> None:
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._next_id = 1
        self.dropped = 0

    def record(self, req: Incoming) -> Entry:
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        entry = Entry(
            id=self._next_id,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            method=req.method,
            path=req.path,
            query=_flatten(req.query),
            headers={name: ", ".join(req.headers.getall(name)) for name in req.headers},
            body=req.body,
            json=req.json,
        )
        self._next_id += 1
        self._entries.append(entry)
        return entry

    def select(
        self, method: str | None = None, path: str | None = None, route: str | None = None
    ) -> list[Entry]:
        """Entries oldest first; ``path`` may be a route pattern such as ``/items/{id}``."""
        pattern: re.Pattern[str] | None = compile_path(path) if path else None
        wanted = method.upper() if method else None
        return [
            e
            for e in self._entries
            if (wanted is None or e.method == wanted)
            and (pattern is None or pattern.fullmatch(e.path))
            and (route is None or e.route == route)
        ]

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self.dropped = 0
        return count


def _flatten(values: MultiMapping[str]) -> dict[str, str | list[str]]:
    """A multidict as JSON: a key given once maps to its value, a repeated key to a list."""
    out: dict[str, str | list[str]] = {}
    for key in values:
        if key not in out:
            found = values.getall(key)
            out[key] = found[0] if len(found) == 1 else list(found)
    return out
