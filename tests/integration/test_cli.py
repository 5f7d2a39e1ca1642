"""The CLI commands end to end: check, up --detach, ps, env, logs, down, run, gc."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from .helpers import assert_gone, basic_stack, cli, kill, states


def test_check_prints_the_graph_and_starts_nothing(write_stack) -> None:  # type: ignore[no-untyped-def]
    done = cli("check", "-f", str(write_stack(basic_stack())))
    assert done.returncode == 0, done.stderr
    assert "web" in done.stdout and "after: db ready, cache ready" in done.stdout
    assert "exports: database, host, password, port, template, url, user" in done.stdout
    assert states() == []


def test_pyproject_tool_table_is_used(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.tempstack.stack]\nname = "pp"\n\n'
        '[tool.tempstack.services.cache]\nkind = "redis"\n'
    )
    done = cli("check", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pp" in done.stdout and "cache" in done.stdout


def test_detach_ps_env_logs_down(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(basic_stack("detached"))
    done = cli("up", "-f", str(path), "--detach")
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    assert run_id.startswith("detached-")
    (state,) = [s for s in states() if s["run_id"] == run_id]
    assert state["status"] == "ready"

    listing = json.loads(cli("ps", "--json").stdout)
    (row,) = [r for r in listing if r["id"] == run_id]
    assert row["status"] == "ready" and row["supervisor_pid"]
    assert set(row["services"]) == {"db", "cache", "web"}
    assert all(s["pid"] and s["port"] for s in row["services"].values())

    # env: defaults to the only live run of the stack file
    as_json = json.loads(cli("env", "-f", str(path), "--format", "json").stdout)
    assert as_json["TEMPSTACK_RUN_ID"] == run_id
    with psycopg.connect(as_json["DB_URL"]) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    shell = cli("env", run_id).stdout
    assert f"export TEMPSTACK_RUN_ID={run_id}" in shell
    dotenv = cli("env", run_id, "--format", "dotenv").stdout
    assert f"DB_PORT={as_json['DB_PORT']}" in dotenv
    sourced = subprocess.run(
        ["bash", "-c", f"{shell}\necho $DB_URL"], capture_output=True, text=True
    )
    assert sourced.stdout.strip() == as_json["DB_URL"]

    logs = cli("logs", run_id, "db", "--tail", "50")
    assert logs.returncode == 0 and "database system is ready" in logs.stdout
    all_logs = cli("logs", run_id)
    assert "db | " in all_logs.stdout

    follow_log = tmp_path / "follow.log"
    with follow_log.open("wb") as fh:
        follower = subprocess.Popen(
            [sys.executable, "-m", "tempstack.cli", "logs", run_id, "web", "-f"],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    import httpx

    httpx.get(as_json["WEB_URL"] + "/followed-path")
    deadline = time.monotonic() + 20
    while b"followed-path" not in follow_log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"followed-path" in follow_log.read_bytes()

    stopped = cli("down", run_id)
    assert stopped.returncode == 0, stopped.stderr
    assert_gone(state)
    assert follower.wait(timeout=10) == 0  # `logs -f` ends when the run is gone


def test_detached_ttl_expires(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "ttl"
[services.cache]
kind = "redis"
""")
    done = cli("up", "-f", str(path), "--detach", "--ttl", "1s")
    assert done.returncode == 0, done.stderr
    (state,) = states()
    assert state["expires"]
    assert_gone(state, within=10)


def test_eight_stacks_at_once_all_ready_no_port_shared(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(basic_stack("many"))
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: cli("up", "-f", str(path), "-d", "--timeout", "3m"), range(8))
        )
    try:
        for r in results:
            assert r.returncode == 0, r.stderr
        live = [s for s in states() if s["status"] == "ready"]
        assert len(live) == 8
        ports = [p for s in live for p in s["ports"].values() if p]
        # db, cache, web and the recording proxy in front of web, in each of 8 runs
        assert len(ports) == 32 and len(set(ports)) == 32
        dirs = {s["run_dir"] for s in live}
        assert len(dirs) == 8
    finally:
        down = cli("down", "--all")
    assert down.returncode == 0, down.stderr
    for s in live:
        assert_gone(s)


