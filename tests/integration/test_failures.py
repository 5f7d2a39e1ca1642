"""Failures that must be seen: a service dying mid-run, unbounded waits, run id collisions.

Real processes through the real CLI (and the library where a value the spec refuses has to
be forced past it, to prove the engine's own bound).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tempstack._bounds import MAX_STOP_GRACE, MAX_WAIT, bounded
from tempstack.engine.runid import make_run_id

from .helpers import STUBBORN_STACK, assert_gone, cli, home, kill, spawn_cli, wait_for_status

DYING = """
[stack]
name = "{name}"

[services.setup]            # a job's exit is its purpose, never a death
kind = "job"
command = "echo seeded"

[services.flaky]
command = "echo up; sleep 2.5; echo 'flaky: lost my socket' >&2; exit 9"
ready = {{ log = "^up$" }}
depends_on = {{ setup = "completed" }}

[stages.long]
run = "sleep 6"

[stages.after]
run = "true"
"""


def test_a_service_dying_during_a_stage_fails_the_run_at_once(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(DYING.format(name="dies"))
    report = tmp_path / "report"
    started = time.monotonic()
    done = cli("run", "-f", str(path), "--report-dir", str(report), "--no-history")
    took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert took < 5.5, f"the 6 s stage ran to its end: {took:.1f}s"  # stopped, not awaited
    assert "service flaky exited with code 9 while the stack was up" in done.stderr
    assert "flaky: lost my socket" in done.stderr  # its log tail, in the terminal
    journal = json.loads((report / "journal.json").read_text())
    assert journal["result"]["exit_code"] == 3
    assert journal["result"]["status"] == "error"
    died = [e for e in journal["events"] if e["kind"] == "service.died"]
    assert [(e["service"], e["detail"]["returncode"]) for e in died] == [("flaky", 9)]
    (stage,) = journal["stages"]  # the next stage never ran
    assert stage["status"] == "error"
    assert "stopped: service flaky exited with code 9" in stage["reason"]
    services = {s["name"]: s for s in journal["services"]}
    assert services["flaky"]["state"] == "failed"
    assert services["setup"]["state"] != "failed"  # its exit 0 was expected
    bundle = report / "failure"
    assert "lost my socket" in (bundle / "logs" / "flaky.log").read_text()
    assert "flaky" in (bundle / "bundle.json").read_text()


def test_a_service_dying_under_foreground_up_is_reported_at_once(
    write_stack, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(DYING.format(name="updies"))
    log = tmp_path / "up.log"
    proc = spawn_cli("up", "-f", str(path), "--report-dir", str(tmp_path / "report"), log=log)
    (state,) = wait_for_status("ready")
    ready = time.monotonic()
    code = proc.wait(timeout=20)
    took = time.monotonic() - ready
    text = log.read_text()
    assert code == 3, text
    assert took < 4.0, f"the death was reported {took:.1f}s after ready"  # it dies at 2.5 s
    assert "service flaky exited with code 9 while the stack was up" in text
    assert "flaky: lost my socket" in text
    assert "Traceback" not in text
    assert (tmp_path / "report" / "failure" / "bundle.json").exists()
    assert_gone(state)


def test_every_wait_is_bounded() -> None:
    assert bounded(float("nan")) == MAX_WAIT
    assert bounded(float("inf")) == MAX_WAIT
    assert bounded(1e300) == MAX_WAIT
    assert bounded(None) == MAX_WAIT
    assert bounded(-1.0) == 0.0
    assert bounded(2.5) == 2.5
    assert bounded(float("inf"), MAX_STOP_GRACE) == MAX_STOP_GRACE == 600.0


FORCED = """
import sys, time
from tempstack import Stack
stack = Stack.load(sys.argv[1])
mule = stack.loaded.spec.services["mule"]
# past the spec's own refusal: the engine must bound this itself
object.__setattr__(mule, "stop_timeout", float(sys.argv[2]))
try:
    with stack.up() as run:
        print("READY", flush=True)
        while True:
            time.sleep(0.1)
except KeyboardInterrupt:
    print("STOPPED", flush=True)
