"""The library API against real PostgreSQL, Redis and a process."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

import tempstack
from tempstack.errors import SpecErrors, StartError

from .helpers import assert_gone, basic_stack, port_free, states


def redis_ping(url_host: str, port: int, password: str | None = None) -> bytes:
    with socket.create_connection((url_host, port), timeout=2) as conn:
        if password is not None:
            pw = password.encode()
            conn.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw))
            assert conn.recv(16) == b"+OK\r\n"
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        return conn.recv(16)


def test_up_exports_real_services_and_cleans_up(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(basic_stack()))
    with stack.up() as run:
        env = run.env
        state = next(s for s in states() if s["run_id"] == run.id)
        assert state["status"] == "ready"
        with psycopg.connect(env["DB_URL"]) as conn:
            db, user = conn.execute("select current_database(), current_user").fetchone()  # type: ignore[misc]
            assert (db, user) == ("app", env["DB_USER"])
            names = {r[0] for r in conn.execute("select datname from pg_database")}
            assert {"app", "extra"} <= names
            # the server listens on loopback only
            addr = conn.execute("select inet_server_addr()::text").fetchone()[0]  # type: ignore[index]
            assert addr.startswith("127.0.0.1")
        # a random password per run: another local user's PING is refused
        assert redis_ping("127.0.0.1", int(env["CACHE_PORT"])).startswith(b"-NOAUTH")
        assert env["CACHE_PASSWORD"] and f":{env['CACHE_PASSWORD']}@" in env["CACHE_URL"]
        assert redis_ping("127.0.0.1", int(env["CACHE_PORT"]), env["CACHE_PASSWORD"]) == (
            b"+PONG\r\n"
        )
        # never on a command line, where ps shows it to every user
        pid = run.services["cache"].pid
        assert pid and env["CACHE_PASSWORD"] not in Path(f"/proc/{pid}/cmdline").read_text()
        assert httpx.get(run.url("web")).status_code == 200
        assert run.services["web"].pid is not None
        assert set(env) >= {
            "DB_URL",
            "DB_PORT",
            "DB_USER",
            "DB_PASSWORD",
            "DB_DATABASE",
            "CACHE_URL",
            "WEB_URL",
            "TEMPSTACK_RUN_ID",
            "TEMPSTACK_RUN_DIR",
        }
        assert Path(env["TEMPSTACK_RUN_DIR"]).is_dir()
        # the process got the interpolated env and PORT
        web_pid = run.services["web"].pid
        environ = Path(f"/proc/{web_pid}/environ").read_bytes().split(b"\0")
        assert f"DATABASE_URL={env['DB_URL']}".encode() in environ
        # it listens on its own port; WEB_PORT/WEB_URL lead through the recording proxy
        own = run.services["web"].port
        assert f"PORT={own}".encode() in environ
        assert env["WEB_PORT"] != str(own)
        assert env["WEB_DIRECT_URL"] == f"http://127.0.0.1:{own}"
        assert httpx.get(env["WEB_DIRECT_URL"]).status_code == 200
        assert f"TEMPSTACK_RUN_ID={run.id}".encode() in environ
    assert_gone(state)
    assert (run.report_dir / "journal.json").exists()


def test_exception_inside_block_tears_down(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(basic_stack()))
    with pytest.raises(RuntimeError), stack.up() as run:
        state = next(s for s in states() if s["run_id"] == run.id)
        raise RuntimeError("test failure")
    assert_gone(state)


def test_two_runs_of_one_stack_in_parallel_do_not_collide(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(basic_stack()))
    with stack.up() as a, stack.up() as b:
        assert a.id != b.id and a.dir != b.dir
        ports_a = {s.port for s in a.services.values()}
        ports_b = {s.port for s in b.services.values()}
        assert not ports_a & ports_b
        with psycopg.connect(a.env["DB_URL"]) as ca, psycopg.connect(b.env["DB_URL"]) as cb:
            ca.execute("create table only_in_a (x int)")
            ca.commit()
            assert cb.execute("select to_regclass('only_in_a')").fetchone() == (None,)
    for port in ports_a | ports_b:
        assert port is None or port_free(port)


def test_process_exit_while_waited_fails_at_once_with_code_and_log(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "crash"
[services.app]
command = "echo booting; echo 'fatal: no config' >&2; exit 7"
ready = { http = "/health", timeout = "120s" }
""")
    with pytest.raises(StartError) as info, tempstack.Stack.load(path).up():
        pass
    text = str(info.value)
    assert "app exited with code 7 while waiting for http GET" in text
    assert "fatal: no config" in text and "booting" in text
    assert info.value.returncode == 7


