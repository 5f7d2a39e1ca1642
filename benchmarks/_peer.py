"""Shared parts of the benchmarks that measure tempstack against pytest-postgresql.

* small statistics and formatting helpers, and finding the newest PostgreSQL server;
* ``Tracker``: everything a benchmark started, to prove at the end that none of it is left;
* running the peer's ``pg_ctl`` as an unprivileged user when the benchmark runs as root;
* ``PeerPostgres``: what pytest-postgresql's ``postgresql_proc`` fixture does with ``load=``;
* the seeded project both sides load: a migration with a few tables and indexes and a seed
  script, so tempstack's jobs and the peer's loaders run exactly the same SQL.

Not a module of tempstack: the benchmark scripts import it from their own directory.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import importlib.util
import math
import os
import pwd
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import port_for
import psutil
import psycopg
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

HOST = "127.0.0.1"
PG_UNPRIVILEGED_USER = "tempstack"  # the user tempstack itself runs PostgreSQL as under root
# pytest-postgresql's defaults (its pytest ini options), used as its fixtures do
PG_USER, PG_DBNAME, PG_STARTPARAMS = "postgres", "tests", "-w"


# -- small helpers -------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile: the smallest sample >= 90% of the samples."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


@dataclass
class Series:
    """Per-iteration figures of one side."""

    ready: list[float] = field(default_factory=list)
    teardown: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, ready: float, teardown: float, parts: dict[str, float]) -> None:
        self.ready.append(ready)
        self.teardown.append(teardown)
        for key, value in parts.items():
            self.parts.setdefault(key, []).append(value)

    def summary(self) -> dict[str, Any]:
        return {
            "ready_median_s": median(self.ready),
            "ready_p90_s": p90(self.ready),
            "teardown_median_s": median(self.teardown),
            "teardown_p90_s": p90(self.teardown),
            "ready_s": self.ready,
            "teardown_s": self.teardown,
            "parts_median_s": {k: median(v) for k, v in self.parts.items()},
        }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def pkg_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def newest_postgres_bin() -> tuple[str, Path]:
    """(major version, bin dir) of the newest /usr/lib/postgresql/*/bin (or of PATH's pg_ctl)."""
    found: list[tuple[int, Path]] = []
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        major = Path(path).parent.name
        if major.isdigit() and (Path(path) / "pg_ctl").exists():
            found.append((int(major), Path(path)))
    if found:
        newest, newest_dir = max(found)
        return str(newest), newest_dir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        sys.exit("PostgreSQL server binaries (pg_ctl, initdb, postgres) were not found")
    bin_dir = Path(os.path.realpath(pg_ctl)).parent
    out = subprocess.run([pg_ctl, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)", out)
    assert match is not None
    return match.group(1), bin_dir


@dataclass
class Tracker:
    """Everything the benchmark started, to prove at the end that none of it is left."""

    root: Path
    run_ids: set[str] = field(default_factory=set)
    processes: list[tuple[str, psutil.Process]] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    started: float = field(default_factory=time.time)

    def track(self, label: str, pid: int | None) -> None:
        if pid is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            self.processes.append((label, psutil.Process(pid)))  # remembers its create time

    def leftovers(self) -> list[str]:
        me = os.getpid()
        mirakuru_tag = f"{me}:"  # mirakuru tags its children with mirakuru_uuid=<our pid>:<uuid>
        left: list[str] = []
        seen: set[int] = set()
        for proc in psutil.process_iter(["pid", "cmdline", "environ", "status"], ad_value=None):
            info = proc.info
            if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env: dict[str, str] = info["environ"] or {}
            cmdline = " ".join(info["cmdline"] or [])
            why = None
            if env.get("TEMPSTACK_RUN_ID") in self.run_ids:
                why = f"TEMPSTACK_RUN_ID={env['TEMPSTACK_RUN_ID']}"
            elif env.get("mirakuru_uuid", "").startswith(mirakuru_tag):
                why = "peer process (mirakuru_uuid of this script)"
            elif str(self.root) in cmdline:
                why = f"command line names {self.root}"
            if why:
                seen.add(info["pid"])
                left.append(f"pid {info['pid']} ({cmdline[:80]}): {why}")
        for label, proc in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if (
                    proc.pid not in seen
                    and proc.is_running()
                    and proc.status() != psutil.STATUS_ZOMBIE
                ):
                    seen.add(proc.pid)
                    left.append(f"pid {proc.pid}: {label} is still running")
        # redis-server overwrites its environment with its process title, so also look for
        # anything started during the benchmark that still listens on a port we used
        for conn in psutil.net_connections(kind="inet"):
            port = getattr(conn.laddr, "port", None)
            if conn.status != psutil.CONN_LISTEN or port not in self.ports:
                continue
            if conn.pid is None or conn.pid in seen:
                continue
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(conn.pid).create_time() >= self.started - 1:
                    seen.add(conn.pid)
                    left.append(f"pid {conn.pid} still listens on port {port}")
        return left


# -- running the peer's PostgreSQL under root ----------------------------------------------------
def pg_ctl_wrapper(bin_dir: Path, uid: int, gid: int, where: Path) -> str:
    """pg_ctl refuses to run as root: a hand-written harness drops privileges around it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        sys.exit("running as root needs setpriv (util-linux) to run pg_ctl unprivileged")
    where.mkdir(parents=True, exist_ok=True)
    path = where / "pg_ctl"
    path.write_text(
        "#!/bin/sh\n"
        "# pg_ctl as an unprivileged user; cd / so no inaccessible cwd is inherited\n"
        f"cd / && exec {setpriv} --reuid={uid} --regid={gid} --clear-groups -- "
        f'{bin_dir / "pg_ctl"} "$@"\n'
    )
    path.chmod(0o755)
    return str(path)


def fresh_root() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix="tempstack-bench-", dir=base))
    root.chmod(0o755)  # the unprivileged PostgreSQL user must traverse it
    return root


def pg_owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(os.environ.get("TEMPSTACK_USER", PG_UNPRIVILEGED_USER))
    except KeyError:
        # tempstack creates its user on first use; the warm-up has run by the time we need it
        return None
    return entry.pw_uid, entry.pw_gid


@dataclass
class PeerPg:
    """How the peer runs ``pg_ctl``: directly, or as the unprivileged user under root."""

    pg_ctl: str
    owner: tuple[int, int] | None
    note: str


def peer_pg_ctl(pg_bin: Path, root: Path, extra_dirs: list[Path]) -> PeerPg:
    """The peer's ``pg_ctl``; call after a tempstack run so its unprivileged user exists."""
    owner = pg_owner()
    if os.geteuid() == 0 and owner is None:
        sys.exit(f"running as root but there is no user {PG_UNPRIVILEGED_USER!r}")
    if owner is None:
        return PeerPg(str(pg_bin / "pg_ctl"), None, "peer: pg_ctl runs as the caller")
    bin_dir = root / "bin"
    if os.statvfs(root).f_flag & os.ST_NOEXEC:
        bin_dir = Path(tempfile.mkdtemp(prefix="tempstack-bench-bin-"))
        extra_dirs.append(bin_dir)
    pg_ctl = pg_ctl_wrapper(pg_bin, *owner, bin_dir)
    note = f"peer: running as root, pg_ctl runs as uid {owner[0]} through {pg_ctl} (setpriv)"
    return PeerPg(pg_ctl, owner, note)


# -- the peer: pytest-postgresql's postgresql_proc with load= ------------------------------------
Loader = Callable[..., None] | Path


class PeerPostgres:
    """One fresh start of what ``postgresql_proc(load=[...])`` does, called directly.

    ``start``: a port from ``port_for``, a temp dir, ``PostgreSQLExecutor.start()`` (``pg_ctl
    initdb`` then ``pg_ctl start -w``), ``wait_for_postgres()``, a ``DatabaseJanitor``
    creating the template database ``tests_tmpl`` and loading each element of ``load`` into
    it. ``stop`` is the fixture's finaliser: drop the template, ``pg_ctl stop``, remove the
    data directory and the log. Idempotent, so it is also used on failure.
    """

    def __init__(self, root: Path, pg: PeerPg, tracker: Tracker) -> None:
        self.root, self.pg, self.tracker = root, pg, tracker
        self.executor: PostgreSQLExecutor | None = None
        self.janitor: DatabaseJanitor | None = None
        self.dirs: list[Path] = []
        self.parts: dict[str, float] = {}

    def start(self, load: list[tuple[str, Loader]]) -> None:
        t = time.perf_counter()
        port = port_for.get_port(None)
        assert port is not None
        self.tracker.ports.add(port)
        tmpdir = Path(tempfile.mkdtemp(prefix="pytest-postgresql-", dir=self.root))
        self.dirs.append(tmpdir)
        if self.pg.owner:
            os.chown(tmpdir, *self.pg.owner)
        self.executor = PostgreSQLExecutor(
            executable=self.pg.pg_ctl,
            host=HOST,
            port=port,
            user=PG_USER,
            password=None,
            dbname=PG_DBNAME,
            options="",
            datadir=str((tmpdir / f"data-{port}").resolve()),
            unixsocketdir=str(tmpdir),
            logfile=str((tmpdir / f"postgresql.{port}.log").resolve()),
            startparams=PG_STARTPARAMS,
            postgres_options=f"-c listen_addresses={HOST}",  # default 'localhost' adds ::1
        )
        self.executor.start()
        self.executor.wait_for_postgres()
        self.tracker.track("peer postgres", self.postmaster_pid())
        self.janitor = DatabaseJanitor(
            user=self.executor.user,
            host=self.executor.host,
            port=self.executor.port,
            dbname=self.executor.template_dbname,
            maintenance_dbname=self.executor.maintenance_dbname,
            as_template=True,
            password=self.executor.password,
        )
        self.janitor.init()
        now = time.perf_counter()
        self.parts["server"], t = now - t, now
        for label, element in load:
            self.janitor.load(element)
            now = time.perf_counter()
            self.parts[label], t = now - t, now

    @property
    def port(self) -> int:
        assert self.executor is not None
        return int(self.executor.port)

    def dsn(self, dbname: str) -> str:
        return f"host={HOST} port={self.port} user={PG_USER} dbname={dbname}"

    def postmaster_pid(self) -> int | None:
        assert self.executor is not None
        try:
            return int((Path(self.executor.datadir) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.executor is None:
            return
        executor, janitor, self.executor, self.janitor = self.executor, self.janitor, None, None
        try:
            if janitor is not None:
                janitor.drop()
        finally:  # postgresql_proc's _cleanup_executor_resources
            try:
                executor.stop()
            finally:
                executor.clean_directory()
                Path(executor.logfile).unlink(missing_ok=True)

    def remove_dirs(self) -> None:
        """pytest keeps its basetemp; the benchmark removes it (untimed)."""
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()


# -- the seeded project both sides load ----------------------------------------------------------
SCHEMA_SQL = """\
CREATE TABLE customers (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE products (
    id bigint PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    title text NOT NULL,
    description text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0)
);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_status_created_idx ON orders (status, created_at);
CREATE TABLE order_items (
    id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    product_id bigint NOT NULL REFERENCES products (id),
    quantity integer NOT NULL,
    price_cents integer NOT NULL
);
CREATE INDEX order_items_order_idx ON order_items (order_id);
CREATE INDEX order_items_product_idx ON order_items (product_id);
"""

MIGRATE_PY = """\
\"\"\"Apply migrations/*.sql in order (the migrate job; the peer loads the same file).\"\"\"
import os
import pathlib

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    for path in sorted(pathlib.Path(__file__).parent.joinpath("migrations").glob("*.sql")):
        conn.execute(path.read_text())
"""

# Rows per table; the seed is deterministic, so both sides hold identical data.
ROWS = {"customers": 3000, "products": 600, "orders": 9000, "order_items": 27000}

SEED_PY = """\
\"\"\"The seed, as a project's seed.py would write it: deterministic rows, one transaction.

Run as a job (``python seed.py`` with DATABASE_URL and SEED_METHOD), or imported by the peer,
whose pytest-postgresql loader calls ``load(host=, port=, user=, dbname=, password=)``.
SEED_METHOD is "copy" (COPY ... FROM STDIN) or "executemany" (INSERTs, pipelined by psycopg).
\"\"\"
import datetime
import os
import random

import psycopg

ROWS = {rows!r}
STATUSES = ("paid", "shipped", "delivered", "cancelled", "refunded")
WORDS = "red blue green small large steel wooden soft quick bright classic modern".split()


def rows():
    rnd = random.Random(42)
    epoch = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    yield "customers", ("id", "email", "name", "created_at"), [
        (i, f"customer{{i}}@example.com", f"Customer {{i}}", epoch + datetime.timedelta(hours=i))
        for i in range(1, ROWS["customers"] + 1)
    ]
    prices = {{i: rnd.randint(100, 50_000) for i in range(1, ROWS["products"] + 1)}}
    yield "products", ("id", "sku", "title", "description", "price_cents"), [
        (
            i,
            f"SKU-{{i:06d}}",
            " ".join(rnd.choices(WORDS, k=3)).title(),
            " ".join(rnd.choices(WORDS, k=24)),
            prices[i],
        )
        for i in range(1, ROWS["products"] + 1)
    ]
    yield "orders", ("id", "customer_id", "status", "created_at"), [
        (
            i,
            rnd.randint(1, ROWS["customers"]),
            rnd.choice(STATUSES),
            epoch + datetime.timedelta(minutes=7 * i),
        )
        for i in range(1, ROWS["orders"] + 1)
    ]
    items = []
    for i in range(1, ROWS["order_items"] + 1):
        product = rnd.randint(1, ROWS["products"])
        order = (i - 1) * ROWS["orders"] // ROWS["order_items"] + 1
        items.append((i, order, product, rnd.randint(1, 4), prices[product]))
    yield "order_items", ("id", "order_id", "product_id", "quantity", "price_cents"), items


def seed(conn, method):
    with conn.cursor() as cur:
        for table, columns, data in rows():
            names = ", ".join(columns)
            if method == "copy":
                with cur.copy(f"COPY {{table}} ({{names}}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cur.executemany(f"INSERT INTO {{table}} ({{names}}) VALUES ({{marks}})", data)
        cur.execute("ANALYZE")
    conn.commit()


def load(host, port, user, dbname, password=None, **kwargs):
    \"\"\"pytest-postgresql's loader signature.\"\"\"
    with psycopg.connect(host=host, port=port, user=user, dbname=dbname, password=password) as conn:
        seed(conn, os.environ.get("SEED_METHOD", "copy"))


if __name__ == "__main__":
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        seed(conn, os.environ.get("SEED_METHOD", "copy"))
"""

STACK_TOML = """\
[stack]
name = "{name}"

[services.db]
kind = "postgres"
version = "{pg_major}"
databases = ["app"]

[services.migrate]
kind = "job"
command = [{python}, "migrate.py"]
env = {{ DATABASE_URL = "${{db.url}}" }}
depends_on = {{ db = "ready" }}
snapshot = {{ inputs = ["migrations/**", "migrate.py"] }}

[services.seed]
kind = "job"
command = [{python}, "seed.py"]
env = {{ DATABASE_URL = "${{db.url}}", SEED_METHOD = "{seed_method}" }}
depends_on = {{ migrate = "completed" }}
snapshot = {{ inputs = ["seed.py"] }}
"""


@dataclass
class Project:
    """The seeded project on disk: stack file, migration, migrate job, seed script."""

    dir: Path
    stack_file: Path
    schema: Path
    seed_method: str

    def seed_module(self) -> ModuleType:
        """seed.py imported in this process, for the peer's loader (as ``load=`` would)."""
        spec = importlib.util.spec_from_file_location("bench_seed", self.dir / "seed.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def peer_load(self) -> list[tuple[str, Loader]]:
        """The peer's ``load=``: the migration as an SQL file, then the seed callable."""
        seed = self.seed_module()

        def load_seed(**kwargs: Any) -> None:
            # SEED_METHOD is read from the environment by the job; pass it the same way
            with _env("SEED_METHOD", self.seed_method):
                seed.load(**kwargs)

        return [("migrate", self.schema), ("seed", load_seed)]


@contextlib.contextmanager
def _env(name: str, value: str) -> Any:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def write_project(where: Path, name: str, pg_major: str, seed_method: str) -> Project:
    where.mkdir(mode=0o755, parents=True)
    (where / "migrations").mkdir(mode=0o755)
    schema = where / "migrations" / "001_schema.sql"
    schema.write_text(SCHEMA_SQL)
    (where / "migrate.py").write_text(MIGRATE_PY)
    (where / "seed.py").write_text(SEED_PY.format(rows=ROWS))
    stack_file = where / "tempstack.toml"
    stack_file.write_text(
        STACK_TOML.format(
            name=name,
            pg_major=pg_major,
            python=_toml_str(sys.executable),
            seed_method=seed_method,
        )
    )
    return Project(where, stack_file, schema, seed_method)


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def count_rows(dsn: str) -> dict[str, int]:
    """Rows per seeded table (checks, untimed, that a side holds the whole seed)."""
    found: dict[str, int] = {}
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        for table in ROWS:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            found[table] = int(row[0]) if row else -1
    return found


def database_size(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0
