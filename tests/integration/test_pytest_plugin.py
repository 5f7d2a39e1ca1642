"""The pytest plugin for real: pytest in a subprocess loads it through its entry point.

Each scenario writes a small project (a stack file, a seed job, test modules) into
``pytester``'s directory and runs pytest there against real PostgreSQL, Redis, an
http-mock, a mail catcher and a process; the autouse leak check of this package then
proves nothing of the run is left.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.integration.helpers import cli, states, tagged

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

STACK = f"""
[stack]
name = "plug"

[services.db]
kind = "postgres"
databases = ["app"]

[services.seed]
kind = "job"
command = ["{sys.executable}", "seed.py"]
env = {{ DATABASE_URL = "${{db.url}}" }}
depends_on = {{ db = "ready" }}

[services.cache]
kind = "redis"

[services.api]
kind = "http-mock"
routes = [{{ path = "/user", response = {{ json = {{ login = "octo" }} }} }}]

[services.mail]
kind = "mail"

[services.web]
command = ["{sys.executable}", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}
"""

SEED = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("CREATE TABLE items (name text)")
    conn.execute("INSERT INTO items VALUES ('seeded')")
"""

# What each inner test saw, one JSON line per fact, so the outer test can compare them.
CONFTEST = """
import json, os
from pathlib import Path

import pytest


@pytest.fixture
def note(request):
    def write(**facts):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        line = json.dumps({"test": request.node.name, "worker": worker, **facts})
        with Path(os.environ["PLUGIN_NOTES"]).open("a") as fh:
            fh.write(line + "\\n")
    return write
"""

SESSION_TESTS = """
import os, smtplib
from email.message import EmailMessage

import httpx, psycopg, pytest, redis

from tempstack.testing import assert_eventually, wait_for_http


def names(url):
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM items ORDER BY name")]



def test_run_env_and_services(tempstack_run, stack_env, note):
    assert os.environ["TEMPSTACK_RUN_ID"] == tempstack_run.id == stack_env["TEMPSTACK_RUN_ID"]
    assert os.environ["WEB_URL"] == tempstack_run.url("web") == stack_env["WEB_URL"]
    assert tempstack_run.services["db"].kind == "postgres"
    assert tempstack_run.services["cache"].port == int(stack_env["CACHE_PORT"])
    assert wait_for_http(tempstack_run.url("web")).status_code == 200
    note(run=tempstack_run.id, run_dir=str(tempstack_run.dir))


def test_write_in_a_fresh_db(fresh_db, note):
    assert names(fresh_db) == ["seeded"]
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO items VALUES ('written')")
    assert names(fresh_db) == ["seeded", "written"]
    note(db=fresh_db)


def test_the_next_fresh_db_is_clean(fresh_db, note):
    assert names(fresh_db) == ["seeded"]
    note(db=fresh_db)


def test_the_app_database_is_untouched(stack_env):
    assert names(stack_env["DB_URL"]) == ["seeded"]


def test_redis_write(fresh_redis):
    redis.Redis.from_url(fresh_redis).set("k", "v")


def test_redis_is_flushed_before_each_test(fresh_redis, note):
    assert redis.Redis.from_url(fresh_redis).get("k") is None
    note(redis=fresh_redis)


def test_mock_client(tempstack_run):
    mock = tempstack_run.mock("api")
    assert httpx.get(tempstack_run.url("api") + "/user").json() == {"login": "octo"}
    mock.assert_called_once("GET", "/user")


def test_mail_client(tempstack_run, stack_env):
    mail = tempstack_run.mail("mail")
    mail.clear()
    msg = EmailMessage()
    msg["From"], msg["To"] = "shop@example.com", "ann@example.com"
    msg["Subject"] = "Order 7 shipped"
    msg.set_content("tracking: XYZ\\n")
    host, port = stack_env["MAIL_SMTP_HOST"], int(stack_env["MAIL_SMTP_PORT"])
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(msg)
    got = mail.wait_for(to="ANN@example.com", subject="order 7")
    assert got.subject == "Order 7 shipped" and "tracking: XYZ" in got.text
    assert [m.subject for m in mail.messages()] == ["Order 7 shipped"]
    with pytest.raises(AssertionError, match="no message to bob@example.com within 0.1s; "
                       "the mailbox holds 1:\\n  'Order 7 shipped' from shop@example.com"):
        mail.wait_for(to="bob@example.com", timeout=0.1)
    mail.clear()
    assert mail.messages() == []


def test_many_queries_and_requests(fresh_db, tempstack_run):
    with psycopg.connect(fresh_db) as conn:
        for n in range(12):
            conn.execute("SELECT name FROM items WHERE name = %s", (f"n{n}",))
    for _ in range(3):
        assert httpx.get(tempstack_run.url("web")).status_code == 200


def test_that_fails():
    def check():
        assert 1 == 2, "one is not two"

    assert_eventually(check, timeout=0.01)
"""


