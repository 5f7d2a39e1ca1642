"""The recording proxy, really started, in front of a real aiohttp app (apps/proxy_target.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
from playwright.sync_api import Browser

from tempstack.profile.http import Record, read_records, route_stats

from .apps.proxy_target import download_bytes

APP = Path(__file__).parent / "apps" / "proxy_target.py"
HOST = "127.0.0.1"
MB = 1024 * 1024


def first_lines(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for _ in range(count):
        line = proc.stdout.readline()
        assert line, f"{proc.args} exited ({proc.wait()}) before printing its ports"
        lines.append(line.strip())
    return lines


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def peak_rss(pid: int) -> int:
    """Bytes: the process's peak resident set (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def app_port() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, str(APP)], stdout=subprocess.PIPE, text=True)
    try:
        (line,) = first_lines(proc, 1)
        yield int(line.split()[1])
    finally:
        stop(proc)


@dataclass
class Proxy:
    proc: subprocess.Popen[str]
    ports: dict[str, int]
    records: Path
    lines: list[str]

    def url(self, service: str = "web") -> str:
        return f"http://{HOST}:{self.ports[service]}"

    def read(self) -> list[Record]:
        return read_records(self.records)[0]


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[[dict[str, int]], Proxy]]:
    """Starts ``python -m tempstack.profile.proxy`` for {service: target port}; kills it after."""
    started: list[subprocess.Popen[str]] = []

    def start(targets: dict[str, int]) -> Proxy:
        records = tmp_path / "records.tsv"
        config = tmp_path / "proxy.json"
        routes = [{"service": s, "listen": 0, "target": t} for s, t in targets.items()]
        config.write_text(json.dumps({"host": HOST, "records": str(records), "routes": routes}))
        with (tmp_path / "proxy.err").open("wb") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tempstack.profile.proxy", str(config)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        started.append(proc)
        lines = first_lines(proc, len(routes))
        ports = {}
        for line, (service, target) in zip(lines, targets.items(), strict=True):
            word, name, listen, arrow, to = line.split()
            assert (word, name, arrow, to) == ("proxy", service, "->", str(target))
            host, port = listen.rsplit(":", 1)
            assert host == HOST
            ports[service] = int(port)
        return Proxy(proc, ports, records, lines)

    try:
        yield start
    finally:
        for proc in started:
            stop(proc)
    # whatever happened in the test, the proxy logged no error (no traceback, no warning)
    if started:
        assert (tmp_path / "proxy.err").read_text() == ""


