"""Stage kinds run for real through ``tempstack run``, and what each report shows of them.

pytest and Playwright stages run real tests (Playwright in Debian's Chromium), Locust puts
real load on a real server; each test then reads journal.json, junit.xml, summary.md,
report.html and the history database the run wrote.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from junitparser import JUnitXml

from tests.integration.helpers import cli, spawn_cli

pytestmark = __import__("pytest").mark.integration

WEB = f"""
[services.web]
command = ["{sys.executable}", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1",
           "--directory", "site"]
ready = {{ http = "/" }}
"""


def _stack(tmp_path: Path, name: str, body: str, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    stack = tmp_path / "tempstack.toml"
    stack.write_text(f'[stack]\nname = "{name}"\n' + body)
    return stack


def _journal(report: Path) -> dict[str, Any]:
    return json.loads((report / "journal.json").read_text())  # type: ignore[no-any-return]


PYTEST_FILES = {
    "tests/test_api.py": """
import os, urllib.request

def test_web_answers():
    assert urllib.request.urlopen(os.environ["WEB_URL"]).status == 200

def test_cache_is_exported():
    auth = ":" + os.environ["CACHE_PASSWORD"] + "@"
    assert os.environ["CACHE_URL"].startswith("redis://" + auth + "127.0.0.1:")

def test_deliberately_failing():
    print("looking for the widget in the response")
    assert "widget" == "gadget", "the widget went missing"
""",
    "site/index.html": "<h1>Hello</h1>",
}


def test_failing_test_shows_in_every_report_with_exit_1(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "pyt",
        WEB + '[services.cache]\nkind = "redis"\n'
        '[stages.api]\nkind = "pytest"\nargs = ["tests", "-q"]\n',
        PYTEST_FILES,
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--report-dir", str(report))
    assert done.returncode == 1, done.stderr
    assert f"report: {report / 'report.html'}" in done.stderr

    journal = _journal(report)
    (stage,) = journal["stages"]
    assert stage["kind"] == "pytest" and stage["status"] == "failed"
    assert stage["counts"] == {"tests": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0}
    failing = [t for t in stage["tests"] if t["status"] == "failed"]
    assert [t["id"] for t in failing] == ["tests.test_api::test_deliberately_failing"]
    assert "the widget went missing" in failing[0]["message"]
    assert any("looking for the widget" in line for line in stage["tail"])
    assert (report / stage["log"]).is_file()
    services = {s["name"]: s for s in journal["services"]}
    assert set(services) == {"web", "cache"}
    assert {"started", "listening", "ready", "stopped"} <= set(services["cache"]["timings"])
    assert services["cache"]["log_tail"] and (report / services["cache"]["log"]).is_file()
    assert journal["result"] == {
        "exit_code": 1,
        "status": "failed",
        "error": None,
        "kept_until": None,
    }

    xml = JUnitXml.fromfile(str(report / "junit.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (3, 1, 0)
    assert xml.tests == stage["counts"]["tests"]
    junit_text = (report / "junit.xml").read_text()
    assert "the widget went missing" in junit_text and "looking for the widget" in junit_text

    summary = (report / "summary.md").read_text()
    assert (
        "failed (exit 1)" in summary
        and "| api | pytest | ❌ failed | 2 passed, 1 failed" in summary
    )
    assert "the widget went missing" in summary and "looking for the widget" in summary

    html = (report / "report.html").read_text()
    for needle in (
        'id="stage-api"',
        'id="service-web"',
        'id="service-cache"',
        "the widget went missing",
        "looking for the widget",
    ):
        assert needle in html, needle

    history = cli("history", "-f", str(stack))
    assert history.returncode == 0, history.stderr
    assert "test_deliberately_failing" in history.stdout and "100%" in history.stdout
    assert journal["run_id"] in history.stdout


def test_repeat_reports_flakiness(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "flaky",
        '[stages.api]\nkind = "pytest"\nargs = ["tests", "-q"]\n',
        {
            "tests/test_flaky.py": """
from pathlib import Path

def test_steady():
    pass

def test_flaky():
    counter = Path(__file__).parent / "count"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    assert n % 2 == 1, f"attempt {n} is even"
