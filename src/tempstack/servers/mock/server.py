"""The mock's state (routes, journal, random source) and the handler every request reaches."""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tempstack.servers.mock import admin
from tempstack.servers.mock.journal import Entry, Journal
from tempstack.servers.mock.matching import Incoming
from tempstack.servers.mock.responses import (
    Rendered,
    fault,
    pause,
    render,
    response_for,
    send,
)
from tempstack.servers.mock.table import Route, RouteTable
from tempstack.servers.mock.templating import TemplateError
from tempstack.spec.routes import ADMIN_PREFIX, MockRoute

MAX_BODY = 64 * 1024**2  # request bodies; aiohttp's default (1 MiB) is small for uploads


class MockServer:
    def __init__(
        self, routes: list[MockRoute], seed: int | None, log: Callable[[str], None] = print
    ) -> None:
        self.table = RouteTable(routes)
        self.journal = Journal()
        self.seed = seed
        self.rng = random.Random(seed)
        self.log = log
        self.stopping = asyncio.Event()  # set when shutdown begins: held requests let go

    def reset(self) -> None:
        """Back to the state at start: same routes, same random faults (with a seed)."""
        self.journal.clear()
        self.table.reset()
        self.rng = random.Random(self.seed)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        admin.add_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self.handle)

        async def stopping(app: web.Application) -> None:
            self.stopping.set()

        app.on_shutdown.append(stopping)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX) or request.path == ADMIN_PREFIX.rstrip("/"):
            return admin.unknown(request)
        entry = self.journal.record(request.method, request.path, request.query, request.headers)
        try:
            return await self._handle(request, entry)
        except asyncio.CancelledError:
            if entry.fault is None and entry.error is None:
                # the client left (or the server is stopping) first
                entry.error = "the connection closed before the response"
            raise

    async def _handle(self, request: web.Request, entry: Entry) -> web.StreamResponse:
        try:
            raw = await self._read_body(request)
        except web.HTTPRequestEntityTooLarge:
            self._log(request, f"413, the body is larger than {MAX_BODY} bytes")
            error = {"error": f"the request body is larger than the mock takes ({MAX_BODY} bytes)"}
            return await self._deliver(request, entry, web.json_response(error, status=413))
        if raw is None:
            entry.error = "the server stopped before the request body had arrived"
            self._log(request, "abandoned: the server stopped before the body had arrived")
            raise asyncio.CancelledError  # ends the handler the way aiohttp expects
        body = raw.decode("utf-8", errors="replace")
        parsed, is_json = Incoming.parse_json(body)
        entry.keep_body(raw, body, parsed)
        req = Incoming(
            request.method, request.path, request.query, request.headers, body, parsed, is_json
        )
        found = self.table.find(req)
        if found is None:
            self._log(request, "404, no route matched")
            response = web.json_response(
                {
                    "error": f"no route matches {req.method} {req.path}",
                    "request": {"method": req.method, "path": req.path},
                    "closest": self.table.closest(req),
                },
                status=404,
            )
            return await self._deliver(request, entry, response)
        route, params = found
        entry.route, entry.route_index, entry.route_source = route.name, route.index, route.source
        return await self._answer(request, req, entry, route, params)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The whole body, or None if the server began stopping before it had all arrived.

        A body still uploading (a client that sent half of it) must not hold up the exit:
        aiohttp would wait for its handler until ``shutdown_timeout``.
        """
        if request.content.is_eof():  # already all here: the usual case
            return await request.read()
        reading = asyncio.ensure_future(request.read())
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((reading, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not reading.done():
                reading.cancel()  # the server is stopping, or this handler was cancelled
        return reading.result() if reading.done() and not reading.cancelled() else None

    async def _deliver(
        self,
        request: web.Request,
        entry: Entry,
        response: web.StreamResponse,
        rendered: Rendered | None = None,
    ) -> web.StreamResponse:
        """Send ``response`` now and only then record its status in the journal.

        Left to aiohttp (after the handler returns), a response that fails to go out would
        still be in the journal with its status while the client saw a dropped connection.
        """
        try:
            await send(request, response, rendered, self.stopping)
        except asyncio.CancelledError:
            entry.error = "the connection closed during the response"
            raise
        except ConnectionError as exc:
            entry.error = f"the connection failed during the response: {exc}"
            self._log(request, f"{response.status} not sent: {exc}")
            return response  # aiohttp finds the connection broken too, and drops it quietly
        except Exception as exc:
            entry.error = f"the response could not be sent: {type(exc).__name__}: {exc}"
            raise
        entry.status = response.status
        return response

    async def _answer(
        self,
        request: web.Request,
        req: Incoming,
        entry: Entry,
        route: Route,
        params: dict[str, str],
    ) -> web.StreamResponse:
        prepared = route.take()
        rule = route.spec.faults
        # drawn as the request arrives, so the same requests in the same order always get
        # the same faults for a given seed, however long each one takes
        injected = rule.kind if rule is not None and self.rng.random() < rule.rate else None
        latency = route.spec.latency or 0.0
        if injected is None:
            latency += prepared.spec.delay or 0.0
        if latency:
            await pause(latency, self.stopping)
        if rule is not None and injected == "status":
            status = rule.status or 500
            self._log(request, f"{status} injected fault, route {route.label}")
            response = web.json_response(
                {"error": "injected fault", "route": route.name}, status=status
            )
            return await self._deliver(request, entry, response)
        kind = injected or prepared.spec.fault
        if kind is not None:
            entry.fault = kind
            self._log(request, f"fault {kind}, route {route.label}")
            await fault(request, kind, self.stopping)
        ctx: dict[str, Any] = {
            "path": params,
            "query": request.query,
            "headers": request.headers,
            "json": req.json,
            "body": req.body,
            "method": req.method,
            "url": str(request.url),
            "count": route.calls,
        }
        try:
            rendered = render(prepared, ctx)
        except TemplateError as exc:
            entry.error = str(exc)
            self._log(request, f"500 template error: {exc}")
            response = web.json_response(
                {"error": "template error", "template": exc.where, "problem": exc.problem},
                status=500,
            )
            return await self._deliver(request, entry, response)
        self._log(request, f"{rendered.status}, route {route.label}")
        return await self._deliver(request, entry, response_for(rendered), rendered)

    def _log(self, request: web.BaseRequest, outcome: str) -> None:
        self.log(f"{request.method} {request.path_qs} -> {outcome}")


async def serve(server: MockServer, host: str, port: int) -> None:
    """Listen until SIGTERM or SIGINT, then stop at once: held requests are let go."""
    runner = web.AppRunner(
        server.application(),
        handler_cancellation=True,  # a client that leaves cancels its handler (see fault())
        access_log=None,  # one line per request is printed by the server itself
        # a backstop: streams, held requests and bodies still uploading end on `stopping`,
        # and what is left (a response being written) is cut after this long
        shutdown_timeout=0.2,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        server.log(
            f"listening on http://{host}:{port} with {len(server.table.stack)} routes; "
            f"admin API at http://{host}:{port}{ADMIN_PREFIX}"
        )
        await stop.wait()
        server.log("stopping")
    finally:
        await runner.cleanup()
