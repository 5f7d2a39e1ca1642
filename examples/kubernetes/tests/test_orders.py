"""API tests: the same file runs from this machine and inside the cluster."""

import json
import os
import urllib.request

import psycopg


def test_orders_come_from_the_migrated_database() -> None:
    with urllib.request.urlopen(os.environ["API_URL"] + "/orders", timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["orders"] == ["apple", "pear"]
    assert body["hits"] >= 1
    assert body["shipping"] == 4.5  # from the mocked courier API, inside the cluster


def test_the_app_asked_the_courier() -> None:
    url = os.environ["COURIER_ADMIN_URL"] + "/requests?path=/quote"
    with urllib.request.urlopen(url, timeout=10) as resp:
        calls = json.loads(resp.read())["requests"]
    assert calls and all(c["method"] == "GET" for c in calls)


def test_the_database_is_reachable_directly() -> None:
    with psycopg.connect(os.environ["DB_URL"]) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None and row[0] == 2
