"""Per-test measurements for the pytest plugin: SQL statements and HTTP requests of each
test's ``call`` phase, attached as JUnit properties (``tempstack.queries``, ...).

Imported by the plugin only when the run has a profile file, so pytest runs without a stack
never pay for it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

_WINDOW = pytest.StashKey[tuple[float, float]]()  # a test's call phase, epoch seconds
#: the end of a ``fresh_db`` database name (see ``tempstack.testing.DatabaseClones``)
CLONE_NAME = re.compile(r"_(?:gw\d+|main)_p\d+_\d+$")


class PerTestProfiler:
    """Queries and requests of each test's ``call`` phase, as JUnit properties.

    Registered only when the run has a profile file. A measurement that fails is reported
    once as a warning and switched off; the tests go on.
    """

    def __init__(
        self, data: dict[str, Any], own_clones: str, warn: Callable[[str, str], None]
    ) -> None:
        self.warn = warn  # (message, test node id): one warning in pytest's summary
        self.own_clones = own_clones  # the part of this process's fresh_db names
        records = data.get("records")
        self.records: Path | None = Path(records) if records else None
        self.postgres: dict[str, str] = dict(data.get("postgres") or {})
        self.threshold = int(data.get("n_plus_one") or 10)
        self.offset = 0
        self.pending: list[Any] = []  # records read but not yet inside a test's window
        self.connections: dict[str, Any] = {}  # one kept connection per postgres service

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        before = self._snapshots(item)
        start = time.time()
        try:
            return (yield)
        finally:
            item.stash[_WINDOW] = (start, time.time())
            self._queries(item, before)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        """Requests are read after the teardown: the proxy writes a request's record as
        it sends the last bytes, which can be after the test already has its answer.
        (pytest's JUnit takes a test's properties from its teardown report.)"""
        try:
            return (yield)
        finally:
            window = item.stash.get(_WINDOW, None)
            if window is not None:
                self._requests(item, *window)

    def _snapshots(self, item: pytest.Item) -> dict[str, Any]:
        if not self.postgres:
            return {}
        try:
            return {name: self._snapshot(name) for name in self.postgres}
        except Exception as exc:
            self._give_up("postgres", item, exc)
            return {}

    def _queries(self, item: pytest.Item, before: dict[str, Any]) -> None:
        if not before or not self.postgres:
            return
        try:
            from tempstack.profile.queries import diff, n_plus_one, total_calls

            total = 0
            findings: list[tuple[int, str]] = []
            for name in self.postgres:
                delta = self._without_other_clones(diff(before[name], self._snapshot(name)))
                total += total_calls(delta)
                findings += n_plus_one(delta, self.threshold)
        except Exception as exc:
            self._give_up("postgres", item, exc)
            return
        item.user_properties.append(("tempstack.queries", total))
        for calls, text in sorted(findings, reverse=True):
            item.user_properties.append(("tempstack.n_plus_one", f"{calls}x {text}"))

    def _without_other_clones(self, delta: dict[Any, Any]) -> dict[Any, Any]:
        """Leave out what ran in other pytest processes' fresh databases (xdist workers
        sharing the stack), so at least those never count as this test's."""
        return {
            key: entry
            for key, entry in delta.items()
            if not (
                entry.database
                and CLONE_NAME.search(entry.database)
                and self.own_clones not in entry.database
            )
        }

    def _snapshot(self, service: str) -> Any:
        import psycopg

        from tempstack.profile.queries import snapshot

        conn = self.connections.get(service)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.postgres[service], autocommit=True, connect_timeout=10)
            self.connections[service] = conn
        return snapshot(conn)

    def close(self) -> None:
        for conn in self.connections.values():
            with contextlib.suppress(Exception):
                conn.close()
        self.connections.clear()

    def _requests(self, item: pytest.Item, start: float, end: float) -> None:
        if self.records is None:
            return
        try:
            from tempstack.profile.http import read_records, window_stats

            if self.records.exists():
                new, self.offset = read_records(self.records, self.offset)
                self.pending += new
            stats = window_stats(self.pending, start, end)
            # a request begun after this test's end belongs to the next one
            self.pending = [r for r in self.pending if r.start > end]
        except Exception as exc:
            self._give_up("records", item, exc)
            return
        if not stats:
            item.user_properties.append(("tempstack.requests", 0))
            return
        item.user_properties.append(("tempstack.requests", int(stats["requests"])))
        for key in ("p50", "p95", "max"):
            if stats.get(key) is not None:
                item.user_properties.append((f"tempstack.{key}", round(float(stats[key]), 3)))

    def _give_up(self, what: str, item: pytest.Item, exc: Exception) -> None:
        if what == "postgres":
            self.postgres = {}
            self.close()
            detail = "per-test query counts are off"
        else:
            self.records = None
            detail = "per-test request figures are off"
        self.warn(f"{detail}: {type(exc).__name__}: {exc}", item.nodeid)
