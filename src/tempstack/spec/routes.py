"""Routes of an ``http-mock`` service, inline in the stack file or in a routes file.

A route matches a method and a path (``{name}`` matches one segment, ``{name:path}`` the
rest), optionally a query, headers and a JSON body, and answers with a response or a
sequence of responses. The same models validate the stack file at ``check`` time, routes
added at run time through the admin API, and the server's configuration.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from tempstack.spec.fields import Duration, Strict

ADMIN_PREFIX = "/__tempstack/"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*")
PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")
#: 1xx are interim answers, never final: a client waits for the real response forever
Status = Annotated[int, Field(ge=200, le=599)]
#: statuses whose responses never carry a body (RFC 9110 15.3.5, 15.3.6, 15.4.5)
BODILESS = (204, 205, 304)
#: a header name is an RFC 9110 token
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: what no header value (and no SSE field) may hold: it would end the line early
LINE_BREAK = re.compile(r"[\r\n]")
#: ``reset``: the connection is reset (TCP RST) before any response; ``close``: it is closed
#: without a response; ``timeout``: the request is held open and never answered.
Fault = Literal["reset", "close", "timeout"]


class SseEvent(Strict):
    """One Server-Sent Event; ``data`` that is not a string is sent as JSON."""

    data: JsonValue
    event: str | None = None
    id: str | None = None
    retry: Annotated[int, Field(ge=0)] | None = None

    @field_validator("event", "id")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # a line break would end the field and let the rest forge other fields
        if value is not None and LINE_BREAK.search(value):
            raise ValueError(f"{value!r}: an SSE field cannot hold a line break (CR or LF)")
        return value


class MockResponse(Strict):
    status: Status = 200
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_: JsonValue = Field(default=None, alias="json")
    stream: list[str] | None = None  # chunks of a chunked response
    sse: list[SseEvent | str] | None = None  # a text/event-stream response
    interval: Duration | None = None  # pause between chunks or events
    delay: Duration | None = None  # latency before the response starts
    fault: Fault | None = None  # instead of a response

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not TOKEN.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a valid header name (letters, digits and "
                    "!#$%&'*+-.^_`|~, no spaces)"
                )
            if LINE_BREAK.search(text):
                raise ValueError(f"header {name}: a value cannot hold a line break (CR or LF)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> MockResponse:
        given = [
            name
            for name, value in (
                ("body", self.body),
                ("json", self.json_),
                ("stream", self.stream),
                ("sse", self.sse),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of body, json, stream or sse; got {', '.join(given)}"
            )
        if self.fault is not None and given:
            raise ValueError(f"a fault sends no response, so it cannot have {given[0]}")
        if self.status in BODILESS and given:
            raise ValueError(
                f"a {self.status} response has no body, so it cannot have {given[0]}; "
                "use another status (200, for example) to send one"
            )
        if self.interval is not None and self.stream is None and self.sse is None:
            raise ValueError("interval only applies to stream or sse responses")
        return self


class FaultRule(Strict):
    """Random failures: with probability ``rate`` the route answers with a fault instead."""

    rate: Annotated[float, Field(gt=0, le=1)]
    kind: Literal["status", "reset", "close", "timeout"] = "status"
    status: Status | None = None  # for kind = "status"; 500 when not given

    @model_validator(mode="after")
    def _status_kind(self) -> FaultRule:
        if self.kind != "status" and self.status is not None:
            raise ValueError(f"status only applies to kind = 'status', not {self.kind!r}")
        return self


class MockMatch(Strict):
    """Extra conditions; every one given must hold. ``json`` matches a subset of the body."""

    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    json_: JsonValue = Field(default=None, alias="json")
    body: str | None = None  # a regular expression searched in the body text

    @field_validator("body")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"body is not a valid regular expression: {exc}") from exc
        return value


class MockRoute(Strict):
    name: str | None = None
    method: str = "GET"
    path: str
    match: MockMatch | None = None
    response: MockResponse | None = None
    sequence: Annotated[list[MockResponse], Field(min_length=1)] | None = None
    repeat: Literal["last", "cycle"] = "last"  # what a sequence does once it has run out
    latency: Duration | None = None  # added before every response of this route
    faults: FaultRule | None = None
    times: Annotated[int, Field(ge=1)] | None = None  # stop matching after this many calls

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        upper = value.upper()
        if upper not in METHODS:
            raise ValueError(f"{value!r} is not an HTTP method; use one of {', '.join(METHODS)}")
        return upper

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', got {value!r}")
        if value.startswith(ADMIN_PREFIX) or value == ADMIN_PREFIX.rstrip("/"):
            raise ValueError(f"{ADMIN_PREFIX} is reserved for tempstack's admin API")
        names = [m.group(1) for m in PARAM.finditer(value)]
        if len(names) != len(set(names)):
            raise ValueError(f"path {value!r} uses a parameter name twice")
        if "{" in PARAM.sub("", value) or "}" in PARAM.sub("", value):
            raise ValueError(
                f"path {value!r}: parameters are written {{name}} or {{name:path}} "
                "(letters, digits and '_')"
            )
        return value

    @model_validator(mode="after")
    def _responds(self) -> MockRoute:
        if (self.response is None) == (self.sequence is None):
            raise ValueError(
                "a route needs exactly one of 'response' (a table) or 'sequence' (a list of "
                "responses, used in turn)" + ("" if self.response is None else "; got both")
            )
        return self


class RoutesFile(Strict):
    """A routes file: ``[[routes]]`` tables (TOML) or ``{"routes": [...]}`` (JSON)."""

    routes: list[MockRoute] = Field(default_factory=list)


def dump_routes(routes: list[MockRoute]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in routes]
