"""A recording HTTP/1.1 reverse proxy: one line of latency per request, bytes passed unchanged.

Run as ``python -m tempstack.profile.proxy CONFIG.json`` with::

    {"host": "127.0.0.1", "records": "/path/records.tsv",
     "routes": [{"service": "web", "listen": 41001, "target": 41002}, ...]}

One process serves every route, each on its own port on ``host``, forwarding to
``127.0.0.1:target`` (``"target_host"`` may say otherwise). ``"listen": 0`` picks a free port;
the start line printed per route says which.

The proxy is deliberately transparent: heads are forwarded byte for byte (nothing added,
nothing removed, the app sees the proxy's ``Host``), and it only parses what it needs to find
where each message ends: the request and status lines, ``Content-Length``,
``Transfer-Encoding``, ``Connection``, ``Expect`` and ``Content-Type``. Bodies are forwarded
as they arrive, piece by piece with back-pressure, so uploads and downloads of any size are
streamed and server-sent events reach the client one by one. Each client connection has its
own upstream connection, kept alive as long as both sides keep theirs. A ``101`` (WebSocket)
or a ``2xx`` to ``CONNECT`` turns the pair into a raw byte tunnel.

Records (``http.read_records`` reads them) are tab-separated lines::

    start_epoch_seconds  service  METHOD  path_without_query  status  latency_ms  streaming

``latency_ms`` runs from the first byte of the request to the last byte of the response. A
*streaming* response (``text/event-stream``, ``application/x-ndjson``,
``multipart/x-mixed-replace``, or a tunnel) is recorded as soon as its head is forwarded, with
the time to the head, so a stream that lasts the whole run still counts. Whether a response
without a length is a stream cannot be told from its bytes without waiting, so the content
type decides. ``status`` is 0 when no complete response came from the service: it refused the
connection (the client gets a ``502``), closed it early, or sent something unparseable. A
request the client abandons before any response head is not recorded (a browser leaving a
page is not the service's failure).

Each line is written with one ``os.write`` on an ``O_APPEND`` descriptor *before* the
response's last byte is handed to the client, so a test that has its response can already read
its record; there is no buffer to flush at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_SIZE = 256 * 1024  # bytes per read; also the StreamReader limit (its pause threshold x2)
MAX_HEAD = 64 * 1024  # a request or response head longer than this is refused
MAX_LINE = 8 * 1024  # a chunk-size or trailer line longer than this is refused

#: body framings besides a length (>= 0)
CHUNKED = -1
UNTIL_CLOSE = -2

STREAM_TYPES = (b"text/event-stream", b"application/x-ndjson", b"multipart/x-mixed-replace")
NO_BODY_STATUSES = frozenset({204, 304})


class ProtocolError(Exception):
    """A message that cannot be framed: the connection cannot be used any further."""


class UpstreamError(Exception):
    """The service closed the connection or sent something unusable before its response ended."""


# -- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Route:
    service: str
    listen: int
    target: int


@dataclass(frozen=True, slots=True)
class Config:
    host: str
    records: str
    routes: tuple[Route, ...]
    target_host: str = "127.0.0.1"


def load_config(path: Path) -> Config:
    raw: dict[str, Any] = json.loads(path.read_text())
    routes = tuple(
        Route(service=str(r["service"]), listen=int(r["listen"]), target=int(r["target"]))
        for r in raw["routes"]
    )
    return Config(
        host=str(raw.get("host", "127.0.0.1")),
        records=str(raw["records"]),
        routes=routes,
        target_host=str(raw.get("target_host", "127.0.0.1")),
    )


# -- records -------------------------------------------------------------------------------------
class Recorder:
    """Appends one line per request; a single ``write(2)`` per line, no user-space buffer."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def record(
        self,
        start: float,
        service: str,
        method: str,
        path: str,
        status: int,
        latency: float,
        streaming: bool,
    ) -> None:
        line = (
            f"{start:.6f}\t{service}\t{method}\t{path}\t{status}\t{latency * 1000:.3f}\t"
            f"{1 if streaming else 0}\n"
        ).encode()
        while line:
            line = line[os.write(self.fd, line) :]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def record_path(target: bytes) -> str:
    """The request target without its query, safe for one TSV field."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if not path.startswith(b"/") and b"://" in path:  # absolute-form: http://host/path
        rest = path.split(b"://", 1)[1]
        slash = rest.find(b"/")
        path = rest[slash:] if slash >= 0 else b"/"
    text = path.decode("latin-1")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "%09").replace("\n", "%0A").replace("\r", "%0D")
    return text or "/"


# -- message heads -------------------------------------------------------------------------------
@dataclass(slots=True)
class Head:
    """What the proxy needs to know about a request or response head."""

    raw: bytes
    first: list[bytes]  # the start line's parts
    length: int = 0  # a length, CHUNKED or UNTIL_CLOSE
    close: bool = False  # this side ends the connection after the message
    expect_continue: bool = False  # the client waits for a 100 before it sends its body
    streaming_type: bool = False


def parse_head(raw: bytes, request: bool) -> Head:
    lines = raw[:-4].split(b"\r\n")
    first = lines[0].split(b" ", 2)
    if len(first) < 2 or (request and len(first) != 3):
        raise ProtocolError("bad start line")
    version = first[2] if request else first[0]
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ProtocolError("not HTTP/1.x")
    head = Head(raw=raw, first=first)
    lengths: set[bytes] = set()
    chunked = te_other = False
    connection: list[bytes] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            if line[:1] in (b" ", b"\t"):
                continue  # obsolete line folding: part of the previous header, which we ignore
            raise ProtocolError("header line without a colon")
        name = name.lower()
        if name == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif name == b"transfer-encoding":
            codings = [c.strip().lower() for c in value.split(b",") if c.strip()]
            chunked = bool(codings) and codings[-1] == b"chunked"
            te_other = not chunked
        elif name == b"connection":
            connection.extend(t.strip().lower() for t in value.split(b","))
        elif name == b"expect":
            head.expect_continue = value.strip().lower() == b"100-continue"
        elif name == b"content-type":
            head.streaming_type = value.strip().lower().startswith(STREAM_TYPES)
    if chunked:
        head.length = CHUNKED
    elif te_other:
        if request:
            raise ProtocolError("request body with an unknown transfer coding")
        head.length = UNTIL_CLOSE
    elif lengths:
        value = lengths.pop()
        if lengths or not value.isdigit():
            raise ProtocolError("bad Content-Length")
        head.length = int(value)
    elif not request:
        head.length = UNTIL_CLOSE  # refined by the caller: HEAD, 1xx, 204, 304 have no body
    if b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection):
        head.close = True
    return head


class ChunkedScanner:
    """Finds where a chunked body ends, without changing a byte of it."""

    __slots__ = ("line", "remaining", "state")

    SIZE, DATA, TRAILER = 0, 1, 2

    def __init__(self) -> None:
        self.state = self.SIZE
        self.remaining = 0  # DATA: bytes left of the chunk, with its closing CRLF
        self.line = bytearray()

    def scan(self, data: bytes) -> int:
        """Feed the next bytes; the offset just past the body's end, or -1 if it goes on."""
        pos, size = 0, len(data)
        while pos < size:
            if self.state == self.DATA:
                take = min(self.remaining, size - pos)
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = self.SIZE
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                self.line += data[pos:]
                if len(self.line) > MAX_LINE:
                    raise ProtocolError("chunk line too long")
                return -1
            self.line += data[pos:newline]
            pos = newline + 1
            line = bytes(self.line).rstrip(b"\r")
            self.line.clear()
            if self.state == self.TRAILER:
                if not line:
                    return pos
                continue
            digits = line.split(b";", 1)[0].strip()
            try:
                chunk = int(digits, 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if chunk < 0:
                raise ProtocolError("bad chunk size")
            if chunk:
                self.remaining, self.state = chunk + 2, self.DATA
            else:
                self.state = self.TRAILER
        return -1


# -- connections ---------------------------------------------------------------------------------
class Conn:
    """A stream pair with a push-back buffer for bytes read past the end of a message."""

    __slots__ = ("pending", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending = b""

    async def recv(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return await self.reader.read(READ_SIZE)

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending

    def usable(self) -> bool:
        return not self.pending and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def read_head(conn: Conn, first: bytes, request: bool) -> bytes:
    """The head that starts with ``first`` (already received); the rest is pushed back."""
    data = first
    if request:
        data = data.lstrip(b"\r\n")  # empty lines before a request are to be ignored
    end = data.find(b"\r\n\r\n")
    while end < 0:
        if len(data) > MAX_HEAD:
            raise ProtocolError("head too long")
        more = await conn.recv()
        if not more:
            raise (ProtocolError if request else UpstreamError)("closed inside a head")
        searched = max(len(data) - 3, 0)
        data += more
        end = data.find(b"\r\n\r\n", searched)
        if request and end < 0 and not data.strip(b"\r\n"):
            data = b""
    if end + 4 < len(data):
        conn.unread(data[end + 4 :])
    return data[: end + 4]


class BodyReader:
    """Yields the pieces of one message body as they arrive, and says which one is the last."""

    __slots__ = ("chunks", "conn", "error", "remaining", "until_close")

    def __init__(self, conn: Conn, length: int, error: type[Exception]) -> None:
        self.conn = conn
        self.error = error  # raised when the body is cut short
        self.remaining = max(length, 0)
        self.chunks = ChunkedScanner() if length == CHUNKED else None
        self.until_close = length == UNTIL_CLOSE

    async def read(self) -> tuple[bytes, bool]:
        data = await self.conn.recv()
        if not data:
            if self.until_close:
                return b"", True
            raise self.error("connection closed inside a body")
        if self.chunks is not None:
            end = self.chunks.scan(data)
            if end < 0:
                return data, False
        elif self.until_close:
            return data, False
        elif len(data) < self.remaining:
            self.remaining -= len(data)
            return data, False
        else:
            end, self.remaining = self.remaining, 0
        if end < len(data):
            self.conn.unread(data[end:])
            data = data[:end]
        return data, True


class ClientGone(Exception):
    """The client hung up or reset while its response was being sent."""


@dataclass(slots=True)
class Exchange:
    """One request and its response, as the proxy sees them."""

    req: Head
    start: float  # epoch seconds of the request's first byte
    t0: float  # the same moment on perf_counter
    body: asyncio.Task[str] | None = None  # copying the request body: "ok", "client", "upstream"
    status: int = 0  # of the final response, once its head is read
    answered: bool = False  # the final response's head went to the client
    recorded: bool = False

    def client_left(self) -> bool:
        return self.body is not None and self.body.done() and self.body.result() == "client"


async def pump_body(src: Conn, dst: Conn, length: int) -> str:
    """Copy a request body; says which side failed, if one did (the other is then closed)."""
    body = BodyReader(src, length, ProtocolError)
    while True:
        try:
            piece, last = await body.read()
        except (OSError, ProtocolError):
            dst.close()  # the service waits for a body that will not come: end its wait
            return "client"
        try:
            dst.writer.write(piece)
            if last:
                return "ok"
            await dst.writer.drain()
        except OSError:
            return "upstream"  # it may still answer (413, say); the response decides


async def discard_body(src: Conn, length: int) -> bool:
    """Read a request body that has nowhere to go; False if the client failed."""
    body = BodyReader(src, length, ProtocolError)
    try:
        while not (await body.read())[1]:
            pass
    except (OSError, ProtocolError):
        return False
    return True


async def pipe(src: Conn, dst: Conn) -> None:
    """Raw bytes one way until EOF, then half-close: a tunnel after 101 or CONNECT."""
    while data := await src.recv():
        dst.writer.write(data)
        await dst.writer.drain()
    if dst.writer.can_write_eof():
        dst.writer.write_eof()


async def wait_for_eof(client: Conn, body: asyncio.Task[str] | None) -> None:
    """Returns when the client hangs up during a long response (bytes it sends are kept)."""
    if body is not None:
        await asyncio.wait((body,))  # not ``await body``: cancelling us must not cancel it
        if body.result() != "ok":
            return
    data = await client.reader.read(READ_SIZE)
    if data:
        client.pending += data  # a pipelined request, read after this response; and as the
        await asyncio.Event().wait()  # client is evidently there, wait to be cancelled


# -- one listening port --------------------------------------------------------------------------
class RouteProxy:
    """Serves one route: accepts clients, forwards each request, records it."""

    def __init__(
        self, route: Route, target_host: str, recorder: Recorder, tasks: set[asyncio.Task[Any]]
    ) -> None:
        self.route = route
        self.target_host = target_host
        self.recorder = recorder
        self.tasks = tasks  # every connection's task, cancelled at shutdown

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        client = Conn(reader, writer)
        upstream: list[Conn | None] = [None]  # one upstream connection per client connection
        try:
            while True:
                first = await client.recv()
                if not first:
                    break
                start, t0 = time.time(), time.perf_counter()
                try:
                    head = parse_head(await read_head(client, first, request=True), request=True)
                except ProtocolError:
                    self.refuse(client, b"400 Bad Request", b"bad request\n", close=True)
                    break
                if not await self.exchange(client, upstream, Exchange(head, start, t0)):
                    break
        except (OSError, ProtocolError):
            pass
        except asyncio.CancelledError:
            # the proxy is stopping. End normally: on Python 3.11 asyncio's own done-callback
            # for this task calls task.exception(), which would log a cancelled task as an error
            pass
        finally:
            client.close()
            if upstream[0] is not None:
                upstream[0].close()
            self.tasks.discard(task)

    @staticmethod
    def refuse(client: Conn, status: bytes, body: bytes, close: bool) -> None:
        client.writer.write(
            b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
            b"%s\r\n%s" % (status, len(body), b"Connection: close\r\n" if close else b"", body)
        )

    def record(self, ex: Exchange, status: int, streaming: bool = False) -> None:
        ex.recorded = True
        self.recorder.record(
            ex.start,
            self.route.service,
            ex.req.first[0].decode("latin-1"),
            record_path(ex.req.first[1]),
            status,
            time.perf_counter() - ex.t0,
            streaming,
        )

    async def connect(self) -> Conn:
        reader, writer = await asyncio.open_connection(
            self.target_host, self.route.target, limit=READ_SIZE
        )
        return Conn(reader, writer)

    async def exchange(self, client: Conn, upstream: list[Conn | None], ex: Exchange) -> bool:
        """Forward one request and its response; True if the client connection goes on."""
        req = ex.req
        up = upstream[0]
        reused = up is not None and up.usable()
        if up is not None and not reused:
            up.close()
            up = upstream[0] = None
        try:
            if up is None:
                up = upstream[0] = await self.connect()
            up.writer.write(req.raw)
            if req.length != 0:
                ex.body = asyncio.create_task(pump_body(client, up, req.length))
            first = await up.recv()
            if not first and reused and ex.body is None:
                # the service closed an idle connection just as it was reused: once more, afresh
                up.close()
                up = upstream[0] = None
                up = upstream[0] = await self.connect()
                up.writer.write(req.raw)
                first = await up.recv()
            if not first:
                raise UpstreamError("closed before a response")
            return await self.respond(client, up, ex, first)
        except ClientGone:
            if ex.answered and not ex.recorded:
                self.record(ex, ex.status)
            return False
        except (UpstreamError, ProtocolError, OSError):
            if ex.client_left():
                return False  # the client went away mid-request: not the service's failure
            if not ex.recorded:
                self.record(ex, 0)
            if ex.answered:
                return False
            # nothing of the response went out yet: say why, in a response of our own. When
            # the service refused the connection, the request is still whole on our side: read
            # its body (unless the client waits for a 100 to send it) and go on.
            refused = up is None
            what = "refused the connection" if refused else "sent no valid response"
            message = f"tempstack proxy: {self.route.service} {what}\n".encode()
            go_on = refused and not req.close and not (req.length and req.expect_continue)
            if go_on and req.length:
                go_on = await discard_body(client, req.length)
            self.refuse(client, b"502 Bad Gateway", message, close=not go_on)
            return go_on
        finally:
            if ex.body is not None and not ex.body.done():
                ex.body.cancel()

    async def respond(self, client: Conn, up: Conn, ex: Exchange, first: bytes) -> bool:
        """Forward the response that starts with ``first``; True if both connections go on."""
        req = ex.req
        while True:
            resp = parse_head(await read_head(up, first, request=False), request=False)
            status = int(resp.first[1]) if resp.first[1].isdigit() else 0
            if not 100 <= status < 200 or status == 101:
                break
            client.writer.write(resp.raw)  # 100 Continue, 103 Early Hints: forward, go on
            first = await up.recv()
            if not first:
                raise UpstreamError("closed after an interim response")
        if not 100 <= status <= 999:
            raise UpstreamError("bad status")
        ex.status = status
        method = req.first[0]
        tunnel = status == 101 or (method == b"CONNECT" and 200 <= status < 300)
        if tunnel or method == b"HEAD" or status in NO_BODY_STATUSES:
            resp.length = 0
        if tunnel:
            self.record(ex, status, streaming=True)
            ex.answered = True
            client.writer.write(resp.raw)
            await self.tunnel(client, up, ex.body)
            return False
        if resp.length == 0:
            self.record(ex, status)
            ex.answered = True
            client.writer.write(resp.raw)
            return await self.finish(client, ex, resp)
        if resp.streaming_type:
            self.record(ex, status, streaming=True)
        out = resp.raw
        if not up.pending:  # the body is not here yet: let the head go ahead of it
            ex.answered = True
            client.writer.write(out)
            out = b""
        copy = self.copy(client, BodyReader(up, resp.length, UpstreamError), out, ex)
        if resp.streaming_type or resp.length == UNTIL_CLOSE:
            if not await self.until_client_leaves(client, ex.body, copy):
                return False
        else:
            await copy
        return await self.finish(client, ex, resp)

    async def copy(self, client: Conn, reader: BodyReader, out: bytes, ex: Exchange) -> None:
        """Forward a body piece by piece; record just before the last piece goes out."""
        while True:
            piece, last = await reader.read()
            if last and not ex.recorded:
                self.record(ex, ex.status)
            ex.answered = True
            client.writer.write(out + piece)
            if last:
                return
            out = b""
            try:
                await client.writer.drain()
            except OSError:
                raise ClientGone from None

    @staticmethod
    async def until_client_leaves(
        client: Conn, body: asyncio.Task[str] | None, copy: Coroutine[Any, Any, None]
    ) -> bool:
        """Run a long response's copy, ending it early (False) if the client hangs up."""
        copying = asyncio.ensure_future(copy)
        watching = asyncio.ensure_future(wait_for_eof(client, body))
        try:
            await asyncio.wait((copying, watching), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled: the proxy is stopping
            copying.cancel()
            watching.cancel()
            raise
        watching.cancel()
        await asyncio.wait((watching,))  # its read must be over before anyone reads again
        if not watching.cancelled():
            watching.exception()  # a reset from the client is a hang-up like any other
        if copying.done():
            copying.result()  # raise what the copy raised
            return True
        copying.cancel()
        await asyncio.wait((copying,))
        if not copying.cancelled():
            copying.exception()  # it ended by itself in the meantime; the client left anyway
        return False

    @staticmethod
    async def finish(client: Conn, ex: Exchange, resp: Head) -> bool:
        """After a response: may both connections be used for the next request?"""
        if ex.body is not None and (not ex.body.done() or ex.body.result() != "ok"):
            return False  # the request body was not all read: its framing is lost
        try:
            await client.writer.drain()
        except OSError:
            return False
        return not (ex.req.close or resp.close or resp.length == UNTIL_CLOSE)

    @staticmethod
    async def tunnel(client: Conn, up: Conn, body: asyncio.Task[str] | None) -> None:
        if body is not None:
            await asyncio.wait((body,))
            if body.result() != "ok":
                return
        tasks = [asyncio.ensure_future(pipe(client, up)), asyncio.ensure_future(pipe(up, client))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: a reset on one side just ends the tunnel


# -- process -------------------------------------------------------------------------------------
async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    recorder = Recorder(config.records)
    tasks: set[asyncio.Task[Any]] = set()
    servers: list[asyncio.Server] = []
    try:
        for route in config.routes:
            proxy = RouteProxy(route, config.target_host, recorder, tasks)
            try:
                server = await asyncio.start_server(
                    proxy.serve, config.host, route.listen, limit=READ_SIZE, backlog=1024
                )
            except OSError as exc:
                print(
                    f"proxy {route.service}: cannot listen on {route.listen}: {exc}",
                    file=sys.stderr,
                )
                return 1
            servers.append(server)
            port = server.sockets[0].getsockname()[1]
            print(f"proxy {route.service} {config.host}:{port} -> {route.target}", flush=True)
        await stop.wait()
        return 0
    finally:
        for server in servers:
            server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=0.2)
        recorder.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tempstack.profile.proxy CONFIG.json", file=sys.stderr)
        return 2
    try:
        config = load_config(Path(args[0]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"proxy: cannot use {args[0]}: {exc!r}", file=sys.stderr)
        return 2
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