"""


def _stubborn_up(
    write_stack, tmp_path: Path, stop_timeout: str
) -> tuple[subprocess.Popen[str], dict]:  # type: ignore[no-untyped-def,type-arg]
    path = write_stack(STUBBORN_STACK)
    script = tmp_path / "forced.py"
    script.write_text(FORCED)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), stop_timeout],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    (state,) = wait_for_status("ready")
    return proc, state


# nan/inf are refused by the spec, also after interpolation; the longest grace it allows
# (7 days) must still give way to a second Ctrl-C at once
@pytest.mark.parametrize("grace", ["604800", "86400"])
def test_second_ctrl_c_kills_a_service_with_an_unbounded_stop_timeout(
    write_stack, tmp_path: Path, grace: str
) -> None:  # type: ignore[no-untyped-def]
    proc, state = _stubborn_up(write_stack, tmp_path, grace)
    kill(proc.pid, signal.SIGINT)
    wait_for_status("stopping")
    time.sleep(0.5)
    assert proc.poll() is None  # the grace is running: SIGTERM was ignored
    forced = time.monotonic()
    kill(proc.pid, signal.SIGINT)  # the second Ctrl-C: SIGKILL at once
    proc.communicate(timeout=10)
    assert time.monotonic() - forced < 3.0
    assert_gone(state, within=5)


SMALL = """
[stack]
name = "{name}"
[services.web]
command = ["{python}", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}
"""


def test_run_ids_have_32_random_bits() -> None:
    ids = {make_run_id("s") for _ in range(200)}
    assert len(ids) == 200
    suffix = next(iter(ids)).rsplit("-", 1)[1]
    assert len(suffix) == 8 and int(suffix, 16) >= 0


def test_up_with_a_taken_run_id_is_a_one_line_error(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(SMALL.format(name="taken", python=sys.executable))
    first = spawn_cli("up", "-f", str(path), log=tmp_path / "first.log")
    try:
        (state,) = wait_for_status("ready")
        journal = Path(state["report_dir"]) / "journal.json"
        done = cli("up", "-f", str(path), "--run-id", state["run_id"], timeout=30)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"error: run id {state['run_id']} is already taken (a run directory of that name "
            "exists); choose another --run-id or leave it out"
        ]
        assert not journal.exists()  # the refused run wrote nothing into the first's reports
        assert wait_for_status("ready")[0]["run_id"] == state["run_id"]  # untouched
        detached = cli("up", "-f", str(path), "--detach", "--run-id", state["run_id"], timeout=30)
        assert detached.returncode == 2, detached.stdout + detached.stderr
        assert f"run id {state['run_id']} is already taken" in detached.stderr
        assert wait_for_status("ready")[0]["run_id"] == state["run_id"]
    finally:
        kill(first.pid, signal.SIGINT)
        first.wait(timeout=30)
    assert_gone(state)


COLLIDE = """
import sys
from tempstack.engine import runid
taken = sys.argv[1]
runid.make_run_id = lambda stack: taken  # a forced collision
from tempstack.cli import main
sys.argv = ["tempstack", *sys.argv[2:]]
main()
"""


def test_a_forced_collision_never_hands_out_the_other_runs_endpoints(
    write_stack, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(SMALL.format(name="collide", python=sys.executable))
    done = cli("up", "-f", str(path), "--detach", timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    (state,) = wait_for_status("ready")
    try:
        script = tmp_path / "collide.py"
        script.write_text(COLLIDE)
        second = subprocess.run(
            [sys.executable, str(script), run_id, "up", "-f", str(path), "--detach"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"run id {run_id} is already taken" in second.stderr
        assert str(state["services"]["web"]["port"]) not in second.stdout + second.stderr
        assert run_id not in second.stdout  # no run id to hand to `tempstack env`
    finally:
        assert cli("down", run_id).returncode == 0
    assert_gone(state)


def test_a_run_retries_with_a_new_id_when_its_id_is_taken(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(
        SMALL.format(name="retry", python=sys.executable) + '[stages.s]\nrun = "true"\n'
    )
    taken = "retry-20260101T000000-00000000"
    (home() / "runs").mkdir(parents=True, exist_ok=True)
    occupied = home() / "runs" / taken
    occupied.mkdir()
    ids = iter([taken])
    script = tmp_path / "retry.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        from tempstack.engine import runid
        real, first = runid.make_run_id, [True]
        def once(stack):
            if first:
                first.clear()
                return {taken!r}
            return real(stack)
        runid.make_run_id = once
        from tempstack import Stack
        result = Stack.load(sys.argv[1]).run(history=False, echo=False)
        print(result.run_id, result.exit_code)
    """)
    )
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ},
        )
        assert done.returncode == 0, done.stderr
        run_id, code = done.stdout.split()
        assert code == "0" and run_id != taken and run_id.startswith("retry-")
        assert occupied.is_dir() and not any(occupied.iterdir())  # never entered
    finally:
        occupied.rmdir()
    del ids


def test_up_detach_takes_the_run_id_it_is_given(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(SMALL.format(name="named", python=sys.executable))
    done = cli("up", "-f", str(path), "--detach", "--run-id", "named-by-me", timeout=60)
    assert done.returncode == 0, done.stderr
    (state,) = wait_for_status("ready")
    try:
        assert done.stdout.strip().splitlines()[-1] == "named-by-me" == state["run_id"]
    finally:
        assert cli("down", "named-by-me").returncode == 0
    assert_gone(state)
