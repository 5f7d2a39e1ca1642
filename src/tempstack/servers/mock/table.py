"""The routes a mock answers: the stack's, and those added at run time, which come first.

A ``Route`` is a validated ``MockRoute`` with its path compiled, its templates compiled and
its call counter (for sequences, ``times`` and the ``count`` template variable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tempstack.servers.mock import templating
from tempstack.servers.mock.matching import (
    Incoming,
    compile_path,
    conditions_mismatch,
    method_mismatch,
    path_similarity,
)
from tempstack.spec.routes import MockResponse, MockRoute, SseEvent

CLOSEST = 3  # how many near misses an unmatched request's 404 lists


@dataclass
class Prepared:
    """A response with its templates compiled."""

    spec: MockResponse
    headers: list[tuple[str, templating.Renderer]]
    body: templating.Renderer | None
    json: templating.Renderer | None
    chunks: list[templating.Renderer] | None
    events: list[tuple[SseEvent, templating.Renderer]] | None


def prepare(spec: MockResponse, where: str) -> Prepared:
    """Compile a response's templates; ``TemplateError`` names the first bad one."""
    headers = [(k, templating.text(v, f"{where}.headers.{k}")) for k, v in spec.headers.items()]
    events = None
    if spec.sse is not None:
        events = []
        for i, item in enumerate(spec.sse):
            event = SseEvent(data=item) if isinstance(item, str) else item
            events.append((event, templating.json_value(event.data, f"{where}.sse[{i}].data")))
    return Prepared(
        spec=spec,
        headers=headers,
        body=None if spec.body is None else templating.text(spec.body, f"{where}.body"),
        json=None if spec.json_ is None else templating.json_value(spec.json_, f"{where}.json"),
        chunks=None
        if spec.stream is None
        else [templating.text(c, f"{where}.stream[{i}]") for i, c in enumerate(spec.stream)],
        events=events,
    )


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
        label = route_label(spec)
        if spec.response is not None:
            responses = [prepare(spec.response, f"route {label}: response")]
        else:
            assert spec.sequence is not None  # the model requires one of the two
            responses = [
                prepare(r, f"route {label}: sequence[{i}]") for i, r in enumerate(spec.sequence)
            ]
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


def route_label(spec: MockRoute) -> str:
    return repr(spec.name) if spec.name else f"{spec.method} {spec.path}"


class RouteTable:
    def __init__(self, stack: list[MockRoute]) -> None:
        self.stack = [Route.build(r, "stack", i) for i, r in enumerate(stack)]
        self.runtime: list[Route] = []

    def all(self) -> list[Route]:
        """Every route in the order they are tried: run-time routes first."""
        return [*self.runtime, *self.stack]

    def find(self, req: Incoming) -> tuple[Route, dict[str, str]] | None:
        for route in self.all():
            if route.used_up or method_mismatch(route.spec.method, req.method):
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
