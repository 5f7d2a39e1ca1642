"""A fresh database per test: tempstack's ``fresh_db`` against pytest-postgresql's ``postgresql``.

Both sides hold the same seeded data (``_peer.py``'s migration and seed, about 40,000 rows,
13 MB) and run real pytest sessions (a subprocess each, with the plugins installed here) of
the same tests: one uncounted test that brings the session up, ``--tests`` counted tests that
each take a fresh database and run one ``SELECT count(*)`` on it, ten tests without any
fixture (pytest's own cost per test, the floor), and an uncounted last test in whose teardown
pytest finalises the session fixtures.

* tempstack: ``pytest --tempstack=tempstack.toml``; the test takes ``fresh_db`` (``CREATE
  DATABASE .. TEMPLATE app_template`` on the run's server, dropped ``WITH (FORCE)`` after) and
  connects to the URL it gets;
* the peer: the pytest-postgresql plugin's own ``postgresql_proc`` and ``postgresql`` fixtures,
  configured on the command line (``--postgresql-load`` the same migration file and seed
  function); the test takes ``postgresql``, a connection to a database its
  ``DatabaseJanitor`` cloned from the loaded template, dropped after the test;
* a prototype, not tempstack's fixture: the same tempstack session with ``fresh_db``
  overridden in a conftest by ``Pool`` below (clones made ahead by a background thread with
  ``STRATEGY FILE_COPY``, used ones dropped by it), to measure the proposed change in pytest.

A test's time is what pytest itself measures for its three phases (setup, call, teardown;
``report.duration``), added up: creating the database, connecting, the query, closing,
dropping, and pytest's own per-test work (the floor shows it; tempstack's includes its
per-test query counting). Session start-up (the stack, ``initdb``, loading) is outside the
counted tests. The figure of a session is the median over its counted tests; sessions
alternate (tempstack, peer, prototype, ...) after one uncounted warm-up session of each; the
result is the median over ``--runs``.

Then (unless ``--no-explore``) the same work timed by hand outside pytest, on both servers
side by side: the flows (as now, ``STRATEGY FILE_COPY`` instead of PostgreSQL 15's default
``WAL_LOG``, a pool that clones ahead and drops off the test's path) and the single
statements and connections they are made of.

Usage: ``python benchmarks/fresh_db.py [--runs N] [--tests N] [--no-explore] [--json PATH]``
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import platform
import queue
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from _peer import (
    HOST,
    PG_USER,
    ROWS,
    PeerPg,
    PeerPostgres,
    Project,
    Tracker,
    database_size,
    fresh_root,
    median,
    ms,
    newest_postgres_bin,
    p90,
    peer_pg_ctl,
    pkg_version,
    write_project,
)
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor

import tempstack
from tempstack.testing import DatabaseClones, database_url

STACK_NAME = "fresh-db-bench"
TARGET = 0.5  # the target: tempstack's per-test database at most 0.5 x the peer's
FLOOR_TESTS = 10
SIDES = ("tempstack", "peer", "prototype")
LABELS = {
    "tempstack": "tempstack fresh_db (pytest --tempstack)",
    "peer": "peer (pytest-postgresql postgresql)",
    "prototype": "prototype: FILE_COPY ahead, 1-round SCRAM",
}

# -- the test sessions ---------------------------------------------------------------------------
TIMING_PLUGIN = """\
\"\"\"Loaded with -p: every test phase's duration as pytest measured it, into BENCH_TIMINGS.\"\"\"
import json
import os

_rows = []


def pytest_runtest_logreport(report):
    _rows.append([report.nodeid, report.when, report.duration, report.outcome])


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_TIMINGS"], "w") as fh:
        json.dump({{"rows": _rows, "run_id": os.environ.get("TEMPSTACK_RUN_ID")}}, fh)
"""

TEMPSTACK_TESTS = """\
import psycopg
import pytest

