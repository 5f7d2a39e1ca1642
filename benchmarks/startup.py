"""Startup and teardown time: tempstack against a hand-written pytest-postgresql/pytest-redis peer.

Both sides start the same three things, from the same binaries, bound to 127.0.0.1:

* PostgreSQL (the newest installed server; tempstack's stack file pins the same major version),
* redis-server,
* an HTTP process, ``python -m http.server PORT --bind 127.0.0.1``, awaited with an HTTP probe.

tempstack: ``with stack.up() as run:``; time to ready is from calling ``stack.up()`` until the
block is entered, teardown is leaving the block.

peer: what ``pytest-postgresql``'s ``postgresql_proc`` and ``pytest-redis``'s ``redis_proc``
fixtures do for a fresh start (``PostgreSQLExecutor`` runs ``initdb`` and ``pg_ctl start -w``,
then a ``DatabaseJanitor`` creates the template database; ``RedisExecutor`` starts
redis-server), plus the HTTP process under ``mirakuru.HTTPExecutor``, the way a hand-written
harness would. The fixtures are set up one after another, so the peer starts them sequentially;
teardown is in reverse order, as pytest finalises fixtures.

Iterations alternate (tempstack, peer, tempstack, peer, ...) after one uncounted warm-up of
each; tempstack's warm-up builds its per-machine ``initdb`` cache under a fresh
``TEMPSTACK_HOME`` in /dev/shm. At the end the script asserts that nothing it started is left.

Usage: ``python benchmarks/startup.py [--runs N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import port_for
import psutil
import psycopg
from _peer import (
    HOST,
    PG_DBNAME,
    PG_STARTPARAMS,
    PG_UNPRIVILEGED_USER,
    PG_USER,
    Series,
    Tracker,
    fresh_root,
    ms,
    newest_postgres_bin,
    pg_ctl_wrapper,
    pg_owner,
    pkg_version,
)
from mirakuru import HTTPExecutor
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from pytest_redis.executor import RedisExecutor

import tempstack

STACK_NAME = "startup-bench"
TEARDOWN_TARGET = 0.300  # seconds: tempstack's median teardown should be under this
# pytest-redis defaults (its pytest ini options), used as the fixture does
REDIS_DATABASES, REDIS_TIMEOUT, REDIS_LOGLEVEL = 8, 15, "notice"
PEER_START_ORDER = (
    "sequential: postgres (pytest-postgresql), then redis (pytest-redis), then http "
    "(mirakuru); pytest sets session fixtures up one after another and neither library "
    "starts services concurrently"
)


# -- small helpers -------------------------------------------------------------------------------
def redis_ping(port: int) -> None:
    with socket.create_connection((HOST, port), timeout=5) as conn:
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = conn.recv(64)
    assert reply.startswith(b"+PONG"), reply


def http_get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert 200 <= response.status < 400, response.status


def listening_addresses(pids: list[int]) -> set[str]:
    """Every local address the given processes listen on over TCP."""
    found: set[str] = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add(conn.laddr.ip)
    return found


# -- tempstack -----------------------------------------------------------------------------------
STACK_TOML = """\
[stack]
name = "{name}"

[services.db]
kind = "postgres"
version = "{pg_major}"

[services.cache]
kind = "redis"

