"""Answering: plain and JSON bodies, chunked streams, Server-Sent Events, and faults.

Everything templated is rendered before the first byte is sent, so a template error is a
clean 500 naming the template rather than a stream cut in the middle. Responses are sent
from the handler itself (not by aiohttp once it returns) so that the journal records a
status only for a response that went out.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web
from multidict import CIMultiDict

from tempstack.servers.mock.prepared import Prepared
from tempstack.servers.mock.templating import Context
from tempstack.spec.routes import SseEvent

#: the line ends of text/event-stream: a bare CR ends a line too, so data must split on it
_SSE_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Rendered:
    status: int
    headers: CIMultiDict[str]
    body: bytes | None  # a whole body, or None for a streamed one
    parts: list[bytes]  # chunks or SSE events, sent one by one with ``interval`` between
    interval: float


def render(prepared: Prepared, ctx: Context) -> Rendered:
    """The response for one request; raises ``TemplateError`` naming a bad template."""
    spec = prepared.spec
    headers = CIMultiDict((name, str(value.render(ctx))) for name, value in prepared.headers)
    body: bytes | None = b""
    parts: list[bytes] = []
    if prepared.json is not None:
        headers.setdefault("Content-Type", "application/json")
        body = json.dumps(prepared.json.render(ctx)).encode()
    elif prepared.body is not None:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        body = str(prepared.body.render(ctx)).encode()
    elif prepared.chunks is not None:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        body = None
        parts = [str(chunk.render(ctx)).encode() for chunk in prepared.chunks]
    elif prepared.events is not None:
        headers.setdefault("Content-Type", "text/event-stream")
        headers.setdefault("Cache-Control", "no-cache")
        body = None
        parts = [format_event(event, data.render(ctx)) for event, data in prepared.events]
    return Rendered(spec.status, headers, body, parts, spec.interval or 0.0)


def format_event(event: SseEvent, data: Any) -> bytes:
    """One event in the text/event-stream format; multi-line data becomes several lines."""
    lines = []
    if event.event is not None:
        lines.append(f"event: {event.event}")
    if event.id is not None:
        lines.append(f"id: {event.id}")
    if event.retry is not None:
        lines.append(f"retry: {event.retry}")
    text = data if isinstance(data, str) else json.dumps(data)
    lines.extend(f"data: {line}" for line in _SSE_LINE_END.split(text))
    return ("\n".join(lines) + "\n\n").encode()


def response_for(rendered: Rendered) -> web.StreamResponse:
    """The aiohttp response for ``rendered``, to be sent with ``send``."""
    if rendered.body is not None:
        return web.Response(status=rendered.status, headers=rendered.headers, body=rendered.body)
    response = web.StreamResponse(status=rendered.status, headers=rendered.headers)
    response.enable_chunked_encoding()
    return response


async def send(
    request: web.BaseRequest,
    response: web.StreamResponse,
    rendered: Rendered | None,
    stopping: asyncio.Event,
) -> None:
    """Send ``response`` to the end, with ``rendered``'s parts if it is a stream.

    A HEAD request gets the headers only (aiohttp leaves out a whole body by itself; the
    parts of a stream are not written). Raises ``ConnectionError`` if the client has gone.
    """
    await response.prepare(request)
    if rendered is not None and rendered.body is None and request.method != "HEAD":
        for i, part in enumerate(rendered.parts):
            if i and rendered.interval and await pause(rendered.interval, stopping):
                break  # the server is stopping: end the stream rather than hold up the exit
            await response.write(part)  # each part is sent at once, as its own chunk
    await response.write_eof()


async def pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Sleep without blocking other requests; True if the server began stopping meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def fault(request: web.BaseRequest, kind: str, stopping: asyncio.Event) -> NoReturn:
    """Fail the connection instead of answering.

    ``reset`` sends a TCP RST (``SO_LINGER`` 0, then close), ``close`` a plain FIN, and
    ``timeout`` holds the request unanswered until the client gives up or the server stops.
    Closing the transport makes aiohttp cancel this handler (``handler_cancellation``), the
    quiet path it uses for a client that went away; the wait below just lets that happen.
    """
    transport = request.transport
    if kind == "timeout":
        await stopping.wait()
        kind = "close"
    if transport is not None and not transport.is_closing():
        if kind == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
    await stopping.wait()
    raise asyncio.CancelledError  # shutting down: end the handler the way aiohttp expects