EXPECTED = ({items},)


def test_000_session(fresh_db):
    \"\"\"Not counted: the session's first use of everything.\"\"\"
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM order_items").fetchone() == EXPECTED


@pytest.mark.parametrize("i", range({tests}))
def test_fresh(fresh_db, i):
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM order_items").fetchone() == EXPECTED


@pytest.mark.parametrize("i", range({floor}))
def test_floor(i):
    pass


def test_zzz_last():
    \"\"\"Not counted: session fixtures are finalised in the last test's teardown.\"\"\"
"""

PEER_TESTS = """\
import pytest

EXPECTED = ({items},)


def test_000_session(postgresql):
    \"\"\"Not counted: the session's first use of everything.\"\"\"
    assert postgresql.execute("SELECT count(*) FROM order_items").fetchone() == EXPECTED


@pytest.mark.parametrize("i", range({tests}))
def test_fresh(postgresql, i):
    assert postgresql.execute("SELECT count(*) FROM order_items").fetchone() == EXPECTED


@pytest.mark.parametrize("i", range({floor}))
def test_floor(i):
    pass


def test_zzz_last():
    \"\"\"Not counted: session fixtures are finalised in the last test's teardown.\"\"\"
"""

# Not tempstack's fixture: a prototype of the changes the by-hand figures suggest, on the same
# run, to measure in real pytest what they would give together: clones made ahead (two) with
# STRATEGY FILE_COPY, drops off the test's path, the run's role with a 1-round SCRAM verifier.
POOL_CONFTEST = """\
import pytest
from fresh_db import Pool, cheap_scram

from tempstack.testing import database_url


@pytest.fixture(scope="session")
def clone_pool(tempstack_run):
    env = tempstack_run.env
    cheap_scram(env["DB_URL"])
    pool = Pool(database_url(env["DB_URL"], "postgres"), env["DB_TEMPLATE"], "FILE_COPY")
    pool.wait_filled()
    yield pool
    pool.close()


@pytest.fixture
def fresh_db(clone_pool, tempstack_run):
    name = clone_pool.take()
    yield database_url(tempstack_run.env["DB_URL"], name)
    clone_pool.drops.put(name)
"""

# Only when the benchmark runs as root: pytest makes its temp dirs 0700 and root's, and
# PostgreSQL refuses root, so pg_ctl runs as another user (through --postgresql-exec, a
# setpriv wrapper) who must own the directory postgresql_proc gets from tmp_path_factory.
PEER_CONFTEST = """\
import os

import pytest

OWNER = os.environ.get("BENCH_PG_OWNER")

if OWNER:
    UID, GID = (int(part) for part in OWNER.split(":"))

    class _Owned:
        def __init__(self, inner):
            self._inner = inner

        def getbasetemp(self):
            base = self._inner.getbasetemp()
            base.chmod(0o755)
            return base

        def mktemp(self, basename, numbered=True):
            self.getbasetemp()
            path = self._inner.mktemp(basename, numbered)
            os.chown(path, UID, GID)
            return path

    @pytest.fixture(scope="session")
    def tmp_path_factory(tmp_path_factory):
        return _Owned(tmp_path_factory)
