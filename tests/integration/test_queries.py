"""SQL profiling against a real PostgreSQL with pg_stat_statements and a real app process.

The fixture app (apps/n_plus_one_app.py) has a known N+1 endpoint, the same answer from one
JOIN, and a row-by-row INSERT endpoint; each test measures them through snapshots taken
with the run's admin DSN, as the engine and the pytest plugin do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import psycopg
import pytest

import tempstack
from tempstack.profile.queries import (
    diff,
    in_databases,
    n_plus_one,
    snapshot,
    top,
    total_calls,
)
from tempstack.services.postgres import admin_dsn_for

pytestmark = pytest.mark.integration

APP = Path(__file__).parent / "apps" / "n_plus_one_app.py"

STACK = f"""
[stack]
name = "queries"

[services.db]
kind = "postgres"
databases = ["app", "other"]
settings = {{ shared_preload_libraries = "auto_explain" }}

[services.app]
command = ["{sys.executable}", "{APP}"]
env = {{ DATABASE_URL = "${{db.url}}" }}
ready = {{ http = "/health" }}
depends_on = {{ db = "ready" }}
"""

ITEMS_BY_ORDER = "SELECT sku FROM order_items WHERE order_id = $1 ORDER BY id"
ORDERS = "SELECT id, customer FROM orders ORDER BY id"


def admin(run: tempstack.Run) -> str:
    port = run.services["db"].port
    assert port is not None
    return admin_dsn_for(run.dir / "db", port)


def test_n_plus_one_endpoint_is_flagged_and_the_join_is_not(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(STACK))
    with stack.up() as run, psycopg.connect(admin(run), autocommit=True) as conn:
        url = run.url("app")
        # the user's own preload list is kept, ours added
        libraries = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert libraries == ("pg_stat_statements,auto_explain",)

        # our own snapshot queries are never counted: nothing ran, nothing measured
        assert diff(snapshot(conn), snapshot(admin(run))) == {}

        before = snapshot(conn)
        answer = httpx.get(f"{url}/orders").json()
        bad = diff(before, snapshot(conn))
        assert len(answer) == 20 and answer[0]["items"] == ["sku-1-1", "sku-1-2", "sku-1-3"]
        assert n_plus_one(bad, 10) == [(20, ITEMS_BY_ORDER)]
        assert total_calls(bad) == 21
        assert n_plus_one(bad, 21) == []  # the threshold is honoured
        # the app's role in the app's database ran all of them
        app_role = conn.execute(
            "SELECT oid FROM pg_roles WHERE rolname = %s", (run.env["DB_USER"],)
        ).fetchone()
        assert {(k.userid, e.database) for k, e in bad.items()} == {(app_role[0], "app")}  # type: ignore[index]
        assert [(r["query"], r["calls"], r["rows"]) for r in top(bad, "calls")] == [
            (ITEMS_BY_ORDER, 20, 60),
            (ORDERS, 1, 20),
        ]
        assert {r["query"] for r in top(bad, "time")} == {ITEMS_BY_ORDER, ORDERS}

        before = snapshot(conn)
        joined = httpx.get(f"{url}/orders/joined").json()
        good = diff(before, snapshot(conn))
        assert joined == answer
        assert total_calls(good) == 1
        assert n_plus_one(good, 10) == []
        (only,) = top(good, "calls")
        assert only["query"].startswith("SELECT o.id, o.customer, array_agg(i.sku ORDER BY i.id)")
        assert (only["calls"], only["rows"], only["database"]) == (1, 20, "app")

        # row-by-row inserts are the same pattern
        before = snapshot(conn)
        assert httpx.post(f"{url}/items", params={"order": 3, "n": 12}).status_code == 200
        inserts = diff(before, snapshot(conn))
        assert n_plus_one(inserts, 10) == [
            (12, "INSERT INTO order_items (order_id, sku) VALUES ($1, $2)")
        ]


def test_statements_of_every_database_and_user_are_seen_from_one_place(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(STACK))
    with stack.up() as run, psycopg.connect(admin(run), autocommit=True) as conn:
        other = run.env["DB_URL"].rsplit("/", 1)[0] + "/other"
        before = snapshot(conn)
        with psycopg.connect(other, autocommit=True) as app_conn:
            app_conn.execute("CREATE TABLE t (x int)")  # utility: not tracked
            for i in range(11):
                app_conn.execute("SELECT count(*) FROM t WHERE x = %s", (i,))
        httpx.get(f"{run.url('app')}/orders")
        # the admin's statements, even in another database, are not counted
        with psycopg.connect(admin(run).replace("dbname=postgres", "dbname=other")) as own:
            for _ in range(11):
                own.execute("SELECT count(*) FROM t")
        both = diff(before, snapshot(conn))
        assert n_plus_one(both, 10) == [
            (20, ITEMS_BY_ORDER),
            (11, "SELECT count(*) FROM t WHERE x = $1"),
        ]
        assert total_calls(in_databases(both, {"other"})) == 11
        assert total_calls(in_databases(both, {"app"})) == 21
        # the same, filtered by the server
        other_only = diff(before, snapshot(conn, databases=["other"]))
        assert other_only == in_databases(both, {"other"})
        assert snapshot(conn, databases=[]) == {}
        assert {e.database for e in both.values()} == {"app", "other"}


def test_profile_queries_off_leaves_the_extension_out(write_stack) -> None:  # type: ignore[no-untyped-def]
    # the engine sets this from [profile] queries = false; [env] reaches every service too
    stack = tempstack.Stack.load(write_stack(STACK + '[env]\nTEMPSTACK_PG_STAT_STATEMENTS = "0"\n'))
    with stack.up() as run, psycopg.connect(admin(run), autocommit=True) as conn:
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("auto_explain",)
        # the extension's objects come with the cached cluster, inert without the library
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="must be loaded"):
            snapshot(conn)
