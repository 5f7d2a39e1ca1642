"""Teardown guarantees through the real CLI: signals, SIGKILL of the runner, timeouts."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .helpers import (
    SIGNALS,
    STUBBORN_STACK,
    assert_gone,
    basic_stack,
    cli,
    kill,
    spawn_cli,
    tagged,
    wait_for_status,
)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_foreground_up_is_torn_down_on_signal(write_stack, tmp_path: Path, sig: str) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(basic_stack(f"sig{sig.lower()}"))
    proc = spawn_cli("up", "-f", str(path), log=tmp_path / "up.log")
    (state,) = wait_for_status("ready")
    # every service is a live process group of its own, tagged with the run id
    assert all(s.get("pid") for s in state["services"].values())
    kill(proc.pid, SIGNALS[sig])
    code = proc.wait(timeout=30)
    if sig != "SIGKILL":
        assert code == 0, (tmp_path / "up.log").read_text()  # stopping `up` is its normal end
    assert_gone(state, within=10)


def test_second_ctrl_c_forces_a_service_that_ignores_sigterm(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(STUBBORN_STACK + 'stop_timeout = "120s"\n')
    proc = spawn_cli("up", "-f", str(path), log=tmp_path / "up.log")
    (state,) = wait_for_status("ready")
    kill(proc.pid, signal.SIGINT)
    wait_for_status("stopping")
    time.sleep(0.3)
    kill(proc.pid, signal.SIGINT)  # the second Ctrl-C forces SIGKILL instead of waiting 120 s
    proc.wait(timeout=20)
    assert_gone(state, within=10)


def test_start_timeout_exits_4_and_cleans_up(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(f"""
[stack]
name = "slow"
[services.db]
kind = "redis"
[services.never]
command = ["{sys.executable}", "-c", "import time; time.sleep(600)"]
ready = {{ http = "/" }}
""")
    done = cli("up", "-f", str(path), "--timeout", "2s")
    assert done.returncode == 4, done.stderr
    assert "not ready within --timeout 2s" in done.stderr
    assert "never" in done.stderr


def test_start_failure_exits_3_with_log_tail_and_bundle(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack("""
[stack]
name = "broken"
[services.cache]
kind = "redis"
[services.app]
command = "echo 'listening soon'; echo 'Traceback: ImportError: no module named shop' >&2; exit 2"
depends_on = { cache = "ready" }
ready = { tcp = true }
""")
    done = cli("up", "-f", str(path), "--report-dir", str(tmp_path / "report"))
    assert done.returncode == 3, done.stderr
    assert "app exited with code 2" in done.stderr
    assert "ImportError: no module named shop" in done.stderr
    bundle = tmp_path / "report" / "failure"
    assert "ImportError" in (bundle / "logs" / "app.log").read_text()
    text = (bundle / "bundle.json").read_text()
    assert '"cache"' in text and '"ports"' in text and "probes" in text


def test_runner_sigkill_during_start_is_cleaned_by_reaper(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(f"""
[stack]
name = "midstart"
[services.db]
kind = "postgres"
[services.waiter]
command = ["{sys.executable}", "-c", "import time; time.sleep(600)"]
ready = {{ tcp = true, timeout = "10m" }}
""")
    proc = spawn_cli("up", "-f", str(path), log=tmp_path / "up.log")
    deadline = time.monotonic() + 60
    from .helpers import states

    while time.monotonic() < deadline:
        found = [s for s in states() if s.get("services", {}).get("waiter", {}).get("pid")]
        if found:
            break
        time.sleep(0.05)
    else:
        raise AssertionError((tmp_path / "up.log").read_text())
    kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert_gone(found[0], within=10)


def test_teardown_goes_in_reverse_dependency_order(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    order = tmp_path / "order.txt"

    def svc(name: str, after: str | None) -> str:
        dep = f'depends_on = {{ {after} = "ready" }}\n' if after else ""
        script = (
            f"trap 'echo {name} >> {order}; exit 0' TERM; echo up; while :; do sleep 0.05; done"
        )
        return f'[services.{name}]\ncommand = "{script}"\nready = {{ log = "^up$" }}\n{dep}'

    path = write_stack(
        '[stack]\nname = "order"\n'
        + svc("base", None)
        + svc("middle", "base")
        + svc("top", "middle")
        + svc("side", "base")
    )
    import tempstack

    with tempstack.Stack.load(path).up():
        pass
    stopped = order.read_text().split()
    assert set(stopped) == {"base", "middle", "top", "side"}
    assert stopped.index("top") < stopped.index("middle") < stopped.index("base")
    assert stopped.index("side") < stopped.index("base")


def test_sigterm_during_a_stage_stops_the_stage_and_the_stack(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "stage-started"
    path = write_stack(
        basic_stack("midstage")
        + f"""
[stages.long]
run = "touch {marker}; sleep 600"
"""
    )
    proc = spawn_cli("run", "-f", str(path), log=tmp_path / "run.log")
    (state,) = wait_for_status("ready")
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 130, (tmp_path / "run.log").read_text()
    assert_gone(state, within=10)
    assert tagged(state["run_id"]) == []  # the stage's `sleep` carried the run id too


def test_data_dir_holds_the_run_and_is_removed(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a long path (the socket goes to a short recorded dir) that the server user can reach
    base = Path(tempfile.mkdtemp(prefix="tempstack-datadir-", dir="/tmp"))
    base.chmod(0o755)
    data = base / ("deeply-nested-" * 4) / "data"
    path = write_stack(basic_stack("datadir"))
    proc = spawn_cli("up", "-f", str(path), "--data-dir", str(data), log=tmp_path / "up.log")
    (state,) = wait_for_status("ready")
    assert Path(state["run_dir"]).parent == data.resolve()
    assert (data / state["run_id"] / "db" / "data" / "PG_VERSION").exists()
    kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    assert_gone(state)
    assert list(data.iterdir()) == []
    assert all(not Path(d).exists() for d in state["dirs"])
    shutil.rmtree(base)


def test_unreachable_data_dir_is_a_clear_error_when_root(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    tmp_path.chmod(0o700)
    done = cli(
        "up", "-f", str(write_stack(basic_stack("private"))), "--data-dir", str(tmp_path / "d")
    )
    assert done.returncode == 3
    assert "not searchable by others" in done.stderr and "--data-dir" in done.stderr
