"""``.tempstack/history.sqlite``: every run appended, for trends and per-test failure rates.

One row per run, per stage attempt and per test. Concurrent runs append safely (SQLite
locks the file; writers wait up to a few seconds). ``tempstack history`` reads it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tempstack.report.schema import Journal

BUSY_TIMEOUT = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, stack TEXT NOT NULL, started TEXT NOT NULL, duration REAL,
    exit_code INTEGER, status TEXT, repeat INTEGER, report_dir TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS stages (
    run_id TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, kind TEXT,
    status TEXT, duration REAL, tests INTEGER, failed INTEGER
);
CREATE TABLE IF NOT EXISTS tests (
    run_id TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, test_id TEXT NOT NULL,
    status TEXT NOT NULL, duration REAL, message TEXT
);
CREATE INDEX IF NOT EXISTS tests_by_id ON tests (test_id);
CREATE INDEX IF NOT EXISTS runs_by_stack ON runs (stack, started);
"""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    db.executescript(_SCHEMA)
    return db


def record(journal: Journal, path: Path) -> None:
    result = journal.result
    with closing(_connect(path)) as db, db:
        db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                journal.run_id,
                journal.stack,
                journal.started,
                journal.duration,
                result.exit_code if result else None,
                result.status if result else None,
                journal.repeat,
                journal.report_dir,
                result.error if result else None,
            ),
        )
        for s in journal.stages:
            failed = sum(t.status in ("failed", "error") for t in s.tests)
            db.execute(
                "INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    journal.run_id,
                    s.stage,
                    s.attempt,
                    s.kind,
                    s.status,
                    s.duration,
                    len(s.tests),
                    failed,
                ),
            )
            rows: list[tuple[Any, ...]] = [
                (journal.run_id, s.stage, s.attempt, t.id, t.status, t.duration, t.message)
                for t in s.tests
            ]
            if not s.tests:  # a stage without tests is its own test in the rates
                rows = [
                    (journal.run_id, s.stage, s.attempt, s.stage, s.status, s.duration, s.reason)
                ]
            db.executemany("INSERT INTO tests VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass
class RunRow:
    run_id: str
    stack: str
    started: str
    duration: float | None
    exit_code: int | None
    status: str | None
    repeat: int
    stages: str  # "api passed, browser failed"
    report_dir: str | None


@dataclass
class TestRate:
    test_id: str
    stage: str
    runs: int
    executions: int
    failures: int
    last_failure: str | None
    last_message: str | None

    @property
    def rate(self) -> float:
        return self.failures / self.executions if self.executions else 0.0


def recent_runs(path: Path, limit: int = 20, stack: str | None = None) -> list[RunRow]:
    if not path.exists():
        return []
    with closing(_connect(path)) as db:
        rows = db.execute(
            "SELECT run_id, stack, started, duration, exit_code, status, repeat, report_dir "
            "FROM runs WHERE (? IS NULL OR stack = ?) ORDER BY started DESC, rowid DESC "
            "LIMIT ?",
            (stack, stack, limit),
        ).fetchall()
        out = []
        for r in rows:
            stages = db.execute(
                "SELECT stage, status FROM stages WHERE run_id = ? ORDER BY rowid", (r[0],)
            ).fetchall()
            summary = ", ".join(f"{n} {s}" for n, s in stages)
            out.append(RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or 1, summary, r[7]))
        return out


def test_rates(
    path: Path, runs: int = 20, stack: str | None = None, only_failing: bool = True
) -> list[TestRate]:
    """Failure rate per test over the last ``runs`` runs (every attempt counts)."""
    if not path.exists():
        return []
    with closing(_connect(path)) as db:
        rows = db.execute(
            """
            WITH recent AS (
                SELECT run_id, started FROM runs WHERE (? IS NULL OR stack = ?)
                ORDER BY started DESC, rowid DESC LIMIT ?
            )
            SELECT t.test_id, t.stage, COUNT(DISTINCT t.run_id), COUNT(*),
                   SUM(t.status IN ('failed', 'error', 'timeout')),
                   MAX(CASE WHEN t.status IN ('failed', 'error', 'timeout')
                       THEN r.started END)
            FROM tests t JOIN recent r ON r.run_id = t.run_id
            WHERE t.status != 'skipped'
            GROUP BY t.test_id, t.stage
            """,
            (stack, stack, runs),
        ).fetchall()
        out = []
        for test_id, stage, n_runs, execs, fails, last in rows:
            message = None
            if fails:
                found = db.execute(
                    "SELECT t.message FROM tests t JOIN runs r ON r.run_id = t.run_id "
                    "WHERE t.test_id = ? AND t.stage = ? AND t.status != 'passed' "
                    "ORDER BY r.started DESC LIMIT 1",
                    (test_id, stage),
                ).fetchone()
                message = found[0] if found else None
            out.append(TestRate(test_id, stage, n_runs, execs, fails or 0, last, message))
    if only_failing:
        out = [r for r in out if r.failures]
    return sorted(out, key=lambda r: (-r.rate, -r.failures, r.stage, r.test_id))
