"""Whether a request matches a route, and why not: path patterns, query, headers, JSON body.

Every check returns the reasons a route did not match (an empty list means it matched), so
the same code picks the route and explains an unmatched request's closest routes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from multidict import CIMultiDictProxy, MultiMapping

from tempstack.servers.mock.jsonmatch import json_mismatch
from tempstack.spec.routes import PARAM, MockMatch


@dataclass(frozen=True)
class Incoming:
    """What matching and templates need from a request, read once."""

    method: str
    path: str  # decoded, without the query
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    body: str
    json: Any  # the parsed body, or None when it is empty or not JSON
    is_json: bool

    @staticmethod
    def parse_json(body: str) -> tuple[Any, bool]:
        if not body.strip():
            return None, False
        try:
            return json.loads(body), True
        except ValueError:
            return None, False


def compile_path(pattern: str) -> re.Pattern[str]:
    """``/repos/{owner}/{name:path}``: ``{x}`` is one segment, ``{x:path}`` the rest."""
    out, pos = "", 0
    for m in PARAM.finditer(pattern):
        out += re.escape(pattern[pos : m.start()])
        out += f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})"
        pos = m.end()
    return re.compile(out + re.escape(pattern[pos:]))


def method_mismatch(route_method: str, method: str) -> list[str]:
    """Why a route's method does not take a request's; a GET route also answers HEAD."""
    if route_method in ("*", method) or (route_method, method) == ("GET", "HEAD"):
        return []
    return [f"method is {route_method}, not {method}"]


def conditions_mismatch(match: MockMatch | None, req: Incoming) -> list[str]:
    """Reasons the extra conditions (query, headers, JSON subset, body regex) do not hold."""
    if match is None:
        return []
    why: list[str] = []
    for key, want in match.query.items():
        got = req.query.getall(key, [])
        if want not in got:
            seen = f"got {key}={got[0]!r}" if got else "not given"
            why.append(f"query {key}={want!r} expected, {seen}")
    for name, want in match.headers.items():
        values = req.headers.getall(name, [])
        if want not in values:
            seen = f"got {values[0]!r}" if values else "not sent"
            why.append(f"header {name}: {want!r} expected, {seen}")
    if match.json_ is not None:
        if not req.is_json:
            why.append("a JSON body expected, " + ("got none" if not req.body else "not JSON"))
        elif (diff := json_mismatch(match.json_, req.json)) is not None:
            why.append(diff)
    if match.body is not None and not re.search(match.body, req.body):
        why.append(f"body does not match /{match.body}/")
    return why


def path_similarity(pattern: str, path: str) -> float:
    """How close a request path is to a route's pattern, 0 to 1, for ranking near misses.

    Parameters count as matching whatever segment stands in their place, so
    ``/repos/{owner}`` is as close to ``/repos/x`` as a literal ``/repos/x`` would be.
    """
    want = pattern.strip("/").split("/")
    got = path.strip("/").split("/")
    filled = [
        got[i] if i < len(got) and PARAM.fullmatch(segment) else segment
        for i, segment in enumerate(want)
    ]
    return SequenceMatcher(None, "/".join(filled), "/".join(got)).ratio()