"""


@dataclass
class Session:
    """Per-test figures of one pytest session (seconds)."""

    total: list[float]
    setup: list[float]
    call: list[float]
    teardown: list[float]
    floor: list[float]
    wall: float

    def medians(self) -> dict[str, float]:
        return {
            "total": median(self.total),
            "setup": median(self.setup),
            "call": median(self.call),
            "teardown": median(self.teardown),
            "floor": median(self.floor),
        }


@dataclass
class Sessions:
    runs: list[Session] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        per_run = [s.medians() for s in self.runs]
        pooled = [t for s in self.runs for t in s.total]
        return {
            "per_test_median_s": median([m["total"] for m in per_run]),
            "per_test_p90_pooled_s": p90(pooled),
            "setup_median_s": median([m["setup"] for m in per_run]),
            "call_median_s": median([m["call"] for m in per_run]),
            "teardown_median_s": median([m["teardown"] for m in per_run]),
            "floor_median_s": median([m["floor"] for m in per_run]),
            "session_wall_median_s": median([s.wall for s in self.runs]),
            "per_run_medians_s": per_run,
        }


def parse_timings(path: Path, tests: int) -> tuple[Session, str | None]:
    data = json.loads(path.read_text())
    phases: dict[str, dict[str, float]] = {}
    for nodeid, when, duration, outcome in data["rows"]:
        if outcome != "passed":
            raise RuntimeError(f"{nodeid} {when}: {outcome}")
        phases.setdefault(nodeid, {})[when] = duration
    fresh = [p for n, p in phases.items() if "::test_fresh[" in n]
    floor = [p for n, p in phases.items() if "::test_floor[" in n]
    if len(fresh) != tests or len(floor) != FLOOR_TESTS:
        raise RuntimeError(
            f"expected {tests} + {FLOOR_TESTS} tests, got {len(fresh)} + {len(floor)}"
        )
    session = Session(
        total=[sum(p.values()) for p in fresh],
        setup=[p["setup"] for p in fresh],
        call=[p["call"] for p in fresh],
        teardown=[p["teardown"] for p in fresh],
        floor=[sum(p.values()) for p in floor],
        wall=0.0,
    )
    return session, data.get("run_id")


@dataclass
class Bench:
    root: Path
    project: Project
    tracker: Tracker
    pg: PeerPg
    tests: int
    count: int = 0

    def env(self, timings: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(
                [str(self.project.dir), str(Path(__file__).parent), env.get("PYTHONPATH", "")]
            ),
            BENCH_TIMINGS=str(timings),
            SEED_METHOD=self.project.seed_method,
            PYTHONDONTWRITEBYTECODE="1",
        )
        if self.pg.owner is not None:
            env["BENCH_PG_OWNER"] = f"{self.pg.owner[0]}:{self.pg.owner[1]}"
        return env

    def session(self, side: str) -> Session:
        self.count += 1
        timings = self.root / f"timings-{self.count}.json"
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "benchtiming"]
        basetemp = self.root / "peer" / f"basetemp-{self.count}"
        if side in ("tempstack", "prototype"):
            tests = "tests_ts" if side == "tempstack" else "tests_pool"
            argv = [*base, f"--tempstack={self.project.stack_file}", f"{tests}/test_fresh.py"]
        else:
            argv = [
                *base,
                f"--basetemp={basetemp}",
                f"--postgresql-exec={self.pg.pg_ctl}",
                "--postgresql-host=127.0.0.1",
                "--postgresql-postgres-options=-c listen_addresses=127.0.0.1",
                f"--postgresql-load={self.project.schema}",
                "--postgresql-load=seed.load",
                "tests_peer/test_fresh.py",
            ]
        t = time.perf_counter()
        done = subprocess.run(
            argv, cwd=self.project.dir, env=self.env(timings), capture_output=True, text=True
        )
        wall = time.perf_counter() - t
        shutil.rmtree(basetemp, ignore_errors=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"{side} session failed ({done.returncode}):\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}"
            )
        session, run_id = parse_timings(timings, self.tests)
        if run_id:
            self.tracker.run_ids.add(run_id)
        session.wall = wall
        return session


def write_tests(project: Project, tests: int) -> None:
    items = ROWS["order_items"]
    (project.dir / "benchtiming.py").write_text(TIMING_PLUGIN.format())
    for name in ("tests_ts", "tests_pool"):
        (project.dir / name).mkdir()
        (project.dir / name / "test_fresh.py").write_text(
            TEMPSTACK_TESTS.format(items=items, tests=tests, floor=FLOOR_TESTS)
        )
    (project.dir / "tests_pool" / "conftest.py").write_text(POOL_CONFTEST)
    peer = project.dir / "tests_peer"
    peer.mkdir()
    (peer / "conftest.py").write_text(PEER_CONFTEST)
    (peer / "test_fresh.py").write_text(
        PEER_TESTS.format(items=items, tests=tests, floor=FLOOR_TESTS)
    )


# -- the SQL by hand -----------------------------------------------------------------------------
# What one test costs when its database is made and dropped as each flow does it, timed outside
# pytest on both servers (same data) over ``tests`` consecutive trivial tests: the worst case
# for a pool, which has no test body to hide a clone behind.
COUNT = "SELECT count(*) FROM order_items"
GAP = 0.005  # seconds, untimed: pytest's bookkeeping between a test's body and its teardown
POOL_AHEAD = 2  # clones the pool keeps ready


def timed(fn: Callable[..., object], *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def use(url: str) -> None:
    """What each counted test does with its database: connect, one query, close."""
    with psycopg.connect(url) as conn:
        conn.execute(COUNT).fetchone()


def scram_verifier(password: str, iterations: int = 1) -> str:
    """A SCRAM-SHA-256 verifier (RFC 5802/7677) as ``CREATE ROLE .. PASSWORD`` accepts it.

    PostgreSQL stores what it is given when it is already a verifier, with its iteration
    count, and clients then do that many PBKDF2 rounds too. For a random throwaway password
    key stretching adds nothing, and 4096 rounds cost milliseconds per connection.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def cheap_scram(url: str) -> None:
    """Store the password of ``url``'s (superuser) role again, with one PBKDF2 round."""
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(scram_verifier(password))
            )
        )


