"""A tiny HTTP app: products from PostgreSQL, a visit counter in Redis (stdlib + psycopg)."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import psycopg

DB = os.environ["DATABASE_URL"]
REDIS = urlparse(os.environ["REDIS_URL"])


def incr(key: str) -> int:
    """INCR over the Redis protocol, enough for a demo without a client library."""
    with socket.create_connection((REDIS.hostname, REDIS.port)) as conn:
        k = key.encode()
        conn.sendall(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k))
        return int(conn.recv(64)[1:].strip())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            return self.reply(200, {"ok": True})
        if self.path == "/products":
            with psycopg.connect(DB) as conn:
                rows = conn.execute("SELECT name, price FROM product ORDER BY id").fetchall()
            return self.reply(
                200,
                {
                    "greeting": os.environ.get("APP_GREETING"),
                    "visits": incr("visits"),
                    "products": [{"name": n, "price": p} for n, p in rows],
                },
            )
        return self.reply(404, {"error": "not found"})

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(f"listening on {server.server_address}", flush=True)
    server.serve_forever()
