"""A route's responses with their templates compiled, and ``check``'s search for bad ones.

Imports neither aiohttp nor jinja2 (jinja2 only once a string holds a template), so the
stack check can compile every template without paying for the server.
"""

from __future__ import annotations

from dataclasses import dataclass

from tempstack.servers.mock import templating
from tempstack.servers.mock.templating import Problems, TemplateError
from tempstack.spec.routes import MockResponse, MockRoute, SseEvent


@dataclass
class Prepared:
    """A response with its templates compiled."""

    spec: MockResponse
    headers: list[tuple[str, templating.Renderer]]
    body: templating.Renderer | None
    json: templating.Renderer | None
    chunks: list[templating.Renderer] | None
    events: list[tuple[SseEvent, templating.Renderer]] | None


def prepare(spec: MockResponse, where: str, problems: Problems = None) -> Prepared:
    """Compile a response's templates; ``TemplateError`` names the first bad one.

    Given ``problems``, every bad template is added there instead of raising.
    """
    headers = [
        (k, templating.header(v, f"{where}.headers.{k}", problems)) for k, v in spec.headers.items()
    ]
    events = None
    if spec.sse is not None:
        events = []
        for i, item in enumerate(spec.sse):
            event = SseEvent(data=item) if isinstance(item, str) else item
            data = templating.json_value(event.data, f"{where}.sse[{i}].data", problems)
            events.append((event, data))
    chunks = None
    if spec.stream is not None:
        chunks = [
            templating.text(c, f"{where}.stream[{i}]", problems) for i, c in enumerate(spec.stream)
        ]
    return Prepared(
        spec=spec,
        headers=headers,
        body=None if spec.body is None else templating.text(spec.body, f"{where}.body", problems),
        json=None
        if spec.json_ is None
        else templating.json_value(spec.json_, f"{where}.json", problems),
        chunks=chunks,
        events=events,
    )


def prepare_route(spec: MockRoute, prefix: str, problems: Problems = None) -> list[Prepared]:
    """A route's responses, each named ``<prefix>response`` or ``<prefix>sequence[i]``."""
    if spec.response is not None:
        return [prepare(spec.response, f"{prefix}response", problems)]
    assert spec.sequence is not None  # the model requires one of the two
    return [prepare(r, f"{prefix}sequence[{i}]", problems) for i, r in enumerate(spec.sequence)]


def template_problems(routes: list[MockRoute], prefix: str) -> list[TemplateError]:
    """Every template of ``routes`` that does not compile, named ``<prefix>routes[i]....``."""
    problems: list[TemplateError] = []
    for i, route in enumerate(routes):
        prepare_route(route, f"{prefix}routes[{i}].", problems)
    return problems


def route_label(spec: MockRoute) -> str:
    return repr(spec.name) if spec.name else f"{spec.method} {spec.path}"