""",
        },
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--repeat", "3", "--report-dir", str(report))
    assert done.returncode == 1, done.stderr
    journal = _journal(report)
    assert journal["repeat"] == 3
    assert [(s["stage"], s["attempt"], s["status"]) for s in journal["stages"]] == [
        ("api", 1, "failed"),
        ("api", 2, "passed"),
        ("api", 3, "failed"),
    ]
    flaky = {f["id"]: (f["passed"], f["failed"]) for f in journal["flakiness"]}
    assert flaky == {
        "tests.test_flaky::test_flaky": (1, 2),
        "tests.test_flaky::test_steady": (3, 0),
    }
    assert journal["flakiness"][0]["id"] == "tests.test_flaky::test_flaky"  # flaky first
    assert (report / "stages" / "api" / "attempt-2" / "junit.xml").is_file()
    summary = (report / "summary.md").read_text()
    assert (
        "### Flakiness" in summary and "| `tests.test_flaky::test_flaky` | api | 1 | 2 |" in summary
    )
    suites = [s.name for s in JUnitXml.fromfile(str(report / "junit.xml"))]
    assert suites == ["api (attempt 1)", "api (attempt 2)", "api (attempt 3)"]


def test_locust_stage_measures_and_applies_thresholds(tmp_path: Path) -> None:
    locustfile = """
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task(3)
    def home(self):
        self.client.get("/")

    @task
    def missing(self):
        with self.client.get("/missing", name="/missing", catch_response=True) as r:
            if r.status_code == 404:
                r.success()
"""
    stack = _stack(
        tmp_path,
        "load",
        WEB
        + """
[stages.load]
kind = "locust"
locustfile = "locustfile.py"
host = "${web.url}"
users = 3
spawn_rate = 3
duration = "3s"
thresholds = ["failure rate < 1%", "GET / p95 < 5s", "requests > 10"]

[stages.impossible]
kind = "locust"
locustfile = "locustfile.py"
host = "${web.url}"
users = 2
duration = "2s"
thresholds = ["rps > 1000000", "GET /missing p50 < 10s"]
""",
        {"locustfile.py": locustfile, "site/index.html": "<h1>Hello</h1>"},
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--report-dir", str(report))
    assert done.returncode == 1, done.stderr
    load, impossible = _journal(report)["stages"]
    assert load["status"] == "passed", load["reason"]
    names = {(e["method"], e["name"]) for e in load["load"]["endpoints"]}
    assert names == {("GET", "/"), ("GET", "/missing")}
    total = load["load"]["total"]
    assert total["requests"] > 10 and total["failures"] == 0 and "p95" in total["percentiles"]
    assert load["load"]["timeline"] and all(t["passed"] for t in load["load"]["thresholds"])
    assert impossible["status"] == "failed"
    assert impossible["reason"].startswith("rps > 1000000 (actual")
    verdicts = {t["text"]: t["passed"] for t in impossible["load"]["thresholds"]}
    assert verdicts == {"rps > 1000000": False, "GET /missing p50 < 10s": True}
    xml = JUnitXml.fromfile(str(report / "junit.xml"))
    assert xml.failures == 2  # the stage and its failed threshold
    html = (report / "report.html").read_text()
    assert "rps &gt; 1000000" in html or "rps > 1000000" in html


def test_playwright_stage_keeps_trace_and_screenshot_of_a_failure(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "ui",
        WEB + '[stages.ui]\nkind = "playwright"\nargs = ["tests", "-q"]\nbase_url = "${web.url}"\n',
        {
            "site/index.html": "<title>Shop</title><h1>Hello</h1>",
            "tests/test_ui.py": """
from playwright.sync_api import Page, expect

def test_greets(page: Page) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Hello")

def test_says_goodbye(page: Page) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Goodbye", timeout=500)
""",
        },
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--report-dir", str(report), timeout=240)
    assert done.returncode == 1, done.stderr
    (stage,) = _journal(report)["stages"]
    assert stage["kind"] == "playwright"
    assert stage["counts"]["passed"] == 1 and stage["counts"]["failed"] == 1
    failing = next(t for t in stage["tests"] if t["status"] == "failed")
    assert "test_says_goodbye" in failing["id"]
    kinds = {Path(a).suffix for a in failing["artifacts"]}
    assert {".zip", ".png", ".webm"} <= kinds, failing["artifacts"]
    for artifact in failing["artifacts"]:
        assert (report / artifact).is_file(), artifact
        assert not Path(artifact).is_absolute()
    passing = next(t for t in stage["tests"] if t["status"] == "passed")
    assert passing["artifacts"] == []  # kept on failure only
    assert any(".png" in line for line in (report / "summary.md").read_text().splitlines())


def test_stage_timeout_stops_the_tests_and_exits_4(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "slow",
        '[stages.api]\nkind = "pytest"\nargs = ["tests"]\ntimeout = "3s"\n',
        {
            "tests/test_slow.py": """
