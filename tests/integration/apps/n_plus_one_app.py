"""A tiny order API with a known N+1 endpoint, for the SQL profiling tests.

Reads ``DATABASE_URL`` and ``PORT``; creates and seeds its tables at start (``ORDERS``
orders of three items each, default 20). Endpoints:

- ``GET /health``: 200 once the tables exist.
- ``GET /orders``: the N+1 pattern: one query for the orders, then one per order for its
  items (``ORDERS + 1`` statements).
- ``GET /orders/joined``: the same answer from one JOIN.
- ``POST /items?order=ID&n=N``: N items inserted one INSERT at a time (row by row).
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

DATABASE_URL = os.environ["DATABASE_URL"]
ORDERS = int(os.environ.get("ORDERS", "20"))


def setup() -> None:
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, customer text NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS order_items (id serial PRIMARY KEY,"
            " order_id int NOT NULL REFERENCES orders, sku text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders SELECT i, 'customer ' || i FROM generate_series(1, %s) i"
            " ON CONFLICT DO NOTHING",
            (ORDERS,),
        )
        conn.execute(
            "INSERT INTO order_items (order_id, sku)"
            " SELECT o.id, 'sku-' || o.id || '-' || k FROM orders o, generate_series(1, 3) k"
            " WHERE NOT EXISTS (SELECT 1 FROM order_items)"
        )


def orders_n_plus_one(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    out = []
    for order_id, customer in conn.execute("SELECT id, customer FROM orders ORDER BY id"):
        items = conn.execute(
            "SELECT sku FROM order_items WHERE order_id = %s ORDER BY id", (order_id,)
        )
        out.append({"id": order_id, "customer": customer, "items": [r[0] for r in items]})
    return out


def orders_joined(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT o.id, o.customer, array_agg(i.sku ORDER BY i.id) FROM orders o"
        " JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.customer ORDER BY o.id"
    )
    return [{"id": oid, "customer": customer, "items": skus} for oid, customer, skus in rows]


def add_items(conn: psycopg.Connection[Any], order_id: int, n: int) -> dict[str, int]:
    with conn.transaction():
        for k in range(n):
            conn.execute(
                "INSERT INTO order_items (order_id, sku) VALUES (%s, %s)",
                (order_id, f"added-{k}"),
            )
    return {"order": order_id, "added": n}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/orders":
            self._with_db(orders_n_plus_one)
        elif path == "/orders/joined":
            self._with_db(orders_joined)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/items":
            self._send(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        order_id, n = int(query["order"][0]), int(query.get("n", ["1"])[0])
        self._with_db(lambda conn: add_items(conn, order_id, n))

    def _with_db(self, work: Any) -> None:
        with psycopg.connect(DATABASE_URL) as conn:
            body = work(conn)
        self._send(200, body)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would only fill the service log."""


def main() -> None:
    setup()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
