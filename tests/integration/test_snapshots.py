"""Seeded snapshots for real: saved once, restored while the inputs are unchanged, rebuilt
when one changes, bypassed with --no-cache, listed and cleared with ``tempstack cache``."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import redis

import tempstack
from tempstack.engine.snapshot import list_cache

MIGRATE = """
import os, pathlib, psycopg
with open(os.environ["RUNS_LOG"], "a") as fh:
    fh.write("migrate\\n")
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    for path in sorted(pathlib.Path("migrations").glob("*.sql")):
        conn.execute(path.read_text())
"""

SEED = """
import os, psycopg, redis
with open(os.environ["RUNS_LOG"], "a") as fh:
    fh.write("seed\\n")
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO items (name) VALUES (%s)", [(f"item-{i}",) for i in range(500)]
        )
redis.Redis.from_url(os.environ["REDIS_URL"]).set("seeded", os.environ["TOKEN"])
"""

STACK = """
[stack]
name = "snap"

[services.db]
kind = "postgres"
databases = ["shop"]

[services.cache]
kind = "redis"

[services.migrate]
kind = "job"
command = ["{python}", "migrate.py"]
env = {{ DATABASE_URL = "${{db.url}}", RUNS_LOG = "{log}", TOKEN = "{token}" }}
depends_on = {{ db = "ready" }}
snapshot = {{ inputs = ["migrations/**", "migrate.py"] }}

[services.seed]
kind = "job"
command = ["{python}", "seed.py"]
depends_on = {{ migrate = "completed", cache = "ready" }}
snapshot = {{ inputs = ["seed.py"] }}

[services.seed.env]
DATABASE_URL = "${{db.url}}"
REDIS_URL = "${{cache.url}}"
RUNS_LOG = "{log}"
TOKEN = "{token}"

[services.app]
command = ["{python}", "-c", "import time; time.sleep(600)"]
depends_on = {{ db = "ready" }}
"""


def _project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001_items.sql").write_text(
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);"
    )
    (tmp_path / "migrate.py").write_text(MIGRATE)
    (tmp_path / "seed.py").write_text(SEED)
    log = tmp_path / "runs.log"
    token = secrets.token_hex(6)  # a key of our own: no other test shares these snapshots
    stack = tmp_path / "tempstack.toml"
    stack.write_text(STACK.format(python=sys.executable, log=log, token=token))
    return stack, log


def _check_data(run: tempstack.Run) -> tuple[int, bytes | None]:
    with psycopg.connect(run.env["DB_URL"]) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
        assert row is not None
        # the application's user owns what the jobs created, whatever its name this run
        conn.execute("INSERT INTO items (name) VALUES ('written by the app user')")
        templates = conn.execute(
            "SELECT datname FROM pg_database WHERE datistemplate AND datname = %s",
            (run.env["DB_TEMPLATE"],),
        ).fetchall()
        assert templates, "the seeded template database is missing"
    value = redis.Redis.from_url(run.env["CACHE_URL"]).get("seeded")
    return int(row[0]), value


def _states(run: tempstack.Run) -> dict[str, str | None]:
    engine = run._engine
    return {n: engine.status[n].snapshot for n in ("db", "cache", "migrate", "seed", "app")}


def test_snapshot_saved_restored_and_rebuilt(tmp_path: Path, tempstack_home: Path) -> None:
    path, log = _project(tmp_path)
    stack = tempstack.Stack.load(path)

    with stack.up() as run:  # cold: jobs run, the data is snapshotted
        assert _states(run) == {
            "db": "saved",
            "cache": "saved",
            "migrate": None,
            "seed": None,
            "app": None,
        }
        count, value = _check_data(run)
    assert count == 500 and value is not None
    assert log.read_text().split() == ["migrate", "seed"]

    with stack.up() as run:  # warm: restored, jobs skipped, a new user adopts the data
        assert _states(run) == {
            "db": "restored",
            "cache": "restored",
            "migrate": "restored",
            "seed": "restored",
            "app": None,
        }
        assert _check_data(run) == (500, value)  # not 501: the app's write was not kept
    assert log.read_text().split() == ["migrate", "seed"]

    (tmp_path / "migrations" / "002_price.sql").write_text(
        "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 1;"
    )
    stack = tempstack.Stack.load(path)
    with stack.up() as run:  # one input changed: rebuilt
        assert _states(run)["db"] == "saved"
        with psycopg.connect(run.env["DB_URL"]) as conn:
            assert conn.execute("SELECT sum(price) FROM items").fetchone() == (500,)
    assert log.read_text().split() == ["migrate", "seed"] * 2

    with stack.up(use_cache=False) as run:  # --no-cache: jobs run, nothing restored or saved
        assert set(_states(run).values()) == {None}
        assert _check_data(run)[0] == 500
    assert log.read_text().split() == ["migrate", "seed"] * 3


def test_cache_ls_and_clear(tmp_path: Path, tempstack_home: Path) -> None:
    path, _ = _project(tmp_path)
    with tempstack.Stack.load(path).up():
        pass
    cache = tempstack_home / "cache"
    keys = {e.name for e in list_cache(cache) if e.kind == "snapshot"}
    assert keys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tempstack.cli", "cache", *args],
            capture_output=True,
            text=True,
            check=True,
        )

    listed = json.loads(cli("ls", "--json").stdout)
    assert keys <= {row["name"] for row in listed if row["kind"] == "snapshot"}
    assert any(row["kind"] == "initdb" for row in listed)
    cleared = cli("clear", "--snapshots")
    assert "removed snapshot" in cleared.stderr
    assert not [e for e in list_cache(cache) if e.kind == "snapshot"]
    assert [e for e in list_cache(cache) if e.kind == "initdb"], "--snapshots keeps initdb"
