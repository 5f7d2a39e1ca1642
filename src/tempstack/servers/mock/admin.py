"""The admin API under ``/__tempstack/``: health, the request journal, run-time routes, reset.

==========  =============================  ==============================================
GET         /__tempstack/health            200 once the server is set up (readiness)
GET         /__tempstack/requests          the journal, oldest first (?method=&path=&route=)
DELETE      /__tempstack/requests          clear the journal
GET         /__tempstack/routes            every route in the order they are tried
POST        /__tempstack/routes            add one route or a list (a same-named one is replaced)
PUT         /__tempstack/routes            replace all run-time routes
DELETE      /__tempstack/routes/{name}     remove one run-time route
POST        /__tempstack/reset             journal, run-time routes, counters and seed reset
==========  =============================  ==============================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from tempstack.servers.mock.table import Route
from tempstack.servers.mock.templating import TemplateError
from tempstack.spec.routes import ADMIN_PREFIX, MockRoute, RoutesFile

if TYPE_CHECKING:
    from tempstack.servers.mock.server import MockServer

ENDPOINTS = [
    "GET health",
    "GET requests",
    "DELETE requests",
    "GET routes",
    "POST routes",
    "PUT routes",
    "DELETE routes/{name}",
    "POST reset",
]


class BadRoutes(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def add_routes(app: web.Application, server: MockServer) -> None:
    p = ADMIN_PREFIX

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "routes": len(server.table.all())})

    async def list_requests(request: web.Request) -> web.Response:
        q = request.query
        entries = server.journal.select(q.get("method"), q.get("path"), q.get("route"))
        return web.json_response(
            {"requests": [e.to_json() for e in entries], "dropped": server.journal.dropped}
        )

    async def clear_requests(request: web.Request) -> web.Response:
        return web.json_response({"cleared": server.journal.clear()})

    async def list_routes(request: web.Request) -> web.Response:
        return web.json_response({"routes": [r.summary() for r in server.table.all()]})

    async def post_routes(request: web.Request) -> web.Response:
        try:
            routes = parse_routes(await _json(request))
        except BadRoutes as exc:
            return web.json_response({"errors": exc.errors}, status=400)
        added, replaced = server.table.add(routes)
        server.log(f"admin: added {added or 'no'} routes, replaced {replaced or 'none'}")
        return web.json_response({"added": added, "replaced": replaced}, status=201)

    async def put_routes(request: web.Request) -> web.Response:
        try:
            routes = parse_routes(await _json(request))
        except BadRoutes as exc:
            return web.json_response({"errors": exc.errors}, status=400)
        server.table.replace(routes)
        server.log(f"admin: run-time routes replaced by {[r.name for r in routes]}")
        return web.json_response({"routes": [r.name for r in routes]})

    async def delete_route(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not server.table.remove(name):
            names = [r.spec.name for r in server.table.runtime if r.spec.name]
            return _error(
                404,
                f"no run-time route named {name!r} (run-time routes: {names or 'none'}; "
                "routes from the stack file cannot be removed, but a run-time route overrides "
                "them)",
            )
        server.log(f"admin: removed route {name!r}")
        return web.json_response({"removed": name})

    async def reset(request: web.Request) -> web.Response:
        server.reset()
        server.log("admin: reset")
        return web.json_response({"reset": True})

    app.router.add_get(p + "health", health)
    app.router.add_get(p + "requests", list_requests)
    app.router.add_delete(p + "requests", clear_requests)
    app.router.add_get(p + "routes", list_routes)
    app.router.add_post(p + "routes", post_routes)
    app.router.add_put(p + "routes", put_routes)
    app.router.add_delete(p + "routes/{name}", delete_route)
    app.router.add_post(p + "reset", reset)


def unknown(request: web.BaseRequest) -> web.Response:
    """An admin path or method that does not exist (mock routes never live here)."""
    return _error(
        404,
        f"no admin endpoint {request.method} {request.path}; the admin API has: "
        + ", ".join(f"{e.split()[0]} {ADMIN_PREFIX}{e.split()[1]}" for e in ENDPOINTS),
    )


def parse_routes(data: Any) -> list[Route]:
    """Routes from a request body: one route, a list, or ``{"routes": [...]}``.

    Everything is validated and compiled before anything changes, and every problem is
    reported (one line each, named like ``routes[1].response.status``).
    """
    single = isinstance(data, dict) and "routes" not in data
    items = [data] if single else data.get("routes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise BadRoutes(['expected a route object, a list of routes, or {"routes": [...]}'])
    try:
        if single:
            specs = [MockRoute.model_validate(data)]
        else:
            specs = RoutesFile.model_validate({"routes": items}).routes
    except ValidationError as exc:
        # the stack file's error wording, imported only when there is an error to word
        from tempstack.spec.errors import convert

        if single:
            errors = convert(exc, MockRoute, "", "", "a route", data)
        else:
            errors = convert(exc, RoutesFile, "", "", "a routes file", {"routes": items})
        raise BadRoutes([f"{e.key or 'route'}: {e.problem}" for e in errors]) from None
    problems: list[str] = []
    seen: set[str] = set()
    routes: list[Route] = []
    for i, spec in enumerate(specs):
        if spec.name is not None and spec.name in seen:
            problems.append(_line(f"routes[{i}].name", f"{spec.name!r} is given twice", single))
        seen.add(spec.name or "")
        try:
            routes.append(Route.build(spec, "runtime", i))
        except TemplateError as exc:
            problems.append(str(exc) if single else f"routes[{i}]: {exc}")
    if problems:
        raise BadRoutes(problems)
    return routes


def _line(key: str, problem: str, single: bool) -> str:
    """``routes[0].name: ...``, or ``name: ...`` when the request held a single route."""
    if single:
        key = key.removeprefix("routes[0]").removeprefix(".") or "route"
    return f"{key}: {problem}"


async def _json(request: web.Request) -> Any:
    """The body as JSON, whatever the Content-Type says.

    The bytes are parsed directly (``json.loads`` detects UTF-8, -16 and -32): decoding them
    by the request's charset first would fail on an unknown charset with a bare 500.
    """
    try:
        return json.loads(await request.read())
    except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRoutes([f"the request body is not JSON (UTF-8): {exc}"]) from None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