def test_run_passes_stages_with_exports(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        basic_stack("stages")
        + """
[stages.smoke]
run = "test -n \\"$DB_URL\\" && test -n \\"$TEMPSTACK_RUN_ID\\" && echo url=$WEB_URL"
[stages.second]
run = ["python3", "-c", "import os; print('db', os.environ['DB_DATABASE'])"]
env = { EXTRA = "${db.port}" }
"""
    )
    done = cli("run", "-f", str(path), "--report-dir", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr
    assert "url=http://127.0.0.1:" in done.stdout and "db app" in done.stdout
    journal = json.loads((tmp_path / "rep" / "journal.json").read_text())
    assert [o["stage"] for o in journal["stages"]] == ["smoke", "second"]
    assert all(o["status"] == "passed" for o in journal["stages"])
    assert journal["result"]["exit_code"] == 0
    kinds = [e["kind"] for e in journal["events"]]
    assert kinds.index("run.ready") < kinds.index("stage.start") < kinds.index("run.stopped")


def test_failing_stage_exits_1_and_writes_bundle(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        basic_stack("failing")
        + """
[stages.ok]
run = "true"
[stages.bad]
run = "echo 'assert 2 == 3' >&2; exit 9"
"""
    )
    done = cli("run", "-f", str(path), "--report-dir", str(tmp_path / "rep"))
    assert done.returncode == 1, done.stderr
    bundle = json.loads((tmp_path / "rep" / "failure" / "bundle.json").read_text())
    assert "bad" in bundle["error"]
    # secrets are masked in the bundle
    assert "***" in bundle["env"]["DB_PASSWORD"] and "***" in bundle["env"]["DB_URL"]
    assert (tmp_path / "rep" / "failure" / "logs" / "db.log").read_text()
    assert "assert 2 == 3" in (tmp_path / "rep" / "stages" / "bad" / "output.log").read_text()


def test_stage_timeout_exits_4(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "stagetimeout"
[services.cache]
kind = "redis"
[stages.hang]
run = "sleep 600"
timeout = "1s"
""")
    done = cli("run", "-f", str(path))
    assert done.returncode == 4, done.stderr


def test_keep_on_failure_keeps_then_down_and_gc(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(basic_stack("kept") + '\n[stages.bad]\nrun = "exit 1"\n')
    done = cli("run", "-f", str(path), "--keep-on-failure")
    assert done.returncode == 1
    (state,) = states()
    assert state["status"] == "kept" and state["expires"]
    assert f"tempstack down {state['run_id']}" in done.stderr
    env = json.loads(cli("env", state["run_id"], "--format", "json").stdout)
    with psycopg.connect(env["DB_URL"]) as conn:  # still reachable after the runner exited
        assert conn.execute("select 1").fetchone() == (1,)
    assert "kept" in cli("ps").stdout
    assert "nothing to remove" in cli("gc").stderr  # not expired: gc leaves it
    assert cli("down", state["run_id"]).returncode == 0
    assert_gone(state)

    done = cli("run", "-f", str(path), "--keep-on-failure", "--ttl", "1h")
    (state,) = states()
    # simulate an expired kept run whose keeper died: gc must remove it
    kill(state["supervisor"]["pid"], signal.SIGKILL)
    state_file = Path(state["run_dir"]) / "state.json"
    data = json.loads(state_file.read_text())
    data["expires"] = "2000-01-01T00:00:00+00:00"
    state_file.write_text(json.dumps(data))
    dry = cli("gc", "--dry-run")
    assert "would remove" in dry.stderr and Path(state["run_dir"]).exists()
    assert cli("gc").returncode == 0
    assert_gone(state)


def test_gc_reaps_orphans_after_supervisor_and_reaper_die(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(basic_stack("orphan"))
    done = cli("up", "-f", str(path), "-d")
    assert done.returncode == 0, done.stderr
    (state,) = states()
    kill(state["reaper"]["pid"], signal.SIGKILL)
    kill(state["supervisor"]["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert "orphaned" in cli("ps").stdout
    gc = cli("gc")
    assert "orphaned" in gc.stderr
    assert_gone(state)


def test_missing_binary_names_the_package(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack('[stack]\nname = "nobin"\n[services.cache]\nkind = "redis"\n')
    done = cli("up", "-f", str(path), env={"PATH": "/nonexistent"})
    assert done.returncode == 3
    assert "apt-get install redis-server" in done.stderr
    assert states() == []


def test_unknown_run_is_a_usage_error() -> None:
    done = cli("down", "no-such-run")
    assert done.returncode == 2 and "no run 'no-such-run'" in done.stderr
    assert cli("env").returncode == 2


def test_readme_harness_down_from_a_shell_that_sourced_env(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack('[stack]\nname = "harness"\n[services.cache]\nkind = "redis"\n')
    script = f"""
set -e
RUN=$({sys.executable} -m tempstack.cli up --detach -f {path} | tail -n 1)
eval "$({sys.executable} -m tempstack.cli env "$RUN")"
test -n "$CACHE_URL"
{sys.executable} -m tempstack.cli down "$RUN"
echo harness-finished
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "harness-finished" in done.stdout


def test_stage_that_cannot_start_is_a_failed_stage_not_a_traceback(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        '[stack]\nname = "nostage"\n[services.cache]\nkind = "redis"\n'
        '[stages.tests]\nrun = ["pytest-not-installed-anywhere", "tests"]\n'
    )
    done = cli("run", "-f", str(path))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "error" in done.stderr


def test_gc_of_orphaned_data_dir_run_removes_the_data(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ts-gc-", dir="/tmp"))
    base.chmod(0o755)
    path = write_stack(basic_stack("gcdata"))
    done = cli("up", "-f", str(path), "-d", "--data-dir", str(base))
    assert done.returncode == 0, done.stderr
    (state,) = states()
    kill(state["reaper"]["pid"], signal.SIGKILL)
    kill(state["supervisor"]["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert cli("gc").returncode == 0
    assert_gone(state)
    assert list(base.iterdir()) == []
    shutil.rmtree(base)


def test_value_invalid_only_after_interpolation_is_a_spec_error(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        '[stack]\nname = "late"\n[services.cache]\nkind = "redis"\n'
        '[services.app]\ncommand = "${APP_CMD}"\n'
    )
    done = cli("up", "-f", str(path), env={"APP_CMD": ""})
    assert done.returncode == 2, done.stderr
    assert "services.app.command" in done.stderr and "after interpolation" in done.stderr
    assert "Traceback" not in done.stderr