import os, time
from pathlib import Path

def test_hangs():
    (Path(__file__).parent / "pid").write_text(str(os.getpid()))
    time.sleep(120)
""",
        },
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--report-dir", str(report))
    assert done.returncode == 4, done.stderr
    (stage,) = _journal(report)["stages"]
    assert stage["status"] == "timeout" and stage["reason"] == "timed out"
    assert not psutil.pid_exists(int((tmp_path / "tests" / "pid").read_text()))
    assert "timed out" in (report / "summary.md").read_text()


def test_sigterm_during_a_stage_keeps_its_outcome_in_every_report(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "interrupted",
        '[stages.slow]\nkind = "pytest"\nargs = ["tests", "-s"]\n',
        {
            "tests/test_slow.py": """
import os, time
from pathlib import Path

def test_quick():
    pass

def test_hangs():
    print("waiting for the order to ship")
    (Path(__file__).parent / "pid").write_text(str(os.getpid()))
    time.sleep(120)
""",
        },
    )
    report = tmp_path / "rep"
    proc = spawn_cli("run", "-f", str(stack), "--report-dir", str(report))
    pid_file = tmp_path / "tests" / "pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert not psutil.pid_exists(int(pid_file.read_text()))
    journal = _journal(report)
    (stage,) = journal["stages"]
    assert stage["status"] == "error" and stage["reason"].startswith("interrupted")
    assert any("waiting for the order to ship" in line for line in stage["tail"])
    assert journal["result"]["status"] == "interrupted"
    assert "interrupted" in (report / "summary.md").read_text()
    cases = JUnitXml.fromfile(str(report / "junit.xml"))
    assert [s.name for s in cases] == ["slow"]  # not blamed on the stack's start


def test_reused_report_dir_and_coloured_failures(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "reuse",
        '[stages.api]\nkind = "pytest"\nargs = ["tests", "--color=yes"]\n'
        '[stages.colour]\nrun = ["python3", "-c", '
        "\"import sys; print('\\\\x1b[31mred failure\\\\x1b[0m'); sys.exit(1)\"]\n",
        {"tests/test_one.py": "def test_first():\n    assert False, 'first'\n"},
    )
    report = tmp_path / "rep"
    assert cli("run", "-f", str(stack), "--report-dir", str(report)).returncode == 1
    (tmp_path / "tests" / "test_one.py").write_text("def test_second():\n    pass\n")
    done = cli("run", "-f", str(stack), "--report-dir", str(report))
    assert done.returncode == 1, done.stderr
    assert "report not written" not in done.stderr
    api, colour = _journal(report)["stages"]
    assert [t["name"] for t in api["tests"]] == ["test_second"]  # nothing of the first run
    assert "first" not in (report / "stages" / "api" / "output.log").read_text()
    assert colour["tail"] == ["red failure"]
    junit = (report / "junit.xml").read_text()
    assert "red failure" in junit and "\x1b" not in junit


def test_locust_task_exceptions_fail_the_stage(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "raising",
        WEB + '[stages.load]\nkind = "locust"\nlocustfile = "locustfile.py"\nhost = "${web.url}"\n'
        'users = 2\nduration = "1s"\n',
        {
            "site/index.html": "<h1>Hello</h1>",
            "locustfile.py": """
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")
        raise KeyError("no such basket")
""",
        },
    )
    report = tmp_path / "rep"
    done = cli("run", "-f", str(stack), "--report-dir", str(report))
    assert done.returncode == 1, done.stderr
    (stage,) = _journal(report)["stages"]
    assert stage["status"] == "failed"
    assert "exception(s) in tasks" in stage["reason"] and "no such basket" in stage["reason"]
    assert stage["load"]["total"]["requests"] > 0  # the final figures, even of a 1 s run


def test_a_service_that_dies_during_the_stages_is_reported(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        "dies",
        f"""
[services.flaky]
command = ["{sys.executable}", "-c", "import time, os; time.sleep(1); os._exit(9)"]
[stages.wait]
run = "sleep 2"
""",
        {},
    )
    report = tmp_path / "rep"
    # a service exiting while the stack is up fails the run: exit 3
    assert cli("run", "-f", str(stack), "--report-dir", str(report)).returncode == 3
    (service,) = _journal(report)["services"]
    assert service["state"] == "failed"
    assert service["error"] == "exited with code 9 while the stack was up"
    assert "exited with code 9" in (report / "summary.md").read_text()