def raw_exchange(port: int, data: bytes, responses: int = 1) -> bytes:
    """Send bytes on one connection; read until ``responses`` complete responses came back."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < responses or not complete(received, responses):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def recv_until(sock: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {marker!r}: {received!r}"
        received += chunk
    return received


def complete(data: bytes, responses: int) -> bool:
    """Whether ``data`` holds ``responses`` whole responses with Content-Length bodies."""
    pos = 0
    for _ in range(responses):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return False
        head = data[pos:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        pos = end + 4 + length
        if pos > len(data):
            return False
    return True


def test_sse_events_arrive_one_by_one_and_intact(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    received: list[str] = []
    with (
        httpx.Client(base_url=proxy.url(), timeout=10) as client,
        client.stream("GET", "/events", params={"n": 5, "key": "sse"}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        event: list[str] = []
        for line in response.iter_lines():
            if line:
                event.append(line)
                continue
            received.append("\n".join(event))
            event = []
            if len(received) == 1:
                # recorded as a stream at its head, while it is still open
                (rec,) = [r for r in proxy.read() if r.path == "/events"]
                assert (rec.status, rec.streaming) == (200, True)
            if len(received) < 5:
                # the app sends event i+1 only now: had the proxy held event i back, the read
                # above would have timed out
                httpx.post(f"{proxy.url()}/next?key=sse", timeout=10).raise_for_status()
    assert received == [f"id: {i}\ndata: event {i}" for i in range(5)]
    events = [r for r in proxy.read() if r.path == "/events"]
    assert len(events) == 1  # one record per request, even for a stream


def test_a_browser_page_and_its_event_stream(app_port: int, start_proxy, chromium: Browser) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    page = chromium.new_page()
    try:
        page.goto(f"{proxy.url()}/page")
        page.wait_for_selector("#order:has-text('order 42')")
        for i in range(3):
            item = page.wait_for_selector(f"#events li:nth-child({i + 1})")
            assert item is not None and item.text_content() == f"event {i}"
            if i < 2:  # the next event is sent only now that this one is on the page
                httpx.post(f"{proxy.url()}/next?key=browser", timeout=10).raise_for_status()
    finally:
        page.close()
    seen = {(r.method, r.path, r.status, r.streaming) for r in proxy.read()}
    assert {
        ("GET", "/page", 200, False),
        ("GET", "/orders/42", 200, False),
        ("GET", "/events", 200, True),
    } <= seen


def test_uploads_of_20_mb_arrive_intact_and_streamed(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    body = os.urandom(20 * MB)
    digest = hashlib.sha256(body).hexdigest()
    with httpx.Client(base_url=proxy.url(), timeout=30) as client:
        client.get("/hello").raise_for_status()
        baseline = peak_rss(proxy.proc.pid)
        # with a Content-Length
        assert client.post("/upload", content=body).json() == {"size": len(body), "sha256": digest}

        # chunked, as a generator of 1 MB pieces
        def pieces() -> Iterator[bytes]:
            for offset in range(0, len(body), MB):
                yield body[offset : offset + MB]

        assert client.post("/upload", content=pieces()).json() == {
            "size": len(body),
            "sha256": digest,
        }
        # multipart, as a browser form sends a file
        files = {"file": ("big.bin", body, "application/octet-stream")}
        sent = client.post("/upload", files=files).json()
        assert sent["size"] > len(body)
    # streamed, not held: the proxy never held anything near a whole body in memory
    assert peak_rss(proxy.proc.pid) - baseline < 10 * MB
    uploads = [r for r in proxy.read() if r.path == "/upload"]
    assert [(r.method, r.status, r.streaming) for r in uploads] == [("POST", 200, False)] * 3


def test_expect_100_continue(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    body = os.urandom(300_000)
    head = (
        f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, proxy.ports["web"]), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(1024)
        # the client sends its body only after the app's 100 came through the proxy
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        received = b""
        while not complete(received, 1):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    answer = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert answer == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_large_chunked_download_is_intact_and_streamed(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    size = 100 * MB + 12345
    expected = hashlib.sha256(download_bytes(size)).hexdigest()
    with httpx.Client(base_url=proxy.url(), timeout=30) as client:
        client.get("/hello").raise_for_status()
        baseline = peak_rss(proxy.proc.pid)
        digest, got = hashlib.sha256(), 0
        with client.stream("GET", "/download", params={"size": size}) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            for block in response.iter_raw():
                digest.update(block)
                got += len(block)
        assert (got, digest.hexdigest()) == (size, expected)
        # the connection is still good for the next request after a chunked body
        assert client.get("/hello").text == "hello"
    assert peak_rss(proxy.proc.pid) - baseline < 20 * MB
    (download,) = [r for r in proxy.read() if r.path == "/download"]
    assert (download.status, download.streaming) == (200, False)


def test_keep_alive_and_pipelining_reuse_one_upstream_connection(
    app_port: int, start_proxy
) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        peers = {client.get("/peer").text for _ in range(5)}
    assert len(peers) == 1  # one client connection, one upstream connection
    # three requests sent at once on one connection come back in order
    request = b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_exchange(proxy.ports["web"], request * 2 + last, responses=3)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies[0] == bodies[1] and bodies[0].startswith(b"127.0.0.1:")
    assert bodies[2] == b"hello"


def test_headers_pass_as_sent(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    port = proxy.ports["web"]
    request = (
        f"GET /headers?q=1 HTTP/1.1\r\nHost: {HOST}:{port}\r\nX-Mixed-CASE: a  b\r\n"
        "x-dup: 1\r\nX-Dup: 2\r\nConnection: close\r\n\r\n"
    ).encode()
    data = raw_exchange(port, request)
    seen = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert seen == [
        ["Host", f"{HOST}:{port}"],
        ["X-Mixed-CASE", "a  b"],
        ["x-dup", "1"],
        ["X-Dup", "2"],
        ["Connection", "close"],
    ]


def test_head_204_304_and_websocket(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        head = client.head("/hello")
        assert (head.status_code, head.headers["content-length"], head.content) == (200, "5", b"")
        assert client.get("/status/204").status_code == 204
        assert client.get("/status/304").status_code == 304
        assert client.get("/hello").text == "hello"  # the connection survived all three
        assert client.get("/status/500").status_code == 500

    async def websocket() -> list[str | bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{proxy.url()}/ws") as ws,
        ):
            await ws.send_str("hello")
            text = await ws.receive_str()
            await ws.send_bytes(b"\x00" * 200_000)
            binary = await ws.receive_bytes()
            return [text, binary]

    # in a thread of its own: the module's Playwright keeps an event loop in this one
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, websocket()).result() == ["hello", b"\x00" * 200_000]
    seen = [(r.method, r.path, r.status, r.streaming) for r in proxy.read()]
    assert seen == [
        ("HEAD", "/hello", 200, False),
        ("GET", "/status/204", 204, False),
        ("GET", "/status/304", 304, False),
        ("GET", "/hello", 200, False),
        ("GET", "/status/500", 500, False),
        ("GET", "/ws", 101, True),
    ]


def test_502_when_the_target_is_down(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port, "gone": free_port()})
    with httpx.Client(base_url=proxy.url("gone"), timeout=10) as client:
        for _ in range(2):  # the connection stays usable after a 502 to a bodiless request
            response = client.get("/orders/7")
            assert response.status_code == 502
            assert "gone refused the connection" in response.text
    # a request body with nowhere to go is read and dropped: the connection goes on
    body = b"x" * (5 * MB)
    post = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    get = b"GET /orders/8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_exchange(proxy.ports["gone"], post + body + get, responses=2)
    assert data.count(b"HTTP/1.1 502 Bad Gateway\r\n") == 2
    # a client waiting for a 100 gets the 502 at once instead, and the connection ends
    expect = post.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
    with socket.create_connection((HOST, proxy.ports["gone"]), timeout=10) as sock:
        sock.sendall(expect)
        answer = recv_until(sock, b"connection\n")
        assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
        assert b"\r\nConnection: close\r\n" in answer
        assert sock.recv(100) == b""
    # the other route is unaffected
    assert httpx.get(f"{proxy.url()}/hello", timeout=10).text == "hello"
    gone = [(r.service, r.path, r.status) for r in proxy.read() if r.service == "gone"]
    assert gone == [("gone", "/orders/7", 0)] * 2 + [
        ("gone", "/upload", 0),
        ("gone", "/orders/8", 0),
        ("gone", "/upload", 0),
    ]
    (stats,) = [
        s for s in route_stats(proxy.read(), 500) if s["service"] == "gone" and s["method"] == "GET"
    ]
    assert (stats["route"], stats["count"], stats["errors"]) == ("/orders/{id}", 3, 3)


class BluntServer:
    """A raw HTTP/1.1 server that ends every connection after one response, unannounced.

    ``/length`` answers with a Content-Length, ``/until-close`` with a body ended by closing
    the connection (no length, no chunks).
    """

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            with conn:
                head = recv_until(conn, b"\r\n\r\n")
                if head.startswith(b"GET /until-close "):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    conn.sendall(b"all of it, " * 1000)
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=10)


def test_a_service_closing_connections_unannounced(start_proxy) -> None:  # type: ignore[no-untyped-def]
    server = BluntServer()
    try:
        proxy = start_proxy({"blunt": server.port})
        with httpx.Client(base_url=proxy.url("blunt"), timeout=10) as client:
            # the upstream connection closed after each answer: the next request gets a new one
            assert [client.get("/length").text for _ in range(3)] == ["ok"] * 3
            assert server.accepted == 3
            # a body ended by the close reaches the client whole, and its connection is closed
            # so that it can tell where the body ends
            response = client.get("/until-close")
            assert response.text == "all of it, " * 1000
            assert client.get("/length").text == "ok"
    finally:
        server.close()
    seen = [(r.path, r.status, r.streaming) for r in proxy.read()]
    assert seen == [("/length", 200, False)] * 3 + [
        ("/until-close", 200, False),
        ("/length", 200, False),
    ]


def test_records_collapse_routes(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    before = time.time()
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        for order in ("1", "22", "550e8400-e29b-41d4-a716-446655440000", "ab12cd34ef"):
            assert client.get(f"/orders/{order}", params={"expand": "items"}).status_code == 200
        client.get("/hello")
    after = time.time()
    records = proxy.read()
    assert [r.path for r in records] == [
        "/orders/1",
        "/orders/22",
        "/orders/550e8400-e29b-41d4-a716-446655440000",
        "/orders/ab12cd34ef",
        "/hello",
    ]
    assert all(before <= r.start <= after and r.latency_ms > 0 for r in records)
    routes = {(s["method"], s["route"]): s["count"] for s in route_stats(records, 500)}
    assert routes == {("GET", "/orders/{id}"): 4, ("GET", "/hello"): 1}


def test_a_client_leaving_a_stream_closes_it_upstream(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    direct = f"http://{HOST}:{app_port}"
    with socket.create_connection((HOST, proxy.ports["web"]), timeout=10) as stream:
        stream.sendall(b"GET /events?n=3&key=leave HTTP/1.1\r\nHost: x\r\n\r\n")
        recv_until(stream, b"event 0")
        assert httpx.get(f"{direct}/stream?key=leave", timeout=10).text == "open"
    # the client hung up while the app had nothing to send: the proxy hangs up upstream too
    deadline = time.monotonic() + 10
    while httpx.get(f"{direct}/stream?key=leave", timeout=10).text == "open":
        assert time.monotonic() < deadline, "the app's stream is still open"
        time.sleep(0.02)
    httpx.post(f"{direct}/next?key=leave", timeout=10)  # let the app's handler finish
    # and the proxy goes on serving
    assert httpx.get(f"{proxy.url()}/hello", timeout=10).text == "hello"
    assert [(r.path, r.streaming) for r in proxy.read()] == [("/events", True), ("/hello", False)]


def test_sigterm_exits_with_records_written(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    idle = httpx.Client(base_url=proxy.url(), timeout=10)
    stream = socket.create_connection((HOST, proxy.ports["web"]), timeout=10)
    try:
        for _ in range(3):
            assert idle.get("/hello").status_code == 200  # an idle keep-alive connection
        # and an open event stream, waiting for the app's next event
        stream.sendall(b"GET /events?n=2&key=term HTTP/1.1\r\nHost: x\r\n\r\n")
        recv_until(stream, b"event 0")
        proxy.proc.send_signal(signal.SIGTERM)
        assert proxy.proc.wait(timeout=5) == 0
        assert stream.recv(65536) == b""  # the stream was closed, not left hanging
    finally:
        idle.close()
        stream.close()
        httpx.post(f"http://{HOST}:{app_port}/next?key=term", timeout=10)  # end the app's side
    assert [(r.path, r.streaming) for r in proxy.read()] == [("/hello", False)] * 3 + [
        ("/events", True)
    ]


def test_sigint_exits_too(app_port: int, start_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = start_proxy({"web": app_port})
    assert httpx.get(f"{proxy.url()}/hello", timeout=10).text == "hello"
    proxy.proc.send_signal(signal.SIGINT)
    assert proxy.proc.wait(timeout=5) == 0
    assert len(proxy.read()) == 1