class Pool:
    """A background thread keeps ``ahead`` clones ready and drops used ones off the test's path.

    The test waits only for a ready name; the thread has its own connection, so a clone runs
    while the previous test uses its database (and competes with it for the two CPUs).
    """

    def __init__(
        self, admin_url: str, template: str, strategy: str, ahead: int = POOL_AHEAD
    ) -> None:
        self.admin_url, self.template, self.strategy, self.ahead = (
            admin_url,
            template,
            strategy,
            ahead,
        )
        self.ready: queue.Queue[str] = queue.Queue()
        self.drops: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="clone-pool", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                made = itertools.count()
                while not self.stop.is_set():
                    with contextlib.suppress(queue.Empty):
                        while True:
                            drop(conn, self.drops.get_nowait())
                    if self.ready.qsize() < self.ahead:
                        name = f"pool_{next(made)}"
                        create(conn, name, self.template, self.strategy)
                        self.ready.put(name)
                    else:
                        with contextlib.suppress(queue.Empty):
                            drop(conn, self.drops.get(timeout=0.005))
                for q in (self.ready, self.drops):  # what is left when the pool closes
                    with contextlib.suppress(queue.Empty):
                        while True:
                            drop(conn, q.get_nowait())
        except BaseException as exc:  # re-raised by close()
            self.error = exc

    def wait_filled(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ready.qsize() < self.ahead:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the pool did not fill: {self.error}")
            time.sleep(0.005)

    def take(self) -> str:
        while True:
            with contextlib.suppress(queue.Empty):
                return self.ready.get(timeout=1)
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"the pool stopped: {self.error}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        if self.error is not None:
            raise self.error


def create(conn: psycopg.Connection[Any], name: str, template: str, strategy: str) -> None:
    conn.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
            sql.Identifier(name), sql.Identifier(template), sql.SQL(strategy)
        )
    )


