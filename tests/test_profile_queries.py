"""diff, top, total_calls and n_plus_one of tempstack.profile.queries over made-up snapshots."""

from __future__ import annotations

from tempstack.profile.queries import (
    QUERY_CHARS,
    Entry,
    Key,
    Snapshot,
    diff,
    in_databases,
    n_plus_one,
    normalize,
    top,
    total_calls,
)

ITEMS = "SELECT sku FROM order_items WHERE order_id = $1"
ORDERS = "SELECT id FROM orders"


def key(queryid: int, dbid: int = 5, userid: int = 10, toplevel: bool = True) -> Key:
    return Key(dbid, userid, queryid, toplevel)


def entry(query: str, calls: int, total_ms: float = 1.0, rows: int = 1, db: str = "app") -> Entry:
    return Entry(calls, total_ms, rows, query, db)


def test_diff_keeps_growth_and_new_entries_and_drops_unchanged() -> None:
    before: Snapshot = {key(1): entry(ITEMS, 5, 2.0, 15), key(2): entry(ORDERS, 3, 1.0, 3)}
    after: Snapshot = {
        key(1): entry(ITEMS, 25, 10.0, 75),
        key(2): entry(ORDERS, 3, 1.0, 3),
        key(3): entry("UPDATE orders SET paid = $1", 2, 0.5, 2),
    }
    assert diff(before, after) == {
        key(1): entry(ITEMS, 20, 8.0, 60),
        key(3): entry("UPDATE orders SET paid = $1", 2, 0.5, 2),
    }
    assert diff(after, after) == {}


def test_diff_takes_an_entry_whole_when_it_counted_again_from_zero() -> None:
    """Evicted or reset in between: fewer calls than before means a new count."""
    before = {key(1): entry(ITEMS, 50, 20.0, 150)}
    after = {key(1): entry(ITEMS, 4, 1.0, 12)}
    assert diff(before, after) == after


def test_total_calls_counts_only_statements_the_clients_sent() -> None:
    s = {
        key(1): entry(ORDERS, 3),
        key(2): entry(ITEMS, 7),
        key(3, toplevel=False): entry("SELECT 1 FROM inside_a_function", 100),
    }
    assert total_calls(s) == 10
    assert total_calls({}) == 0


def test_top_groups_one_shape_across_databases_and_orders_by_calls_or_time() -> None:
    s = {
        key(1, dbid=5): entry(ITEMS, 20, 4.0, 60, db="test_1"),
        key(1, dbid=6): entry(ITEMS, 10, 2.0, 30, db="test_2"),
        key(2): entry("SELECT  id\n   FROM orders", 2, 50.0, 40),
        key(3): entry("DELETE FROM carts", 1, 1.0, 0),
    }
    by_calls = top(s, "calls")
    assert by_calls == [
        {
            "query": ITEMS,
            "calls": 30,
            "total_ms": 6.0,
            "mean_ms": 0.2,
            "rows": 90,
            "database": None,  # two databases
        },
        {
            "query": ORDERS,  # whitespace normalized
            "calls": 2,
            "total_ms": 50.0,
            "mean_ms": 25.0,
            "rows": 40,
            "database": "app",
        },
        {
            "query": "DELETE FROM carts",
            "calls": 1,
            "total_ms": 1.0,
            "mean_ms": 1.0,
            "rows": 0,
            "database": "app",
        },
    ]
    assert [r["query"] for r in top(s, "time")] == [ORDERS, ITEMS, "DELETE FROM carts"]
    assert [r["query"] for r in top(s, "calls", n=1)] == [ITEMS]


def test_long_statements_are_truncated() -> None:
    long = "SELECT " + ", ".join(f"column_{i}" for i in range(100)) + " FROM wide"
    (row,) = top({key(1): entry(long, 1)}, "calls")
    assert len(row["query"]) == QUERY_CHARS and row["query"].endswith("…")
    assert row["query"] == normalize(long) and long.startswith(row["query"][:-1])
    assert normalize("SELECT 1") == "SELECT 1"


def test_n_plus_one_flags_a_repeated_data_statement_from_the_threshold_on() -> None:
    s = {key(1): entry(ITEMS, 20), key(2): entry(ORDERS, 1)}
    assert n_plus_one(s, 10) == [(20, ITEMS)]
    assert n_plus_one(s, 20) == [(20, ITEMS)]
    assert n_plus_one(s, 21) == []


def test_n_plus_one_sums_one_shape_run_by_several_roles_or_databases() -> None:
    s = {key(1, dbid=5): entry(ITEMS, 6), key(1, dbid=6, userid=11): entry(ITEMS, 6)}
    assert n_plus_one(s, 10) == [(12, ITEMS)]


def test_row_by_row_writes_are_flagged_most_repeated_first() -> None:
    insert = "INSERT INTO order_items (order_id, sku) VALUES ($1, $2)"
    update = "/* controller='cart' */ UPDATE carts SET total = $1 WHERE id = $2"
    s = {key(1): entry(insert, 40), key(2): entry(update, 12), key(3): entry(ITEMS, 15)}
    assert n_plus_one(s, 10) == [(40, insert), (15, ITEMS), (12, update)]


def test_n_plus_one_ignores_statements_without_a_table_and_nested_ones() -> None:
    s = {
        key(1): entry("SELECT $1", 50),
        key(2): entry("select now()", 50),
        key(3): entry("SET application_name = $1", 50),
        key(4): entry("BEGIN", 50),
        key(5): entry("SAVEPOINT sp", 50),
        key(6): entry("SHOW server_version", 50),
        key(7): entry("SELECT nextval($1)", 50),
        key(8, toplevel=False): entry(ITEMS, 50),  # inside a function the app called once
        key(9): entry("-- fetch one\nWITH o AS (SELECT id FROM orders) SELECT * FROM o", 50),
    }
    assert n_plus_one(s, 10) == [
        (50, "-- fetch one WITH o AS (SELECT id FROM orders) SELECT * FROM o")
    ]


def test_in_databases_keeps_only_the_named_databases() -> None:
    s = {key(1, dbid=5): entry(ITEMS, 3, db="w1"), key(1, dbid=6): entry(ITEMS, 4, db="w2")}
    assert in_databases(s, {"w2"}) == {key(1, dbid=6): entry(ITEMS, 4, db="w2")}
    assert in_databases(s, ()) == {}
