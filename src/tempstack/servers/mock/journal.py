"""The request journal: every request the mock received, matched or not, and what it answered.

An entry is written when the request arrives, before its body (so a request held open by a
``timeout`` fault, or a body still uploading, is already visible), and completed once it is
answered. The journal keeps the newest ``LIMIT`` entries and the first ``BODY_LIMIT`` bytes
of each body, so a load test against the mock cannot exhaust its memory; how many entries
were dropped is reported with the list, and a cut body is marked ``truncated``.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from multidict import CIMultiDictProxy, MultiMapping

from tempstack.servers.mock.matching import compile_path

LIMIT = 10_000
BODY_LIMIT = 1024**2  # bytes of a body kept; matching has seen it whole


@dataclass
class Entry:
    id: int
    time: str  # ISO 8601, UTC
    method: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    body: str = ""  # the first BODY_LIMIT bytes, as text
    body_size: int = 0  # in bytes, of the whole body
    truncated: bool = False  # the body was longer than BODY_LIMIT; ``body`` is its start
    json: Any = None  # the parsed body; None if not JSON, or truncated
    route: str | None = None  # the matched route's name (or "METHOD PATH" when unnamed)
    route_index: int | None = None  # its position among the routes of its source
    route_source: str | None = None  # "runtime" (added through the admin API) or "stack"
    status: int | None = None  # set once the response has been sent; None until then
    fault: str | None = None  # reset, close or timeout when one was injected
    error: str | None = None  # a template error, or the client leaving early

    def keep_body(self, raw: bytes, text: str, parsed: Any) -> None:
        """Store the body that arrived: ``text`` and ``parsed`` are ``raw`` decoded and parsed."""
        self.body_size = len(raw)
        if len(raw) > BODY_LIMIT:
            # not final: a character cut in two at the limit is left out, not replaced
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            self.body = decoder.decode(raw[:BODY_LIMIT], final=False)
            self.truncated = True
        else:
            self.body, self.json = text, parsed

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Journal:
    def __init__(self, limit: int = LIMIT) -> None:
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._next_id = 1
        self.dropped = 0

    def record(
        self, method: str, path: str, query: MultiMapping[str], headers: CIMultiDictProxy[str]
    ) -> Entry:
        """A new entry for a request that has just arrived (its body comes with ``keep_body``)."""
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        entry = Entry(
            id=self._next_id,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            method=method,
            path=path,
            query=_flatten(query),
            headers={name: ", ".join(headers.getall(name)) for name in headers},
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