def drop(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_after_backends(conn: psycopg.Connection[Any], name: str, wait: bool) -> None:
    """DROP the database; with ``wait``, first poll until no server process is on it.

    A client's close returns before its server process has exited; DROP DATABASE that
    finds it still there (even WITH (FORCE)) sleeps 100 ms before looking again.
    """
    while wait:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
        if not row or row[0] == 0:
            break
        time.sleep(0.001)
    drop(conn, name)


@dataclass
class Servers:
    ts_url: str  # the run's DB_URL (the app role: a password over TCP)
    ts_template: str
    ts_admin_socket: str  # tempstack's own admin DSN (trust, Unix socket)
    peer: PeerPostgres

    def ts_db(self, name: str) -> str:
        return database_url(self.ts_url, name)


def flows(srv: Servers, tests: int) -> dict[str, Callable[[], list[float]]]:
    """Each flow runs ``tests`` tests and returns each test's critical-path time.

    Between a test closing its connection and its database being dropped, pytest does its
    own bookkeeping (a millisecond or more), during which the server process of that
    connection exits; ``GAP`` stands in for it, untimed. Without it, ``DROP DATABASE`` finds
    the exiting process and sleeps 100 ms before it looks again (the trap flow shows it).
    """
    peer = srv.peer

    def ts_now(gap: float) -> Callable[[], list[float]]:
        def run() -> list[float]:
            clones = DatabaseClones(srv.ts_url, srv.ts_template, "bench_now")
            try:

                def one() -> float:
                    t = time.perf_counter()
                    url = clones.create()
                    use(url)
                    spent = time.perf_counter() - t
                    time.sleep(gap)
                    return spent + timed(clones.drop, url)

                return [one() for _ in range(tests)]
            finally:
                clones.close()

        return run

    def ts_in_line(strategy: str) -> Callable[[], list[float]]:
        def run() -> list[float]:
            with psycopg.connect(srv.ts_db("postgres"), autocommit=True) as conn:

                def one(i: int) -> float:
                    name = f"bench_{strategy.lower()}_{i}"
                    spent = timed(create, conn, name, srv.ts_template, strategy)
                    spent += timed(use, srv.ts_db(name))
                    time.sleep(GAP)
                    return spent + timed(drop, conn, name)

                return [one(i) for i in range(tests)]

        return run

    def ts_pool(strategy: str) -> Callable[[], list[float]]:
        def run() -> list[float]:
            pool = Pool(srv.ts_db("postgres"), srv.ts_template, strategy)
            try:
                pool.wait_filled()  # as at a session's start, before its first test

                def one() -> None:
                    name = pool.take()
                    use(srv.ts_db(name))
                    pool.drops.put(name)

                return [timed(one) for _ in range(tests)]
            finally:
                pool.close()

        return run

    def peer_now() -> list[float]:
        def one() -> float:
            janitor = DatabaseJanitor(
                user=PG_USER,
                host=HOST,
                port=peer.port,
                dbname="tests",
                template_dbname="tests_tmpl",
                maintenance_dbname="postgres",
            )
            # the postgresql fixture: init, connect, the test, close, (pytest), drop
            spent = timed(janitor.init) + timed(use, peer.dsn("tests"))
            time.sleep(GAP)
            return spent + timed(janitor.drop)

        return [one() for _ in range(tests)]

    return {
        "tempstack: fresh_db's DatabaseClones as it is": ts_now(GAP),
        "  the same, dropped right after the test's connection closed": ts_now(0.0),
        "tempstack: create, use, drop in line (WAL_LOG)": ts_in_line("WAL_LOG"),
        "tempstack: create, use, drop in line (FILE_COPY)": ts_in_line("FILE_COPY"),
        f"tempstack: {POOL_AHEAD} made ahead, drops off-path (WAL_LOG)": ts_pool("WAL_LOG"),
        f"tempstack: {POOL_AHEAD} made ahead, drops off-path (FILE_COPY)": ts_pool("FILE_COPY"),
        "peer: DatabaseJanitor as the postgresql fixture (WAL_LOG)": peer_now,
    }


def components(srv: Servers, reps: int) -> dict[str, list[float]]:
    """Single statements and connections, to say where a flow's time goes."""
    from tempstack.profile.queries import snapshot

    out: dict[str, list[float]] = {}
    peer = srv.peer

    def add(label: str, seconds: float) -> None:
        out.setdefault(label, []).append(seconds)

    def connect(url: str) -> None:
        psycopg.connect(url).close()

    # a role like the run's, its password stored with one PBKDF2 round instead of 4096
    role, password = f"bench_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(srv.ts_db("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(scram_verifier(password))
            )
        )
    host, port = urlsplit(srv.ts_url).hostname, urlsplit(srv.ts_url).port
    fast = f"postgresql://{role}:{password}@{host}:{port}/postgres"

    with (
        psycopg.connect(srv.ts_db("postgres"), autocommit=True) as ts,
        psycopg.connect(peer.dsn("postgres"), autocommit=True) as pc,
        psycopg.connect(srv.ts_admin_socket, autocommit=True) as stats,
    ):
        sides = (
            ("tempstack", ts, srv.ts_template, srv.ts_db),
            ("peer", pc, "tests_tmpl", peer.dsn),
        )
        for i in range(reps):
            for side, conn, template, url in sides:
                for strategy in ("WAL_LOG", "FILE_COPY"):
                    name = f"part_{strategy.lower()}_{i}"
                    add(
                        f"{side}: CREATE DATABASE .. STRATEGY {strategy}",
                        timed(create, conn, name, template, strategy),
                    )
                    add(f"{side}: connect to the new database", timed(connect, url(name)))
                    time.sleep(0.01)  # let the backend exit: a drop would wait 100 ms for it
                    add(f"{side}: DROP DATABASE .. WITH (FORCE)", timed(drop, conn, name))
            for label, wait in (("at once", False), ("once its backend is gone", True)):
                name = f"part_trap_{i}"
                create(ts, name, srv.ts_template, "FILE_COPY")
                use(srv.ts_db(name))
                add(
                    f"tempstack: DROP right after the last client closed, {label}",
                    timed(drop_after_backends, ts, name, wait),
                )
            add(
                "tempstack: connect, the run's role (SCRAM, 4096 rounds)",
                timed(connect, srv.ts_db("postgres")),
            )
            add("tempstack: connect, a role with a 1-round SCRAM verifier", timed(connect, fast))
            add(
                "tempstack: connect, admin over the Unix socket (trust)",
                timed(connect, srv.ts_admin_socket),
            )
            add("peer: connect (trust)", timed(connect, peer.dsn("postgres")))
            add("tempstack: profiler snapshot (pg_stat_statements)", timed(snapshot, stats))
            add(
                "tempstack: the same without statement texts",
                timed(lambda: stats.execute("SELECT * FROM pg_stat_statements(false)").fetchall()),
            )
    return out