def test_failed_job_names_its_exit_code_and_dependents_never_start(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(f"""
[stack]
name = "jobfail"
[services.migrate]
kind = "job"
command = "echo migration 42 broke; exit 3"
[services.api]
command = ["{sys.executable}", "-c", "import time; time.sleep(60)"]
depends_on = {{ migrate = "completed" }}
""")
    with (
        pytest.raises(StartError, match="job migrate failed with exit code 3") as info,
        tempstack.Stack.load(path).up(),
    ):
        pass
    assert "migration 42 broke" in str(info.value)


def test_env_layers_env_file_and_escapes(
    write_stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FROM_CALLER", "caller-value")
    (tmp_path / "app.env").write_text("FROM_FILE=file\nOVERRIDE=file\n")
    out = tmp_path / "env.out"
    path = write_stack(f"""
[stack]
name = "envs"
[env]
SHARED = "shared"
OVERRIDE = "top"
[services.dump]
kind = "job"
env_file = "app.env"
env = {{ OVERRIDE = "own", PRICE = "$$5", CALLER = "${{FROM_CALLER}}", \
DEFAULTED = "${{NOPE_UNSET:-fallback}}" }}
command = "env > {out}"
""")
    with tempstack.Stack.load(path).up():
        pass
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert lines["SHARED"] == "shared"
    assert lines["FROM_FILE"] == "file"
    assert lines["OVERRIDE"] == "own"
    assert lines["PRICE"] == "$5"
    assert lines["CALLER"] == "caller-value"
    assert lines["DEFAULTED"] == "fallback"
    assert lines["TEMPSTACK_RUN_ID"].startswith("envs-")


def test_postgres_settings_user_password_and_version(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "pgset"
[services.db]
kind = "postgres"
user = "shop"
password = "s3cret-pw"
databases = ["orders"]
settings = { max_connections = 17, work_mem = "8MB" }
""")
    with tempstack.Stack.load(path).up() as run:
        assert (
            run.env["DB_URL"]
            == f"postgresql://shop:s3cret-pw@127.0.0.1:{run.env['DB_PORT']}/orders"
        )
        with psycopg.connect(run.env["DB_URL"]) as conn:
            assert conn.execute("show max_connections").fetchone() == ("17",)
            assert conn.execute("show work_mem").fetchone() == ("8MB",)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(run.env["DB_URL"].replace("s3cret-pw", "wrong")).close()


def test_postgres_version_mismatch_is_a_spec_error(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "pgver"
[services.db]
kind = "postgres"
version = "9"
""")
    with pytest.raises(SpecErrors, match=r"services.db.version: PostgreSQL 9 is not installed"):
        tempstack.Stack.load(path)


def test_passwords_with_url_characters_still_give_working_urls(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        '[stack]\nname = "pwchars"\n'
        '[services.db]\nkind = "postgres"\npassword = "p@ss#1/:x"\n'
        '[services.cache]\nkind = "redis"\npassword = "r@d#s"\n'
    )
    with tempstack.Stack.load(path).up() as run:
        with psycopg.connect(run.env["DB_URL"]) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert run.env["DB_PASSWORD"] == "p@ss#1/:x"
        assert "r%40d%23s" in run.env["CACHE_URL"]
