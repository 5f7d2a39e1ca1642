"""Test helpers for an ``http-mock`` service: read its journal, change its routes, assert calls.

::

    from tempstack import mock

    github = mock.client(run.env["GITHUB_URL"])
    github.add_route(method="POST", path="/repos/{owner}/{repo}/issues",
                     response={"status": 201, "json": {"number": 1}})
    ...  # exercise the code under test
    github.assert_called_once("POST", "/repos/acme/shop/issues", json={"title": "Broken"})

Paths given to ``requests`` and the assertions may be route patterns (``/issues/{n}``).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from tempstack.servers.mock.jsonmatch import json_equal

ADMIN = "/__tempstack"
SHOWN = 20  # requests listed in a failed assertion's message (the newest ones)


class MockRouteError(ValueError):
    """The mock rejected routes; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("the mock rejected the routes:\n  " + "\n  ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class RecordedRequest:
    """One request the mock received, as its journal holds it."""

    id: int
    time: str
    method: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    body: str  # the first MiB of the body, as text (see ``truncated``)
    body_size: int  # in bytes, of the whole body
    truncated: bool  # the body was over 1 MiB: ``body`` is its start and ``json`` is None
    json: Any  # the parsed body, or None when it is empty, not JSON or truncated
    route: str | None  # the matched route's name (``METHOD /path`` if unnamed); None: 404
    route_index: int | None
    route_source: str | None  # "runtime" or "stack"
    status: int | None  # None if no response was sent (a fault, or the client left)
    fault: str | None
    error: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedRequest:
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def describe(self) -> str:
        """One line: ``#3 POST /issues json={"title": "x"} -> 201 (route 'create')``."""
        target = self.path
        if self.query:
            target += "?" + "&".join(
                f"{k}={v}"
                for k, vs in self.query.items()
                for v in ([vs] if isinstance(vs, str) else vs)
            )
        text = f"#{self.id} {self.method} {target}"
        if self.json is not None:
            text += " json=" + _short(jsonlib.dumps(self.json))
        elif self.body:
            text += " body=" + _short(repr(self.body))
        if self.truncated:
            text += f" ({self.body_size} bytes, kept truncated)"
        if self.fault:
            outcome = f"fault {self.fault}"
        elif self.status is None:
            outcome = self.error or "no response"
        else:
            outcome = str(self.status)
        where = f"route {self.route!r}" if self.route else "unmatched"
        return f"{text} -> {outcome} ({where})"


class MockClient:
    """A synchronous client of one mock's admin API (``tempstack.mock.client(url)``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        base = url.rstrip("/")
        self.admin_url = base if base.endswith(ADMIN) else base + ADMIN
        # No kept-alive connections: a client used inline (``mock.client(url).reset()``)
        # and never closed leaves no socket behind (pytest turns that into an error).
        self._http = httpx.Client(
            base_url=self.admin_url,
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    # -- the journal ------------------------------------------------------------------

    def requests(
        self, method: str | None = None, path: str | None = None, *, route: str | None = None
    ) -> list[RecordedRequest]:
        """Requests received, oldest first, optionally only one method, path or route."""
        params = {k: v for k, v in (("method", method), ("path", path), ("route", route)) if v}
        data = self._call("GET", "/requests", params=params)
        return [RecordedRequest.from_json(item) for item in data["requests"]]

    def clear_requests(self) -> int:
        """Empty the journal; returns how many requests it held."""
        return int(self._call("DELETE", "/requests")["cleared"])

    # -- routes -----------------------------------------------------------------------

    def routes(self) -> list[dict[str, Any]]:
        """Every route in the order they are tried: ``{source, index, calls, route}``."""
        return list(self._call("GET", "/routes")["routes"])

    def add_route(self, route: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Add a route (a mapping, or keyword arguments), tried before the stack's routes.

        A route with the name of a route added earlier replaces it. Raises
        ``MockRouteError`` listing every problem if the mock rejects it.
        """
        self._call("POST", "/routes", json={**(route or {}), **fields})

    def add_routes(self, routes: Sequence[Mapping[str, Any]]) -> None:
        self._call("POST", "/routes", json=list(routes))

    def replace_routes(self, routes: Sequence[Mapping[str, Any]]) -> None:
        """Replace every route added at run time (the stack's routes stay)."""
        self._call("PUT", "/routes", json=list(routes))

    def remove_route(self, name: str) -> None:
        """Remove a route added at run time; ``KeyError`` if there is none by that name."""
        response = self._http.request("DELETE", f"/routes/{quote(name, safe='')}")
        if response.status_code == 404:
            raise KeyError(response.json()["error"])
        self._check(response)

    def reset(self) -> None:
        """Clear the journal, drop run-time routes, restart sequences, counters and faults."""
        self._call("POST", "/reset")

    # -- assertions -------------------------------------------------------------------

    def assert_called(
        self,
        method: str,
        path: str,
        *,
        times: int | None = None,
        json: Any = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[RecordedRequest]:
        """Assert ``method path`` was received (``times`` times; default: at least once).

        ``json`` must equal the parsed body as JSON (so ``true`` is not ``1``, unlike in
        Python; the same comparison as the mock's ``match.json``, but the whole body rather
        than a subset), ``body`` the body text, and each of
        ``headers`` must be present with that value (names case-insensitive). Returns the
        matching requests; on failure the message lists everything the mock received.
        """
        candidates = self.requests(method, path)
        found = [r for r in candidates if _fits(r, json, body, headers)]
        if (len(found) >= 1) if times is None else (len(found) == times):
            return found
        wanted = f"{method.upper()} {path}"
        conditions = _conditions(json, body, headers)
        if times == 0:
            expected = f"expected {wanted} not to be called{conditions}"
        else:
            count = "at least once" if times is None else _times(times)
            expected = f"expected {wanted} to be called {count}{conditions}"
        got = f"it was called {_times(len(found))}" + (" that way" if conditions else "")
        if conditions and len(candidates) != len(found):
            got += f" ({_times(len(candidates))} in all with that method and path)"
        raise AssertionError(f"{expected}, but {got}.\n{self._received()}")

    def assert_called_once(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RecordedRequest:
        """Assert exactly one matching request; returns it."""
        return self.assert_called(method, path, times=1, json=json, body=body, headers=headers)[0]

    def assert_not_called(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.assert_called(method, path, times=0, json=json, body=body, headers=headers)

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MockClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        self._check(response)
        return response.json()

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 400:
            raise MockRouteError(list(response.json().get("errors", [response.text])))
        response.raise_for_status()

    def _received(self) -> str:
        everything = self.requests()
        if not everything:
            return "The mock received no requests."
        lines = [f"The mock received {len(everything)} request(s):"]
        if len(everything) > SHOWN:
            lines.append(f"  ... {len(everything) - SHOWN} older ones not shown")
        lines += [f"  {r.describe()}" for r in everything[-SHOWN:]]
        return "\n".join(lines)


def client(url: str, *, timeout: float = 10.0) -> MockClient:
    """A client for the mock at ``url``: its ``<SVC>_URL`` or ``<SVC>_ADMIN_URL``."""
    return MockClient(url, timeout=timeout)


def _fits(
    request: RecordedRequest, json: Any, body: str | None, headers: Mapping[str, str] | None
) -> bool:
    if json is not None and not json_equal(json, request.json):
        return False
    if body is not None and request.body != body:
        return False
    return all(request.header(k) == v for k, v in (headers or {}).items())


def _conditions(json: Any, body: str | None, headers: Mapping[str, str] | None) -> str:
    parts = []
    if json is not None:
        parts.append("json=" + _short(jsonlib.dumps(json)))
    if body is not None:
        parts.append("body=" + _short(repr(body)))
    if headers:
        parts.append("headers " + ", ".join(f"{k}: {v!r}" for k, v in headers.items()))
    return (" with " + " and ".join(parts)) if parts else ""


def _times(n: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n} times")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