def explore(
    project: Project, pg: PeerPg, tracker: Tracker, where: Path, tests: int
) -> dict[str, Any]:
    """Both servers up side by side; flows and components alternate, three rounds each."""
    from tempstack.services.postgres import admin_dsn_for

    per_test: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    with tempstack.Stack.load(project.stack_file).up() as run:
        tracker.run_ids.add(run.id)
        for name, info in run.services.items():
            tracker.track(f"tempstack {name}", info.pid)
        peer = PeerPostgres(where, pg, tracker)
        try:
            peer.start(project.peer_load())
            srv = Servers(
                ts_url=run.env["DB_URL"],
                ts_template=run.env["DB_TEMPLATE"],
                ts_admin_socket=admin_dsn_for(run.dir / "db", int(run.env["DB_PORT"])),
                peer=peer,
            )
            size = database_size(srv.ts_db(srv.ts_template))
            for _ in range(3):
                for label, flow in flows(srv, tests).items():
                    per_test.setdefault(label, []).extend(flow())
                for label, values in components(srv, 5).items():
                    parts.setdefault(label, []).extend(values)
        finally:
            try:
                peer.stop()
            finally:
                peer.remove_dirs()
    return {
        "template_bytes": size,
        "tests_per_flow": tests,
        "flows_median_s": {k: median(v) for k, v in per_test.items()},
        "flows_p90_s": {k: p90(v) for k, v in per_test.items()},
        "components_median_s": {k: median(v) for k, v in parts.items()},
    }


