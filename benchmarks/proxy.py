"""Latency the recording proxy adds per request, against direct calls to the same endpoint.

One aiohttp app (a separate process, ``--serve``) has two endpoints: ``/trivial`` answers at
once, ``/sleep20`` after ``asyncio.sleep(0.02)``. The proxy (``python -m
tempstack.profile.proxy``, a separate process, writing its records to a temp file as in a real
run) sits in front of it. This process opens two keep-alive connections, one straight to the app
and one through the proxy, and sends the same ``GET`` over both, alternating (direct, proxy,
proxy, direct, ...) so machine noise hits both alike, after an uncounted warm-up. The client is a
bare socket (send the request, read the head and ``Content-Length`` bytes), so that what is
measured is the servers, not a client library.

Printed per endpoint: P50/P95 direct and through the proxy, the P50 added (difference of the
medians) and, for the 20 ms endpoint, that as a percentage of its direct P50; targets: under
1 ms, and under 5 %. Also the cost of one record line (one ``os.write`` on an ``O_APPEND``
file), which the proxy pays per request. At the end it checks that the proxy wrote one record
per proxied request and that both processes it started are gone.

Usage: ``python benchmarks/proxy.py [--requests N] [--slow-requests N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ADDED_TARGET_MS = 1.0
ADDED_TARGET_PERCENT = 5.0
WARMUP = 200


# -- the app, run as ``proxy.py --serve`` ----------------------------------------------------------
async def serve_app() -> None:
    from aiohttp import web

    async def trivial(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def sleep20(request: web.Request) -> web.Response:
        await asyncio.sleep(0.02)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/trivial", trivial)
    app.router.add_get("/sleep20", sleep20)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    print(f"port {site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()


# -- client ----------------------------------------------------------------------------------------
class Client:
    """One keep-alive HTTP/1.1 connection; ``get`` returns the seconds one request took."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path: str) -> float:
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n\r\n".encode()
        t0 = time.perf_counter()
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self.buf += self._recv()
        head, self.buf = self.buf[: end + 4], self.buf[end + 4 :]
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self.buf += self._recv()
        self.buf = self.buf[length:]
        elapsed = time.perf_counter() - t0
        if not head.startswith(b"HTTP/1.1 200"):
            sys.exit(f"unexpected response from port {self.port}: {head[:40]!r}")
        return elapsed

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            sys.exit(f"port {self.port} closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


# -- figures ---------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest sample >= q of the samples."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def summary(direct: list[float], proxied: list[float]) -> dict[str, float]:
    d50, p50 = statistics.median(direct) * 1000, statistics.median(proxied) * 1000
    return {
        "direct_p50_ms": d50,
        "direct_p95_ms": percentile(direct, 0.95) * 1000,
        "proxy_p50_ms": p50,
        "proxy_p95_ms": percentile(proxied, 0.95) * 1000,
        "added_p50_ms": p50 - d50,
        "added_p50_percent": (p50 - d50) / d50 * 100,
        "added_p95_ms": (percentile(proxied, 0.95) - percentile(direct, 0.95)) * 1000,
    }


def measure(direct: Client, proxied: Client, path: str, count: int) -> dict[str, float]:
    for _ in range(WARMUP):
        direct.get(path)
        proxied.get(path)
    times_direct: list[float] = []
    times_proxy: list[float] = []
    for i in range(count):
        if i % 2:
            times_proxy.append(proxied.get(path))
            times_direct.append(direct.get(path))
        else:
            times_direct.append(direct.get(path))
            times_proxy.append(proxied.get(path))
    return summary(times_direct, times_proxy)


def record_line_cost(where: Path, lines: int = 20000) -> float:
    """Microseconds for one record line: one os.write on an O_APPEND file, as the proxy does."""
    path = where / "cost.tsv"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        t0 = time.perf_counter()
        for i in range(lines):
            os.write(fd, f"{time.time():.6f}\tweb\tGET\t/orders/{i}\t200\t0.412\t0\n".encode())
        return (time.perf_counter() - t0) / lines * 1e6
    finally:
        os.close(fd)
        path.unlink()


# -- processes -------------------------------------------------------------------------------------
def spawn(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a process and return it with its first line of output (its port)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        sys.exit(f"{argv} exited with {proc.returncode} before it was ready")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> float:
    """SIGTERM, then wait; seconds until it exited."""
    t0 = time.perf_counter()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return time.perf_counter() - t0


def run_benchmark(requests: int, slow_requests: int, json_path: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="tempstack-proxy-bench-") as tmp:
        root = Path(tmp)
        app, line = spawn([sys.executable, __file__, "--serve"])
        procs = [app]
        try:
            app_port = int(line.split()[1])
            records = root / "records.tsv"
            config = root / "proxy.json"
            config.write_text(
                json.dumps(
                    {
                        "host": HOST,
                        "records": str(records),
                        "routes": [{"service": "app", "listen": 0, "target": app_port}],
                    }
                )
            )
            proxy, line = spawn([sys.executable, "-m", "tempstack.profile.proxy", str(config)])
            procs.append(proxy)
            proxy_port = int(line.split()[2].rsplit(":", 1)[1])
            print(f"app on {app_port}, proxy on {proxy_port}: {line.strip()}")
            direct, proxied = Client(app_port), Client(proxy_port)
            results: dict[str, Any] = {}
            for name, path, count in (
                ("trivial", "/trivial", requests),
                ("sleep20", "/sleep20", slow_requests),
            ):
                results[name] = {"requests": count, **measure(direct, proxied, path, count)}
            direct.close()
            proxied.close()
            line_us = record_line_cost(root)
            proxy_exit = stop(proxy)
            written = len(records.read_text().splitlines())
        finally:
            for proc in procs:
                stop(proc)
        left = [p.pid for p in procs if p.poll() is None]

    expected = 2 * WARMUP + requests + slow_requests
    print(
        f"\n{'endpoint':<10} {'direct p50':>11} {'p95':>8} {'proxy p50':>10} {'p95':>8}  added p50"
    )
    for name, fig in results.items():
        print(
            f"{name:<10} {fig['direct_p50_ms']:>8.3f} ms {fig['direct_p95_ms']:>8.3f} "
            f"{fig['proxy_p50_ms']:>7.3f} ms {fig['proxy_p95_ms']:>8.3f}  "
            f"{fig['added_p50_ms']:.3f} ms ({fig['added_p50_percent']:.1f} %) "
            f"n={fig['requests']}"
        )
    added = max(fig["added_p50_ms"] for fig in results.values())
    percent = results["sleep20"]["added_p50_percent"]
    print(
        f"added P50 under {ADDED_TARGET_MS:.0f} ms: {'yes' if added < ADDED_TARGET_MS else 'NO'} "
        f"({added:.3f} ms); under {ADDED_TARGET_PERCENT:.0f} % of the 20 ms endpoint: "
        f"{'yes' if percent < ADDED_TARGET_PERCENT else 'NO'} ({percent:.2f} %)"
    )
    print(f"one record line (os.write, O_APPEND): {line_us:.2f} us")
    print(f"records written: {written} (proxied requests: {expected})")
    print(f"proxy exit on SIGTERM: {proxy_exit * 1000:.1f} ms")
    print(f"processes left: {left or 'none'}")
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "endpoints": results,
                    "percentile": "median for p50, nearest-rank p95",
                    "warmup": WARMUP,
                    "record_line_us": line_us,
                    "records_written": written,
                    "records_expected": expected,
                    "proxy_exit_s": proxy_exit,
                    "environment": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "loadavg_at_end": os.getloadavg(),
                    },
                },
                indent=2,
            )
            + "\n"
        )
        print(f"figures written to {json_path}")
    return 1 if left or written != expected else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="per side, trivial endpoint")
    parser.add_argument("--slow-requests", type=int, default=500, help="per side, 20 ms endpoint")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.slow_requests < 1:
        parser.error("--requests and --slow-requests must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve_app())
        return 0
    return run_benchmark(args.requests, args.slow_requests, args.json)


if __name__ == "__main__":
    sys.exit(main())