def _project(pytester: pytest.Pytester, stack: str = STACK, **tests: str) -> Path:
    pytester.path.joinpath("tempstack.toml").write_text(stack)
    pytester.path.joinpath("seed.py").write_text(SEED)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(**tests)
    notes = pytester.path / "notes.jsonl"
    notes.touch()
    return notes


def _notes(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _no_run_left() -> None:
    """Checked as soon as pytest has exited: its own teardown did the work, not a reaper."""
    assert states() == []
    assert tagged() == []


def test_session_brings_the_stack_up_once_and_down_after_a_failing_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = _project(pytester, test_session=SESSION_TESTS)
    monkeypatch.setenv("PLUGIN_NOTES", str(notes))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--tempstack", "-p", "no:cacheprovider", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=9, failed=1)
    assert result.ret == 1
    _no_run_left()
    facts = _notes(notes)
    run = next(f for f in facts if "run" in f)
    result.stdout.fnmatch_lines([f"tempstack: run {run['run']} ready in *s (db, *); journal: *"])
    first, second = (f for f in facts if "db" in f)
    assert first["db"] != second["db"]
    assert "_main_" in str(first["db"])  # the worker id is in the name
    redis_url = str(next(f for f in facts if "redis" in f)["redis"])
    assert re.match(r"redis://:[\w-]+@127\.0\.0\.1:\d+/0$", redis_url), redis_url
    xml = junit.read_text()
    assert '<property name="tempstack.queries" value="' in xml
    assert '<property name="tempstack.n_plus_one" value="12x SELECT name FROM items' in xml
    assert '<property name="tempstack.requests" value="3" />' in xml


ATTACH_TESTS = """
import os


def test_attached(tempstack_run, fresh_db, note):
    assert tempstack_run.id == os.environ["EXPECTED_RUN"]
    assert tempstack_run.services["web"].kind == "process"
    note(run=tempstack_run.id, db=fresh_db)
"""


def test_attach_to_a_running_run_leaves_it_running(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = _project(pytester, test_attach=ATTACH_TESTS)
    monkeypatch.setenv("PLUGIN_NOTES", str(notes))
    up = cli("up", "-f", str(pytester.path / "tempstack.toml"), "--detach", cwd=pytester.path)
    assert up.returncode == 0, up.stderr
    run_id = up.stdout.strip().splitlines()[-1]
    try:
        monkeypatch.setenv("EXPECTED_RUN", run_id)
        result = pytester.runpytest_subprocess("--tempstack-run", run_id, "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"tempstack: attached to run {run_id}"])
        (state,) = states()
        assert state["run_id"] == run_id and state["status"] == "ready"
        assert tagged(run_id)  # its processes still run

        # as inside a stage of that run, with measuring that cannot work: tests still pass
        pytester.path.joinpath("pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
        broken = pytester.path / "broken-profile.json"
        broken.write_text(
            json.dumps(
                {
                    "records": str(pytester.path),  # a directory: reading it fails
                    "postgres": {"db": "postgresql://nobody@127.0.0.1:1/none"},
                    "n_plus_one": 5,
                }
            )
        )
        monkeypatch.setenv("TEMPSTACK_RUN_ID", run_id)
        monkeypatch.setenv("TEMPSTACK_RUN_DIR", state["run_dir"])
        monkeypatch.setenv("TEMPSTACK_PROFILE", str(broken))
        staged = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
        staged.assert_outcomes(passed=1, warnings=2)
        staged.stdout.fnmatch_lines(
            [
                "*tempstack: per-test query counts are off: OperationalError*",
                "*tempstack: per-test request figures are off: IsADirectoryError*",
            ]
        )
        assert [s["status"] for s in states()] == ["ready"]
        with psycopg.connect(state["exports"]["db"]["url"]) as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        # every database made for a test, or ahead for the next one, is gone
        assert names == {"postgres", "template0", "template1", "app", "app_template"}
    finally:
        down = cli("down", run_id)
    assert down.returncode == 0, down.stderr


def test_inside_a_stage_the_fixtures_attach_and_measure(pytester: pytest.Pytester) -> None:
    stack = STACK + '\n[stages.api]\nkind = "pytest"\nargs = ["test_stage.py"]\n'
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    _project(
        pytester,
        stack,
        test_stage="""
import os, psycopg, httpx


def test_in_stage(tempstack_run, fresh_db):
    assert tempstack_run.id == os.environ["TEMPSTACK_RUN_ID"]
    with psycopg.connect(fresh_db) as conn:
        for n in range(11):
            conn.execute("SELECT name FROM items WHERE name = %s", (str(n),))
    httpx.get(tempstack_run.url("web"))
""",
    )
    done = cli("run", "-f", str(pytester.path / "tempstack.toml"), "--no-history")
    assert done.returncode == 0, done.stdout + done.stderr
    _no_run_left()
    (junit,) = pytester.path.glob(".tempstack/reports/*/stages/api/junit.xml")
    xml = junit.read_text()
    assert '<property name="tempstack.n_plus_one" value="11x SELECT name FROM items' in xml
    assert '<property name="tempstack.requests" value="1" />' in xml
    journal = json.loads((junit.parents[2] / "journal.json").read_text())
    (test,) = journal["stages"][0]["tests"]
    assert test["profile"]["requests"] == 1 and test["profile"]["queries"] >= 11
    assert test["profile"]["n_plus_one"][0].startswith("11x SELECT name FROM items")


SMALL = """
[stack]
name = "small"

[services.db]
kind = "postgres"
databases = ["app"]

[services.cache]
kind = "redis"
"""

XDIST_TESTS = """
import pytest, psycopg, redis


@pytest.mark.parametrize("n", range(8))
def test_on_a_worker(n, tempstack_run, fresh_db, fresh_redis, note):
    with psycopg.connect(fresh_db) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute("CREATE TABLE mine (n int)")  # fails if another test had this database
    client = redis.Redis.from_url(fresh_redis)
    client.set("key", n)
    client.close()
    note(run=tempstack_run.id, db=name, redis=fresh_redis)
"""


def test_xdist_workers_share_one_stack_but_never_a_database(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = _project(pytester, SMALL, test_xdist=XDIST_TESTS)
    monkeypatch.setenv("PLUGIN_NOTES", str(notes))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "-n", "2", "--tempstack", "-p", "no:cacheprovider", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=8)
    _no_run_left()
    # two workers on one stack would blame each other's statements on a test: no figures
    assert "tempstack.queries" not in junit.read_text()
    result.stdout.fnmatch_lines(["*per-test SQL and HTTP figures are off*share one stack*"])
    facts = _notes(notes)
    assert len({f["run"] for f in facts}) == 1  # one stack, started by the controller
    assert {f["worker"] for f in facts} == {"gw0", "gw1"}
    assert len({f["db"] for f in facts}) == 8
    for fact in facts:
        assert f"_{fact['worker']}_" in str(fact["db"])
    redis_db = {f["worker"]: str(f["redis"]).rsplit("/", 1)[1] for f in facts}
    assert redis_db == {"gw0": "0", "gw1": "1"}


def test_per_worker_stacks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    notes = _project(pytester, SMALL, test_xdist=XDIST_TESTS)
    monkeypatch.setenv("PLUGIN_NOTES", str(notes))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--tempstack",
        "--tempstack-per-worker",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
    )
    result.assert_outcomes(passed=8)
    _no_run_left()
    # a stack each: every test measured alone, the same statements in every test
    counts = re.findall(r'<property name="tempstack.queries" value="(\d+)" />', junit.read_text())
    assert len(counts) == 8 and len(set(counts)) == 1, counts
    facts = _notes(notes)
    runs = {f["worker"]: f["run"] for f in facts}
    assert len(runs) == 2 and len(set(runs.values())) == 2  # each worker its own stack
    assert {str(f["redis"]).rsplit("/", 1)[1] for f in facts} == {"0"}


@pytest.mark.parametrize(
    "args",
    [[], ["-n", "2", "--tempstack-per-worker"]],
    ids=["session", "per-worker"],
)
def test_a_stack_that_cannot_start_ends_the_session_with_exit_3(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    stack = (
        SMALL
        + f"""
[services.web]
command = ["{sys.executable}", "-c", "import sys; sys.exit(7)"]
ready = {{ http = "/" }}
"""
    )
    _project(pytester, stack, test_never="def test_never():\n    raise AssertionError\n")
    result = pytester.runpytest_subprocess("--tempstack", *args, "-p", "no:cacheprovider")
    assert result.ret == 3
    reason = "tempstack: small: the stack failed to start: web exited with code 7 *"
    if args:  # the worker's test says why, once; the session stops
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([reason, f"! xdist.dsession.Interrupted: {reason}"])
    else:
        result.stderr.fnmatch_lines([f"Exit: {reason}"])
        assert "test_never" not in result.stdout.str()
    _no_run_left()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tempstack", "--tempstack-run", "x"], "*--tempstack and --tempstack-run exclude*"),
        (["--tempstack-per-worker"], "*--tempstack-per-worker needs --tempstack*"),
        (["--tempstack=missing.toml"], "*--tempstack: missing.toml: no such stack file*"),
        (["--tempstack", "."], "*--tempstack: . is a directory, not a stack file*"),
        (["--tempstack-run", "nope"], "*--tempstack-run: no run 'nope'*"),
        (["--tempstack=bad.toml"], "*--tempstack: bad.toml: services.db.kind: *"),
    ],
)
def test_usage_errors_are_one_line_and_start_nothing(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    _project(pytester, SMALL, test_never="def test_never():\n    raise AssertionError\n")
    bad = '[stack]\nname = "bad"\n[services.db]\nkind = "postgress"\n'
    pytester.path.joinpath("bad.toml").write_text(bad)
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    _no_run_left()


@pytest.mark.parametrize(
    "module",
    [
        "def test_interrupted(tempstack_run):\n    raise KeyboardInterrupt\n",
        "def test_broken(:\n",  # a collection error
    ],
    ids=["keyboard-interrupt", "collection-error"],
)
def test_interrupted_sessions_still_tear_down(pytester: pytest.Pytester, module: str) -> None:
    _project(pytester, SMALL, test_stop=module)
    result = pytester.runpytest_subprocess("--tempstack", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["tempstack: run small-* ready in *"])
    _no_run_left()


def test_sigterm_to_pytest_tears_the_stack_down(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "started"
    _project(
        pytester,
        SMALL,
        test_slow=f"""
import time
from pathlib import Path

def test_waits(tempstack_run):
    Path({str(marker)!r}).write_text(tempstack_run.id)
    time.sleep(120)
""",
    )
    log = pytester.path / "pytest.log"
    with log.open("wb") as out:
        proc = pytester.popen(
            [sys.executable, "-m", "pytest", "--tempstack", "-p", "no:cacheprovider"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), log.read_text()
        assert [s["status"] for s in states()] == ["ready"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    assert "SIGTERM" in log.read_text()
    _no_run_left()


def test_without_a_stack_the_fixtures_say_how_to_get_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_needs_a_stack(tempstack_run):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["tempstack: no stack in this session; run pytest with --tempstack *--tempstack-run ID*"]
    )