# -- the benchmark -------------------------------------------------------------------------------
def print_table(runs: int, tests: int, sums: dict[str, dict[str, Any]]) -> None:
    width = max(len(v) for v in LABELS.values())
    cols = ("per test", "p90", "setup", "call", "teardown", "floor")
    head = f"{'':<{width}}" + "".join(f"  {c:>11}" for c in cols)
    print(
        f"\n{runs} sessions each, interleaved, {tests} counted tests per session; per test = "
        "setup + call + teardown as pytest measures them (median of the session medians); "
        "p90 over all counted tests (nearest rank); floor = a test without fixtures"
    )
    print(head)
    print("-" * len(head))
    for side in SIDES:
        s = sums[side]
        values = (
            s["per_test_median_s"],
            s["per_test_p90_pooled_s"],
            s["setup_median_s"],
            s["call_median_s"],
            s["teardown_median_s"],
            s["floor_median_s"],
        )
        print(f"{LABELS[side]:<{width}}" + "".join(f"  {ms(v):>11}" for v in values))


def print_explore(found: dict[str, Any]) -> None:
    flows, p90s = found["flows_median_s"], found["flows_p90_s"]
    width = max(len(k) for k in [*flows, *found["components_median_s"]])
    print(
        f"\nby hand, outside pytest (template {found['template_bytes'] / 1e6:.1f} MB): per test "
        f"= make a database, connect, {COUNT!r}, close, drop; {found['tests_per_flow']} "
        "tests in a row per flow, 3 rounds, flows alternating"
    )
    print(f"{'':<{width}}  {'median':>11}  {'p90':>11}")
    for key, value in flows.items():
        print(f"{key:<{width}}  {ms(value):>11}  {ms(p90s[key]):>11}")
    print("\nwhere it goes (medians of single statements and connections)")
    for key, value in found["components_median_s"].items():
        print(f"{key:<{width}}  {ms(value):>11}")


# The peer measures nothing per test; tempstack's per-test measurement (pg_stat_statements
# snapshots, proxy records) is switched off for a like-for-like comparison unless --measure.
NO_MEASURING = "\n[profile]\nqueries = false\nproxy = false\n"


