"""The routes a mock answers: the stack's, and those added at run time, which come first.

A ``Route`` is a validated ``MockRoute`` with its path compiled, its templates compiled and
its call counter (for sequences, ``times`` and the ``count`` template variable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tempstack.servers.mock.matching import (
    Incoming,
    compile_path,
    conditions_mismatch,
    method_mismatch,
    path_similarity,
)
from tempstack.servers.mock.prepared import Prepared, prepare_route, route_label
from tempstack.spec.routes import MockRoute

CLOSEST = 3  # how many near misses an unmatched request's 404 lists


@dataclass
class Route:
    spec: MockRoute
    source: str  # "stack" or "runtime"
    index: int
    pattern: re.Pattern[str]
    responses: list[Prepared]
    calls: int = field(default=0)

    @classmethod
    def build(cls, spec: MockRoute, source: str, index: int) -> Route:
        responses = prepare_route(spec, f"route {route_label(spec)}: ")
        return cls(spec, source, index, compile_path(spec.path), responses)

    @property
    def name(self) -> str:
        """The route's name, or ``METHOD /path`` for an unnamed one (as the journal shows)."""
        return self.spec.name or f"{self.spec.method} {self.spec.path}"

    @property
    def label(self) -> str:
        return route_label(self.spec)

    @property
    def used_up(self) -> bool:
        return self.spec.times is not None and self.calls >= self.spec.times

    def take(self) -> Prepared:
        """Count a call and pick its response: in turn for a sequence, then last or cycle."""
        n = self.calls
        self.calls += 1
        if n < len(self.responses):
            return self.responses[n]
        if self.spec.repeat == "cycle":
            return self.responses[n % len(self.responses)]
        return self.responses[-1]

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "index": self.index,
            "calls": self.calls,
            "route": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


class RouteTable:
    def __init__(self, stack: list[MockRoute]) -> None:
        self.stack = [Route.build(r, "stack", i) for i, r in enumerate(stack)]
        self.runtime: list[Route] = []

    def all(self) -> list[Route]:
        """Every route in the order they are tried: run-time routes first."""
        return [*self.runtime, *self.stack]

    def find(self, req: Incoming) -> tuple[Route, dict[str, str]] | None:
        """The first route that takes the request, with its path parameters.

        A HEAD request is answered by a GET route only when no route for HEAD (or ``*``)
        takes it, so a HEAD route listed after the GET route for the same path still wins.
        """
        found = self._first(req, req.method)
        if found is None and req.method == "HEAD":
            found = self._first(req, "GET")
        return found

    def _first(self, req: Incoming, method: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.all():
            if route.used_up or route.spec.method not in ("*", method):
                continue
            m = route.pattern.fullmatch(req.path)
            if m is not None and not conditions_mismatch(route.spec.match, req):
                return route, m.groupdict()
        return None

    def closest(self, req: Incoming, limit: int = CLOSEST) -> list[dict[str, Any]]:
        """The routes nearest to an unmatched request by method and path, with why not."""
        ranked: list[tuple[float, int, Route, list[str]]] = []
        for order, route in enumerate(self.all()):
            why = method_mismatch(route.spec.method, req.method)
            path_matches = route.pattern.fullmatch(req.path) is not None
            if path_matches:
                why += conditions_mismatch(route.spec.match, req)
            else:
                why.append(f"path {req.path} does not match {route.spec.path}")
            if route.used_up:
                why.append(f"used up: times = {route.spec.times}, and it has answered them all")
            score = (1.0 if path_matches else path_similarity(route.spec.path, req.path)) * 2
            score += 0.0 if method_mismatch(route.spec.method, req.method) else 1.0
            ranked.append((-score, order, route, why))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [
            {
                "name": route.spec.name,
                "method": route.spec.method,
                "path": route.spec.path,
                "source": route.source,
                "why": why,
            }
            for _, _, route, why in ranked[:limit]
        ]

    def add(self, routes: Iterable[Route]) -> tuple[list[str], list[str]]:
        """Append run-time routes; one named like an existing run-time route replaces it."""
        added: list[str] = []
        replaced: list[str] = []
        for route in routes:
            name = route.spec.name
            at = next((i for i, r in enumerate(self.runtime) if name and r.spec.name == name), None)
            if at is None:
                self.runtime.append(route)
                added.append(route.name)
            else:
                self.runtime[at] = route
                replaced.append(route.name)
        self._renumber()
        return added, replaced

    def replace(self, routes: Iterable[Route]) -> None:
        self.runtime = list(routes)
        self._renumber()

    def remove(self, name: str) -> bool:
        kept = [r for r in self.runtime if r.spec.name != name]
        found = len(kept) != len(self.runtime)
        self.runtime = kept
        self._renumber()
        return found

    def reset(self) -> None:
        """Drop run-time routes and restart every stack route's counter (and sequence)."""
        self.runtime = []
        for route in self.stack:
            route.calls = 0

    def _renumber(self) -> None:
        for i, route in enumerate(self.runtime):
            route.index = i
