"""SQL measured with ``pg_stat_statements``: snapshots of the server's counters, what a test
or a stage added to them, the top statements and the N+1 pattern.

Measurements are differences of two snapshots, never ``pg_stat_statements_reset()``: one
server is read by several measurers at once (the engine per stage, each xdist worker per
test), and a reset by one would wipe the others' baselines.

A snapshot covers the whole cluster (the view in the ``postgres`` database shows every
database's statements) and leaves out the role that takes it, so the measuring queries and
tempstack's own administration are never counted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal, NamedTuple, TypeAlias, TypedDict

import psycopg

QUERY_CHARS = 300  # statement text kept in reports

# toplevel appeared in pg_stat_statements 1.9 (PostgreSQL 14); earlier, every entry is.
_SELECT = """
SELECT s.dbid, s.userid, s.queryid, {toplevel}, s.calls, s.total_exec_time, s.rows,
       s.query, d.datname
FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND s.queryid IS NOT NULL
  AND s.query NOT ILIKE '%%pg_stat_statements%%'
  AND (%(databases)s::text[] IS NULL OR d.datname = ANY(%(databases)s::text[]))
"""
_SNAPSHOT = _SELECT.format(toplevel="s.toplevel")
_SNAPSHOT_PRE14 = _SELECT.format(toplevel="true")

# Comments an ORM or sqlcommenter puts before the statement.
_LEADING_COMMENTS = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*(?:\n|$)\s*)*", re.DOTALL)
_VERB = re.compile(r"(select|with|insert|update|delete|merge)\b", re.IGNORECASE)
_FROM = re.compile(r"\bfrom\b", re.IGNORECASE)


class Key(NamedTuple):
    """pg_stat_statements' own identity of an entry."""

    dbid: int
    userid: int
    queryid: int
    toplevel: bool


class Entry(NamedTuple):
    """An entry's counters (a tuple: a snapshot builds thousands of them in milliseconds)."""

    calls: int
    total_ms: float
    rows: int
    query: str  # as pg_stat_statements normalized it: constants are $1, $2, ...
    database: str | None


Snapshot: TypeAlias = dict[Key, Entry]


class StatementRow(TypedDict):
    """One statement shape, shaped as ``report.schema.StatementStats``."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    database: str | None


def snapshot(
    dsn: str | psycopg.Connection[Any], databases: Collection[str] | None = None
) -> Snapshot:
    """The server's statement counters now, except those of the connecting role.

    ``dsn`` is the admin DSN (``tempstack.services.postgres.admin_dsn_for``) or an open
    connection of the admin, which saves a connection per call when measuring per test.
    ``databases`` limits it to those (a worker's or a test's own): the server holds entries
    for every database ever used, and leaving the others there keeps a snapshot cheap.
    """
    if isinstance(dsn, str):
        with psycopg.connect(dsn, autocommit=True) as conn:
            return _read(conn, databases)
    return _read(dsn, databases)


def _read(conn: psycopg.Connection[Any], databases: Collection[str] | None) -> Snapshot:
    query = _SNAPSHOT if conn.info.server_version >= 140000 else _SNAPSHOT_PRE14
    params = {"databases": None if databases is None else list(databases)}
    # binary: numbers arrive ready-made instead of parsed from text
    rows = conn.cursor(binary=True).execute(query, params).fetchall()
    return {
        Key(dbid, userid, queryid, toplevel): Entry(calls, total, n, text, database)
        for dbid, userid, queryid, toplevel, calls, total, n, text, database in rows
    }


def diff(before: Mapping[Key, Entry], after: Mapping[Key, Entry]) -> Snapshot:
    """What ran between two snapshots: grown entries by their growth, new ones whole.

    An entry with fewer calls than before was evicted (``pg_stat_statements.max``) or reset
    and has counted again from zero since, so it is taken whole too.
    """
    out: Snapshot = {}
    for key, now in after.items():
        then = before.get(key)
        if then is None or now.calls < then.calls:
            out[key] = now
        elif now.calls > then.calls:
            out[key] = now._replace(
                calls=now.calls - then.calls,
                total_ms=now.total_ms - then.total_ms,
                rows=now.rows - then.rows,
            )
    return out


def in_databases(s: Mapping[Key, Entry], names: Collection[str]) -> Snapshot:
    """Only the statements run in these databases (one xdist worker's, one test's)."""
    return {key: entry for key, entry in s.items() if entry.database in names}


def total_calls(s: Mapping[Key, Entry]) -> int:
    """Statements the clients sent; those run inside functions (track = all) are not counted."""
    return sum(entry.calls for key, entry in s.items() if key.toplevel)


def normalize(query: str) -> str:
    """Whitespace collapsed, truncated for reports."""
    text = " ".join(query.split())
    return text if len(text) <= QUERY_CHARS else text[: QUERY_CHARS - 1] + "…"


def top(s: Mapping[Key, Entry], by: Literal["calls", "time"], n: int = 10) -> list[StatementRow]:
    """The ``n`` statement shapes with the most calls or the most total time."""
    rows = list(_shapes(s.values()).values())
    if by == "calls":
        rows.sort(key=lambda r: (-r["calls"], -r["total_ms"], r["query"]))
    else:
        rows.sort(key=lambda r: (-r["total_ms"], -r["calls"], r["query"]))
    return rows[:n]


def n_plus_one(s: Mapping[Key, Entry], threshold: int) -> list[tuple[int, str]]:
    """(calls, statement) for each data statement repeated at least ``threshold`` times.

    Meant for the difference over one test: one SELECT per parent row (the N+1 pattern) or
    one INSERT per row shows up as a single shape with many calls. Statements without a
    table (``SELECT 1``, ``SELECT now()``) and utility commands are not findings.
    """
    shapes = _shapes(e for k, e in s.items() if k.toplevel and _is_data_statement(e.query))
    found = [(row["calls"], row["query"]) for row in shapes.values() if row["calls"] >= threshold]
    return sorted(found, key=lambda f: (-f[0], f[1]))


def _is_data_statement(query: str) -> bool:
    text = _LEADING_COMMENTS.sub("", query, count=1)
    verb = _VERB.match(text)
    if verb is None:
        return False
    return verb.group(1).lower() not in {"select", "with"} or _FROM.search(text) is not None


def _shapes(entries: Iterable[Entry]) -> dict[str, StatementRow]:
    """Entries grouped by statement text: one shape run by several roles or in several
    databases (a fresh database per test) is still one statement to the reader."""
    shapes: dict[str, StatementRow] = {}
    for entry in entries:
        text = " ".join(entry.query.split())
        row = shapes.get(text)
        if row is None:
            shapes[text] = StatementRow(
                query=normalize(text),
                calls=entry.calls,
                total_ms=entry.total_ms,
                mean_ms=0.0,
                rows=entry.rows,
                database=entry.database,
            )
            continue
        row["calls"] += entry.calls
        row["total_ms"] += entry.total_ms
        row["rows"] += entry.rows
        if row["database"] != entry.database:
            row["database"] = None
    for row in shapes.values():
        row["total_ms"] = round(row["total_ms"], 3)
        row["mean_ms"] = round(row["total_ms"] / row["calls"], 3) if row["calls"] else 0.0
    return shapes
