"""An aiohttp app behind the recording proxy in the proxy tests.

``python proxy_target.py`` listens on a free port of 127.0.0.1 and prints ``port N``.
Endpoints:

- ``GET /hello``: ``hello``; ``GET /orders/{id}``: a small JSON body.
- ``GET /peer``: the client's address as the app sees it (``host:port``): equal answers on
  two requests mean they came over one connection.
- ``GET /headers``: the request's headers as received, in order, names as sent.
- ``GET /status/{code}``: an empty response with that status.
- ``POST /upload``: reads the body as it arrives; answers its size and sha256.
- ``GET /download?size=N``: N deterministic bytes as a chunked response, 64 KiB per write.
- ``GET /events?n=N&key=K``: server-sent events; after each event it waits for
  ``POST /next?key=K`` before sending the next, so a client only gets event i+1 if event i
  reached it. ``GET /stream?key=K``: ``open`` while that stream's connection is open, else
  ``closed``.
- ``GET /ws``: a WebSocket echo.
- ``GET /page``: an HTML page that fetches ``/orders/42`` and shows the events of
  ``/events?n=3&key=browser`` through an ``EventSource``, one list item each.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import defaultdict

from aiohttp import WSMsgType, web

BLOCK = bytes(range(256)) * 256  # 64 KiB


def download_bytes(size: int) -> bytes:
    """What ``/download?size=N`` sends, for the tests to compare with."""
    return (BLOCK * (size // len(BLOCK) + 1))[:size]


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def order(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"]})


async def peer(request: web.Request) -> web.Response:
    host, port = request.transport.get_extra_info("peername")[:2]  # type: ignore[union-attr]
    return web.Response(text=f"{host}:{port}")


async def headers(request: web.Request) -> web.Response:
    raw = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in request.raw_headers]
    return web.json_response(raw)


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]))


async def upload(request: web.Request) -> web.Response:
    digest, size = hashlib.sha256(), 0
    async for block in request.content.iter_any():
        digest.update(block)
        size += len(block)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


async def download(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for offset in range(0, size, len(BLOCK)):
        await response.write(BLOCK[: min(len(BLOCK), size - offset)])
    await response.write_eof()
    return response


async def events(request: web.Request) -> web.StreamResponse:
    key = request.query.get("key", "")
    proceed: asyncio.Queue[None] = request.app["next"][key]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    request.app["streams"][key] = request
    count = int(request.query.get("n", "3"))
    try:
        for i in range(count):
            await response.write(f"id: {i}\ndata: event {i}\n\n".encode())
            if i + 1 < count:
                await proceed.get()
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left: the tests look at that through /stream
    return response


async def next_event(request: web.Request) -> web.Response:
    request.app["next"][request.query.get("key", "")].put_nowait(None)
    return web.Response(text="ok")


async def stream_open(request: web.Request) -> web.Response:
    stream = request.app["streams"].get(request.query.get("key", ""))
    open_ = stream is not None and stream.transport is not None
    return web.Response(text="open" if open_ and not stream.transport.is_closing() else "closed")


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


PAGE = """<!doctype html>
<title>proxy</title>
<p id="order"></p>
<ul id="events"></ul>
<script>
fetch("/orders/42").then((r) => r.json()).then((order) => {
  document.getElementById("order").textContent = "order " + order.id;
});
const source = new EventSource("/events?n=3&key=browser");
let received = 0;
source.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = event.data;
  document.getElementById("events").append(item);
  if (++received === 3) source.close();  // no reconnection once the stream is done
};
</script>
"""


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


def make_app() -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app["next"] = defaultdict(asyncio.Queue)
    app["streams"] = {}
    app.router.add_get("/hello", hello)
    app.router.add_get("/orders/{id}", order)
    app.router.add_get("/peer", peer)
    app.router.add_get("/headers", headers)
    app.router.add_get("/status/{code}", status)
    app.router.add_post("/upload", upload)
    app.router.add_get("/download", download)
    app.router.add_get("/events", events)
    app.router.add_post("/next", next_event)
    app.router.add_get("/stream", stream_open)
    app.router.add_get("/ws", echo)
    app.router.add_get("/page", page)
    return app


async def main() -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"port {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