def run_benchmark(
    runs: int,
    tests: int,
    seed_method: str,
    do_explore: bool,
    json_path: Path | None,
    measure: bool = False,
) -> int:
    root = fresh_root()
    os.environ["TEMPSTACK_HOME"] = str(root / "home")
    tracker = Tracker(root)
    pg_major, pg_bin = newest_postgres_bin()
    project = write_project(root / "project", STACK_NAME, pg_major, seed_method)
    if not measure:
        with project.stack_file.open("a") as fh:
            fh.write(NO_MEASURING)
    print(f"tempstack's per-test measurement: {'on' if measure else 'off (--measure turns it on)'}")
    write_tests(project, tests)
    (root / "peer").mkdir(mode=0o755)
    extra_dirs: list[Path] = []
    result: dict[str, Any] = {}
    try:
        print(f"TEMPSTACK_HOME={os.environ['TEMPSTACK_HOME']} (fresh; tmpfs)")
        print(f"PostgreSQL {pg_major} from {pg_bin}; seed: {ROWS} ({seed_method})")
        # builds the initdb cache and the seeded snapshot, so every session starts warm (and,
        # as root, makes the unprivileged user the peer's pg_ctl runs as)
        with tempstack.Stack.load(project.stack_file).up() as run:
            tracker.run_ids.add(run.id)
            size = database_size(run.env["DB_URL"])
        print(f"seeded database: {size / 1e6:.1f} MB (pg_database_size); snapshot built")
        pg = peer_pg_ctl(pg_bin, root, extra_dirs)
        print(pg.note)
        bench = Bench(root, project, tracker, pg, tests)
        for side in SIDES:
            warm = bench.session(side)
            print(f"warm-up session {side}: per test {ms(warm.medians()['total'])} (not counted)")

        series = {side: Sessions() for side in SIDES}
        for i in range(runs):
            for side in SIDES:
                series[side].runs.append(bench.session(side))
            print(
                f"  run {i + 1:>2}/{runs}: "
                + " | ".join(
                    f"{side} per test {ms(series[side].runs[-1].medians()['total'])} "
                    f"(session {series[side].runs[-1].wall:.1f} s)"
                    for side in SIDES
                ),
                flush=True,
            )
        sums = {side: series[side].summary() for side in SIDES}
        ts, peer = sums["tempstack"]["per_test_median_s"], sums["peer"]["per_test_median_s"]
        ts_floor, peer_floor = sums["tempstack"]["floor_median_s"], sums["peer"]["floor_median_s"]
        ratio = ts / peer
        ratio_net = (ts - ts_floor) / (peer - peer_floor)
        print_table(runs, tests, sums)
        print(
            f"\ntempstack / peer, per test (medians): {ratio:.3f}  "
            f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})"
        )
        print(f"tempstack / peer, per test minus the floor:  {ratio_net:.3f}")
        proto = sums["prototype"]["per_test_median_s"] / peer
        print(f"prototype / peer, per test (medians):  {proto:.3f}  (what the proposal would give)")
        found = None
        if do_explore:
            found = explore(project, pg, tracker, root / "peer", tests)
            print_explore(found)
        summary = {
            "benchmark": "fresh_db",
            "runs": runs,
            "tests_per_session": tests,
            "seed": seed_method,
            "rows": sum(ROWS.values()),
            "seeded_db_bytes": size,
            "tempstack_per_test_ms": round(ts * 1000, 2),
            "peer_per_test_ms": round(peer * 1000, 2),
            "tempstack_over_peer": round(ratio, 3),
            "tempstack_over_peer_minus_floor": round(ratio_net, 3),
            "target_met": ratio <= TARGET,
            "prototype_per_test_ms": round(sums["prototype"]["per_test_median_s"] * 1000, 2),
            "prototype_over_peer": round(proto, 3),
        }
        result = {
            "summary": summary,
            "interleaved": True,
            **sums,
            "explore": found,
            "environment": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "postgresql_major": pg_major,
                "tempstack": tempstack.__version__,
                "pytest-postgresql": pkg_version("pytest-postgresql"),
                "pytest": pkg_version("pytest"),
                "psycopg": pkg_version("psycopg"),
            },
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for extra in extra_dirs:
            shutil.rmtree(extra, ignore_errors=True)

    left = tracker.leftovers()
    assert not left, "processes left running:\n" + "\n".join(left)
    print(
        f"cleanup: nothing left running ({len(tracker.run_ids)} tempstack runs and "
        f"{len(tracker.processes)} processes checked, and nothing names {root})"
    )
    print(json.dumps(result["summary"]))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {json_path}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="counted sessions of each side")
    parser.add_argument("--tests", type=int, default=30, help="counted tests per session")
    parser.add_argument(
        "--seed", choices=("copy", "executemany"), default="copy", help="how seed.py inserts"
    )
    parser.add_argument(
        "--no-explore", dest="explore", action="store_false", help="skip the SQL timed by hand"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--measure", action="store_true", help="keep tempstack's per-test SQL/HTTP measurement on"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.tests < 1:
        parser.error("--runs and --tests must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_benchmark(args.runs, args.tests, args.seed, args.explore, args.json, args.measure)


if __name__ == "__main__":
    sys.exit(main())