[services.api]
kind = "process"
command = [{python}, "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}
"""


def journal_parts(report_dir: Path) -> dict[str, float]:
    """Where tempstack's time went, from the run's own journal (read after the run, untimed)."""
    try:
        events = json.loads((report_dir / "journal.json").read_text())["events"]
    except (OSError, ValueError, KeyError):
        return {}
    first: dict[tuple[str, str | None], float] = {}
    last: dict[str, float] = {}
    for ev in events:
        first.setdefault((ev["kind"], ev.get("service")), ev["t"])
        last[ev["kind"]] = ev["t"]
    parts: dict[str, float] = {}
    for svc in ("db", "cache", "api"):
        if (t := first.get(("service.ready", svc))) is not None:
            parts[f"{svc}_ready_at"] = t
    stopping, stopped = first.get(("run.stopping", None)), first.get(("run.stopped", None))
    if stopping is not None and stopped is not None and "service.stopped" in last:
        parts["teardown_services"] = last["service.stopped"] - stopping
        parts["teardown_sweep"] = stopped - last["service.stopped"]
    return parts


def tempstack_iteration(
    stack: tempstack.Stack, tracker: Tracker, check_bind: bool
) -> tuple[float, float, dict[str, float]]:
    t0 = time.perf_counter()
    with stack.up() as run:
        t_ready = time.perf_counter()
        # untimed: prove the stack is usable and remember what to check for at the end
        tracker.run_ids.add(run.id)
        pids = [info.pid for info in run.services.values() if info.pid is not None]
        for name, info in run.services.items():
            tracker.track(f"tempstack {name}", info.pid)
            if info.port is not None:
                tracker.ports.add(info.port)
        with psycopg.connect(run.env["DB_URL"], connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        redis_ping(int(run.env["CACHE_PORT"]))
        http_get(run.env["API_URL"] + "/")
        if check_bind:
            addrs = listening_addresses(pids)
            assert addrs == {HOST}, f"tempstack services listen on {addrs}"
        report_dir = run.report_dir
        t_leave = time.perf_counter()
    t_down = time.perf_counter()
    return t_ready - t0, t_down - t_leave, journal_parts(report_dir)


# -- peer: pytest-postgresql + pytest-redis + mirakuru -------------------------------------------
@dataclass
class PeerSetup:
    root: Path  # per-iteration directories go here (like pytest's basetemp)
    pg_ctl: str  # pg_ctl, or a wrapper that runs it as an unprivileged user under root
    owner: tuple[int, int] | None  # who PostgreSQL runs as, when that is not us
    redis_server: str
    http_argv: list[str]  # without the port
    http_cwd: Path


class PeerRun:
    """One fresh start of the peer; ``down`` is idempotent and also used on failure."""

    def __init__(self, setup: PeerSetup, tracker: Tracker) -> None:
        self.setup, self.tracker = setup, tracker
        self.pg: PostgreSQLExecutor | None = None
        self.janitor: DatabaseJanitor | None = None
        self.redis: RedisExecutor | None = None
        self.http: HTTPExecutor | None = None
        self.dirs: list[Path] = []
        self.parts: dict[str, float] = {}

    def _mktemp(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.setup.root))
        self.dirs.append(path)
        return path

    def up(self) -> None:
        t = time.perf_counter()
        # pytest-postgresql's postgresql_proc fixture: port, temp dir, executor, template db
        pg_port = port_for.get_port(None)
        assert pg_port is not None
        self.tracker.ports.add(pg_port)
        tmpdir = self._mktemp("pytest-postgresql-")
        if self.setup.owner:
            os.chown(tmpdir, *self.setup.owner)
        datadir = tmpdir / f"data-{pg_port}"
        logfile = tmpdir / f"postgresql.{pg_port}.log"
        self.pg = PostgreSQLExecutor(
            executable=self.setup.pg_ctl,
            host=HOST,
            port=pg_port,
            user=PG_USER,
            password=None,
            dbname=PG_DBNAME,
            options="",
            datadir=str(datadir.resolve()),
            unixsocketdir=str(tmpdir),
            logfile=str(logfile.resolve()),
            startparams=PG_STARTPARAMS,
            postgres_options=f"-c listen_addresses={HOST}",  # default 'localhost' adds ::1
        )
        self.pg.start()
        self.pg.wait_for_postgres()
        self.tracker.track("peer postgres", self.postmaster_pid())
        self.janitor = DatabaseJanitor(
            user=self.pg.user,
            host=self.pg.host,
            port=self.pg.port,
            dbname=self.pg.template_dbname,
            maintenance_dbname=self.pg.maintenance_dbname,
            as_template=True,
            password=self.pg.password,
        )
        self.janitor.init()
        now = time.perf_counter()
        self.parts["postgres_up"], t = now - t, now
        # pytest-redis's redis_proc fixture
        redis_port = port_for.get_port(None)
        assert redis_port is not None
        self.tracker.ports.add(redis_port)
        self.redis = RedisExecutor(
            executable=self.setup.redis_server,
            databases=REDIS_DATABASES,
            redis_timeout=REDIS_TIMEOUT,
            loglevel=REDIS_LOGLEVEL,
            host=HOST,
            port=redis_port,
            startup_timeout=60,
            datadir=self._mktemp("pytest-redis-"),
        )
        self.redis.start()
        self.tracker.track("peer redis", self.redis.process.pid if self.redis.process else None)
        now = time.perf_counter()
        self.parts["redis_up"], t = now - t, now
        # the HTTP process, as a hand-written harness starts and awaits it
        http_port = port_for.get_port(None)
        assert http_port is not None
        self.tracker.ports.add(http_port)
        self.http = HTTPExecutor(
            [*self.setup.http_argv, str(http_port), "--bind", HOST],
            url=f"http://{HOST}:{http_port}/",
            cwd=str(self.setup.http_cwd),
            timeout=60,
            stderr=subprocess.DEVNULL,  # the access log
        )
        self.http.start()
        self.tracker.track("peer http", self.http.process.pid if self.http.process else None)
        self.parts["http_up"] = time.perf_counter() - t

    def postmaster_pid(self) -> int | None:
        assert self.pg is not None
        try:
            return int((Path(self.pg.datadir) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        pids = [self.postmaster_pid()]
        for ex in (self.redis, self.http):
            pids.append(ex.process.pid if ex is not None and ex.process is not None else None)
        return [p for p in pids if p is not None]

    def check(self, check_bind: bool) -> None:
        assert self.pg is not None and self.redis is not None and self.http is not None
        with psycopg.connect(
            host=HOST, port=self.pg.port, user=PG_USER, dbname="postgres", connect_timeout=5
        ) as conn:
            conn.execute("SELECT 1")
        redis_ping(self.redis.port)
        http_get(f"http://{HOST}:{self.http.port}/")
        if check_bind:
            addrs = listening_addresses(self.pids())
            assert addrs == {HOST}, f"peer services listen on {addrs}"

    def down(self) -> None:
        """Reverse order of setup, as pytest finalises fixtures."""
        t = time.perf_counter()
        if self.http is not None:
            http, self.http = self.http, None
            http.stop()
        now = time.perf_counter()
        self.parts["http_down"], t = now - t, now
        if self.redis is not None:
            redis, self.redis = self.redis, None
            redis.stop()  # redis_proc: `with redis_executor:` exits
        now = time.perf_counter()
        self.parts["redis_down"], t = now - t, now
        if self.pg is not None:
            pg, janitor, self.pg, self.janitor = self.pg, self.janitor, None, None
            try:
                if janitor is not None:
                    janitor.drop()
            finally:  # postgresql_proc's _cleanup_executor_resources
                try:
                    pg.stop()
                finally:
                    pg.clean_directory()
                    Path(pg.logfile).unlink(missing_ok=True)
        self.parts["postgres_down"] = time.perf_counter() - t

    def remove_dirs(self) -> None:
        """pytest keeps its basetemp; the benchmark removes it (untimed)."""
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()


def peer_iteration(
    setup: PeerSetup, tracker: Tracker, check_bind: bool
) -> tuple[float, float, dict[str, float]]:
    peer = PeerRun(setup, tracker)
    try:
        t0 = time.perf_counter()
        peer.up()
        ready = time.perf_counter() - t0
        peer.check(check_bind)  # untimed
        t1 = time.perf_counter()
        peer.down()
        teardown = time.perf_counter() - t1
    except BaseException:
        with contextlib.suppress(Exception):
            peer.down()
        raise
    finally:
        peer.remove_dirs()
    return ready, teardown, dict(peer.parts)


# -- the benchmark -------------------------------------------------------------------------------
def print_table(runs: int, ts: dict[str, Any], peer: dict[str, Any], ratio: float) -> None:
    rows = [("tempstack", ts), ("peer (pytest-postgresql + pytest-redis)", peer)]
    width = max(len(name) for name, _ in rows)
    head = f"{'':<{width}}  {'ready median':>12}  {'ready p90':>12}  {'down median':>12}"
    print(f"\n{runs} iterations each, interleaved; p90 is nearest-rank")
    print(head + f"  {'down p90':>12}")
    print("-" * (len(head) + 14))
    for name, s in rows:
        print(
            f"{name:<{width}}  {ms(s['ready_median_s']):>12}  {ms(s['ready_p90_s']):>12}  "
            f"{ms(s['teardown_median_s']):>12}  {ms(s['teardown_p90_s']):>12}"
        )
    print(f"\nready ratio tempstack/peer (medians): {ratio:.3f}  (peer is {1 / ratio:.1f}x slower)")


def print_parts(label: str, parts: dict[str, float]) -> None:
    text = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
    print(f"{label} (medians): {text}")


def run_benchmark(runs: int, json_path: Path | None) -> int:
    root = fresh_root()
    os.environ["TEMPSTACK_HOME"] = str(root / "home")
    tracker = Tracker(root)
    pg_major, pg_bin = newest_postgres_bin()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("redis-server was not found on PATH")
    stack_dir = root / "stack"
    stack_dir.mkdir(mode=0o755)
    stack_file = stack_dir / "tempstack.toml"
    stack_file.write_text(
        STACK_TOML.format(name=STACK_NAME, pg_major=pg_major, python=json.dumps(sys.executable))
    )
    peer_root = root / "peer"
    peer_root.mkdir(mode=0o755)
    result: dict[str, Any] = {}
    extra_dirs: list[Path] = []
    try:
        stack = tempstack.Stack.load(stack_file)
        print(f"TEMPSTACK_HOME={os.environ['TEMPSTACK_HOME']} (fresh; tmpfs)")
        print(f"PostgreSQL {pg_major} from {pg_bin}, {redis_server}, http: {sys.executable}")
        print(f"peer start order: {PEER_START_ORDER}")

        # warm-up: tempstack builds its initdb cache (once per machine), not counted
        t = time.perf_counter()
        warm_ts = tempstack_iteration(stack, tracker, check_bind=True)
        warm_total = time.perf_counter() - t
        print(
            f"warm-up tempstack: ready {ms(warm_ts[0])}, teardown {ms(warm_ts[1])} - "
            "builds the initdb cache under TEMPSTACK_HOME/cache (per machine, built once; "
            "not counted)"
        )
        owner = pg_owner()
        if os.geteuid() == 0 and owner is None:
            sys.exit(f"running as root but there is no user {PG_UNPRIVILEGED_USER!r}")
        pg_ctl = str(pg_bin / "pg_ctl")
        if owner is not None:
            os.chown(peer_root, *owner)
            bin_dir = root / "bin"
            if os.statvfs(root).f_flag & os.ST_NOEXEC:
                bin_dir = Path(tempfile.mkdtemp(prefix="tempstack-bench-bin-"))
                extra_dirs.append(bin_dir)
            pg_ctl = pg_ctl_wrapper(pg_bin, *owner, bin_dir)
            print(
                f"peer: running as root, pg_ctl runs as uid {owner[0]} through {pg_ctl} (setpriv)"
            )
        setup = PeerSetup(
            root=peer_root,
            pg_ctl=pg_ctl,
            owner=owner,
            redis_server=redis_server,
            http_argv=[sys.executable, "-m", "http.server"],
            http_cwd=stack_dir,
        )
        warm_peer = peer_iteration(setup, tracker, check_bind=True)
        print(
            f"warm-up peer:      ready {ms(warm_peer[0])}, teardown {ms(warm_peer[1])} "
            "(not counted); both sides listen on 127.0.0.1 only"
        )

        ts, peer = Series(), Series()
        for i in range(runs):
            ts.add(*tempstack_iteration(stack, tracker, check_bind=False))
            peer.add(*peer_iteration(setup, tracker, check_bind=False))
            print(
                f"  run {i + 1:>2}/{runs}: tempstack ready {ms(ts.ready[-1])} down "
                f"{ms(ts.teardown[-1])} | peer ready {ms(peer.ready[-1])} down "
                f"{ms(peer.teardown[-1])}",
                flush=True,
            )

        ts_sum, peer_sum = ts.summary(), peer.summary()
        ratio = ts_sum["ready_median_s"] / peer_sum["ready_median_s"]
        under = ts_sum["teardown_median_s"] < TEARDOWN_TARGET
        print_table(runs, ts_sum, peer_sum, ratio)
        print(
            f"tempstack median teardown under {TEARDOWN_TARGET * 1000:.0f} ms: "
            f"{'yes' if under else 'NO'} ({ts_sum['teardown_median_s'] * 1000:.1f} ms)"
        )
        print_parts("tempstack parts (from its journal)", ts_sum["parts_median_s"])
        print_parts("peer parts", peer_sum["parts_median_s"])
        print(f"peer start order: {PEER_START_ORDER.split(':')[0]}")
        result = {
            "runs": runs,
            "interleaved": True,
            "percentile": "nearest-rank p90",
            "tempstack": ts_sum,
            "peer": {**peer_sum, "start_order": PEER_START_ORDER},
            "ratio_ready_median_tempstack_over_peer": ratio,
            "tempstack_teardown_median_under_300ms": under,
            "warmup": {
                "tempstack_ready_s": warm_ts[0],
                "tempstack_teardown_s": warm_ts[1],
                "tempstack_total_s": warm_total,
                "tempstack_note": "builds the initdb cache (per machine, built once)",
                "peer_ready_s": warm_peer[0],
                "peer_teardown_s": warm_peer[1],
            },
            "environment": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "postgresql_major": pg_major,
                "redis_server": redis_server,
                "tempstack": tempstack.__version__,
                "pytest-postgresql": pkg_version("pytest-postgresql"),
                "pytest-redis": pkg_version("pytest-redis"),
                "mirakuru": pkg_version("mirakuru"),
                "tempstack_home": "fresh temp dir in /dev/shm",
            },
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for extra in extra_dirs:
            shutil.rmtree(extra, ignore_errors=True)

    left = tracker.leftovers()
    assert not left, "processes left running:\n" + "\n".join(left)
    print(
        f"cleanup: nothing left running ({len(tracker.run_ids)} tempstack runs, "
        f"{len(tracker.processes)} processes and {len(tracker.ports)} ports checked with psutil)"
    )
    if json_path is not None:
        result["leftover_processes"] = left
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {json_path}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="counted iterations of each side")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_benchmark(args.runs, args.json)


if __name__ == "__main__":
    sys.exit(main())
