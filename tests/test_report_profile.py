"""Budgets and the profile in every report: summary.md, junit.xml, report.html, the terminal.

``profiled_journal()`` is modelled on a real run of examples/shop (its services, timings and
test ids) with the figures of issue 4 added by hand: memory per service, HTTP routes through
the proxy, pg_stat_statements, per-test profiles, N+1 findings, snapshots and budgets. It is
also used by tests/integration/test_report_browser.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from junitparser import JUnitXml, Properties
from rich.console import Console

from tempstack.report import terminal
from tempstack.report.junit import read_junit, read_profile, write_junit
from tempstack.report.schema import (
    BudgetResult,
    Counts,
    Event,
    Host,
    Journal,
    MemoryStats,
    NPlusOne,
    Profile,
    QueryProfile,
    RouteStats,
    RunResult,
    ServiceRecord,
    StageOutcome,
    StatementStats,
    TestProfile,
)
from tempstack.report.schema import TestCase as Case  # not collected by pytest
from tempstack.report.summary import n_plus_one_findings, render_summary
from tempstack.report.write import ReportPaths
from tempstack.stack import RunResult as StackResult
from tempstack.stages.outcome import Outcome, Status

from .test_report_html import assert_self_contained, render, section

MB = 1000**2
HOSTILE_ROUTE = "/api/</script><script>window.pwned=4</script>"
HOSTILE_SQL = "SELECT '<img src=x onerror=alert(1)>' | `x` FROM t WHERE id = $1"
N1_SQL = "SELECT id, name, price FROM order_items WHERE order_id = $1"
N1_TEST = "tests.api.test_orders::test_list_orders"
TOP_BY_CALLS = [
    StatementStats(query=N1_SQL, calls=480, total_ms=96.0, mean_ms=0.2, rows=960, database="shop"),
    StatementStats(
        query="SELECT o.id, o.total FROM orders o WHERE o.user_id = $1",
        calls=62,
        total_ms=31.0,
        mean_ms=0.5,
        rows=124,
        database="shop",
    ),
    StatementStats(query=HOSTILE_SQL, calls=3, total_ms=0.6, mean_ms=0.2, rows=3),
]


def _memory(peak_mb: float, mean_mb: float, processes: int = 1) -> MemoryStats:
    return MemoryStats(
        peak_rss=int(peak_mb * MB), mean_rss=int(mean_mb * MB), samples=160, processes=processes
    )


def _route(method: str, route: str, p95: float, **kw: object) -> RouteStats:
    values: dict[str, object] = {
        "service": "web",
        "method": method,
        "route": route,
        "count": 40,
        "errors": 0,
        "p50": round(p95 / 3, 1),
        "p95": p95,
        "p99": p95 * 1.2,
        "max": p95 * 1.5,
        "slow": p95 > 500,
    }
    values.update(kw)
    return RouteStats.model_validate(values)


def profiled_services() -> list[ServiceRecord]:
    return [
        ServiceRecord(
            name="db",
            kind="postgres",
            state="stopped",
            pid=25647,
            port=31777,
            url="postgresql://u_d27523f9:***@127.0.0.1:31777/shop",
            timings={"starting": 0.10, "started": 0.71, "listening": 0.88, "ready": 1.27},
            log="services/db.log",
            memory=_memory(96.4, 71.2, processes=9),
            snapshot="restored",
        ),
        ServiceRecord(
            name="cache",
            kind="redis",
            state="stopped",
            port=24334,
            url="redis://127.0.0.1:24334/0",
            timings={"starting": 0.10, "started": 0.12, "listening": 0.19, "ready": 0.2},
            memory=_memory(8.1, 7.9),
        ),
        ServiceRecord(
            name="migrate",
            kind="job",
            state="skipped",
            depends_on=["db"],
            snapshot="restored",
        ),
        ServiceRecord(
            name="seed",
            kind="job",
            state="stopped",
            depends_on=["migrate"],
            timings={"starting": 1.28, "started": 1.29, "completed": 1.9},
            log="services/seed.log",
            snapshot="saved",
        ),
        ServiceRecord(
            name="web",
            kind="process",
            state="stopped",
            pid=25793,
            port=25758,
            url="http://127.0.0.1:25758",
            depends_on=["seed", "cache"],
            timings={"starting": 1.9, "started": 1.91, "listening": 3.6, "ready": 3.7},
            log="services/web.log",
            memory=_memory(612.5, 410.0, processes=3),
        ),
    ]


def profiled_tests() -> list[Case]:
    return [
        Case(
            id=N1_TEST,
            name="test_list_orders",
            classname="tests.api.test_orders",
            status="passed",
            duration=0.42,
            profile=TestProfile(
                queries=61,
                requests=3,
                p50=12.5,
                p95=240.0,
                max=251.0,
                n_plus_one=[f"48x {N1_SQL}"],
            ),
        ),
        Case(
            id="tests.api.test_orders::test_get_order",
            name="test_get_order",
            classname="tests.api.test_orders",
            status="passed",
            duration=0.2,
            profile=TestProfile(queries=4, requests=1, p50=8.0, p95=8.0, max=8.0),
        ),
        Case(
            id="tests.api.test_auth::test_<b>odd</b>[x|y]",
            name="test_<b>odd</b>[x|y]",
            classname="tests.api.test_auth",
            status="passed",
            duration=0.1,
            profile=TestProfile(queries=2, n_plus_one=[f"12x {HOSTILE_SQL}"]),
        ),
        Case(
            id="tests.api.test_auth::test_no_profile",
            name="test_no_profile",
            classname="tests.api.test_auth",
            status="passed",
        ),
    ]


def profiled_profile() -> Profile:
    return Profile(
        ready=3.71,
        slow_ms=500.0,
        n_plus_one=10,
        http=[
            _route("GET", "/api/products", 11.0, count=320),
            _route("GET", "/api/orders/{id}", 240.0, count=80, errors=2),
            _route("POST", "/api/orders", 812.0, count=12),
            _route("GET", "/api/events", 4.0, count=2, streaming=2),
            _route("GET", HOSTILE_ROUTE, 650.0, count=1),
            _route("GET", "/", 5.0, count=66),
            _route("GET", "/health", 1.0, count=30),
        ],
        queries=[
            QueryProfile(
                service="db",
                calls=1234,
                by_stage={"api": 980, "browser": 254},
                top_by_calls=TOP_BY_CALLS,
                top_by_time=list(reversed(TOP_BY_CALLS)),
                n_plus_one=[NPlusOne(stage="api", test=N1_TEST, query=N1_SQL, calls=48)],
            )
        ],
    )


def profiled_budgets() -> list[BudgetResult]:
    return [
        BudgetResult(
            key="ready",
            limit=5.0,
            actual=3.71,
            unit="s",
            status="passed",
            text="ready 3.71 s ≤ 5 s",
        ),
        BudgetResult(
            key="web GET /api/orders/{id} p95",
            limit=200.0,
            actual=240.0,
            unit="ms",
            status="exceeded",
            text="web GET /api/orders/{id} p95 240 ms > 200 ms",
        ),
        BudgetResult(
            key="cache mean rss",
            limit=500 * MB,
            actual=None,
            unit="bytes",
            status="no data",
            text="cache mean rss: no data (no memory samples of cache)",
        ),
        BudgetResult(
            key="queries per test",
            limit=50,
            actual=61,
            unit="count",
            status="exceeded",
            text=f"queries per test 61 > 50 (worst: {N1_TEST})",
        ),
    ]


def profiled_journal(**kw: object) -> Journal:
    """A run of the shop that exceeded two budgets, with every profile figure filled in."""
    tests = profiled_tests()
    base: dict[str, object] = {
        "run_id": "shop-20261121T153934-6999",
        "stack": "shop",
        "stack_file": "/work/main/examples/shop/tempstack.toml",
        "report_dir": "/tmp/demo-report",
        "started": "2026-11-21T15:39:34+00:00",
        "ended": "2026-11-21T15:40:15+00:00",
        "duration": 40.5,
        "host": Host(hostname="vm", platform="Linux-6.1", python="3.11.7", tempstack="0.1.0"),
        "result": RunResult(exit_code=5, status="budget", error="2 budgets exceeded"),
        "services": profiled_services(),
        "stages": [
            StageOutcome(
                stage="api",
                kind="pytest",
                status="passed",
                start=3.72,
                end=10.66,
                duration=6.94,
                returncode=0,
                command="pytest tests/api",
                log="stages/api/output.log",
                counts=Counts(tests=4, passed=4),
                tests=tests,
            ),
            StageOutcome(
                stage="browser",
                kind="playwright",
                status="passed",
                start=10.7,
                end=22.9,
                duration=12.2,
                returncode=0,
                counts=Counts(tests=1, passed=1),
                tests=[
                    Case(
                        id="tests.browser.test_journey::test_an_order[chromium]",
                        name="test_an_order[chromium]",
                        status="passed",
                        duration=3.1,
                    )
                ],
            ),
        ],
        "budgets": profiled_budgets(),
        "profile": profiled_profile(),
        "events": [Event(t=0.0, kind="run.start"), Event(t=3.71, kind="run.ready")],
    }
    base.update(kw)
    return Journal.model_validate(base)


def _stage_outcome(name: str = "api") -> Outcome:
    return Outcome(name, "pytest", Status.PASSED, 3.72, 10.66)


# --- summary.md -------------------------------------------------------------------------


def test_summary_opens_with_budgets_exceeded_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPSTACK_REPORT_URL", raising=False)
    text = render_summary(profiled_journal())
    assert text.startswith("## ❌ tempstack · shop: budget exceeded (exit 5)\n")
    rows = re.findall(r"^\| (❌|⚠️|✅) \| `([^`]+)` \| (.*) \|$", text, re.M)
    assert rows == [
        ("❌", "web GET /api/orders/{id} p95", "240 ms &gt; 200 ms"),
        ("❌", "queries per test", f"61 &gt; 50 (worst: {N1_TEST})"),
        ("⚠️", "cache mean rss", "no data (no memory samples of cache)"),
        ("✅", "ready", "3.71 s ≤ 5 s"),
    ]
    assert text.index("| | Budget | Result |") < text.index("| Stage |") < text.index("### Profile")
    assert len(text) < 4000


def test_summary_profile_is_compact() -> None:
    text = render_summary(profiled_journal())
    profile = text[text.index("### Profile") :]
    routes = re.findall(r"^\| `web (\w+) ([^`]*)`( ⚠️ slow)? \| (\d+) ", profile, re.M)
    assert routes == [  # the five slowest by p95
        ("POST", "/api/orders", " ⚠️ slow", "12"),
        ("GET", HOSTILE_ROUTE, " ⚠️ slow", "1"),
        ("GET", "/api/orders/{id}", "", "80"),
        ("GET", "/api/products", "", "320"),
        ("GET", "/", "", "66"),
    ]
    assert f"- `{N1_TEST}`: 48x `{N1_SQL}`" in profile
    assert "Peak RSS: web 612 MB · db 96.4 MB · cache 8.1 MB" in profile
    assert "SQL statements on db: 1,234 in all (api 980 · browser 254)" in profile
    many = [
        ServiceRecord(name=f"svc{i}", kind="process", state="stopped", memory=_memory(i, i))
        for i in range(1, 8)
    ]
    text = render_summary(profiled_journal(services=many))
    assert "Peak RSS: svc7 7 MB · svc6 6 MB · svc5 5 MB · svc4 4 MB · svc3 3 MB · 2 more" in text


def test_summary_escapes_test_ids_routes_and_statements() -> None:
    text = render_summary(profiled_journal())
    # code spans hold the hostile parts (GitHub shows them as text); no table cell is split
    assert f"``{HOSTILE_SQL}``" in text
    assert "`tests.api.test_auth::test_<b>odd</b>[x|y]`" in text
    outside = re.sub(r"(`+).*?\1", "", text)
    assert "<script" not in outside and "<img" not in outside and "<b>" not in outside
    for line in text.splitlines():
        if line.startswith("| `web"):
            assert line.replace("\\|", "").count("|") == 7, line


def test_summary_without_budgets_or_profile_shows_neither() -> None:
    journal = profiled_journal(
        result=RunResult(exit_code=0, status="passed"),
        budgets=[],
        profile=None,
        services=[s.model_copy(update={"memory": None}) for s in profiled_services()],
        stages=[],
    )
    text = render_summary(journal)
    assert "Budget" not in text and "Profile" not in text and "RSS" not in text
    assert text.startswith("## ✅ tempstack · shop: passed (exit 0)")


def test_n_plus_one_findings_come_from_queries_and_tests_once() -> None:
    journal = profiled_journal()
    findings = [(f.test, f.calls, f.query) for f in n_plus_one_findings(journal)]
    assert findings == [
        (N1_TEST, 48, N1_SQL),  # reported by the postgres profile and by the test: once
        ("tests.api.test_auth::test_<b>odd</b>[x|y]", 12, HOSTILE_SQL),
    ]
    journal.stages[1].tests[0].profile = TestProfile(n_plus_one=["SELECT without a count"])
    assert (0, "SELECT without a count") in [
        (f.calls, f.query) for f in n_plus_one_findings(journal)
    ]


# --- junit.xml --------------------------------------------------------------------------


def test_junit_starts_with_budgets_and_carries_test_profiles(tmp_path: Path) -> None:
    journal = profiled_journal()
    path = write_junit(journal, tmp_path / "junit.xml")
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [s.name for s in suites] == ["budgets", "api", "browser"]
    budgets = suites[0]
    assert (budgets.tests, budgets.failures, budgets.skipped) == (4, 2, 1)
    results = {c.name: [(type(r).__name__, r.message) for r in c.result] for c in budgets}
    assert results == {
        "ready": [],
        "web GET /api/orders/{id} p95": [
            ("Failure", "web GET /api/orders/{id} p95 240 ms > 200 ms")
        ],
        "cache mean rss": [("Skipped", "cache mean rss: no data (no memory samples of cache)")],
        "queries per test": [("Failure", f"queries per test 61 > 50 (worst: {N1_TEST})")],
    }
    listed = next(c for c in suites[1] if c.name == "test_list_orders")
    props = [(p.name, p.value) for p in listed.child(Properties)]
    assert props == [
        ("tempstack.queries", "61"),
        ("tempstack.requests", "3"),
        ("tempstack.p50", "12.5"),
        ("tempstack.p95", "240.0"),
        ("tempstack.max", "251.0"),
        ("tempstack.n_plus_one", f"48x {N1_SQL}"),
    ]
    # read back, every test has the profile it was written with
    cases = {c.id: c for c in read_junit(path)}
    for test in journal.stages[0].tests:
        assert cases[test.id].profile == test.profile, test.id
    assert cases["budgets::web GET /api/orders/{id} p95"].status == "failed"
    assert cases["budgets::cache mean rss"].status == "skipped"


def test_read_profile_keeps_what_it_can_read() -> None:
    profile = read_profile(
        [
            ("tempstack.queries", "many"),
            ("tempstack.requests", "3"),
            ("tempstack.p95", "nan"),
            ("tempstack.max", "12"),
            ("tempstack.n_plus_one", "11x SELECT 1"),
            ("tempstack.n_plus_one", "11x SELECT 1"),
            ("tempstack.unknown", "1"),
            ("playwright_trace", "t.zip"),
        ]
    )
    assert profile == TestProfile(requests=3, max=12.0, n_plus_one=["11x SELECT 1"])
    assert read_profile([("playwright_trace", "t.zip")]) is None
    assert read_profile([("tempstack.queries", "12.0")]) == TestProfile(queries=12)


CONFTEST = """
import pytest

@pytest.fixture(autouse=True)
def measured(request):
    yield
    if request.node.name == "test_plain":
        return
    request.node.user_properties.extend([
        ("tempstack.queries", 23),
        ("tempstack.requests", 4),
        ("tempstack.p50", 1.5),
        ("tempstack.p95", 19.25),
        ("tempstack.max", 20.0),
        ("tempstack.n_plus_one", "21x SELECT * FROM items WHERE order_id = $1"),
        ("tempstack.n_plus_one", "10x INSERT INTO log (line) VALUES ($1)"),
    ])
"""

TESTS = """
def test_measured():
    pass

def test_failing_and_measured():
    assert 1 == 2, "on purpose"

def test_plain():
    pass
"""


def test_read_junit_reads_the_properties_pytest_wrote(tmp_path: Path) -> None:
    """A real pytest run: what a plugin puts in user_properties reaches TestCase.profile."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_it.py").write_text(textwrap.dedent(TESTS))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=out.xml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    cases = {c.name: c for c in read_junit(tmp_path / "out.xml")}
    expected = TestProfile(
        queries=23,
        requests=4,
        p50=1.5,
        p95=19.25,
        max=20.0,
        n_plus_one=[
            "21x SELECT * FROM items WHERE order_id = $1",
            "10x INSERT INTO log (line) VALUES ($1)",
        ],
    )
    assert cases["test_measured"].profile == expected
    assert cases["test_failing_and_measured"].profile == expected
    assert cases["test_failing_and_measured"].status == "failed"
    assert cases["test_plain"].profile is None


# --- terminal ---------------------------------------------------------------------------


def test_terminal_budget_colours() -> None:
    head, *lines = terminal.budget_lines(profiled_journal())
    assert head.plain == "  budgets: 2 exceeded, 1 no data, 1 passed"
    assert [(line.plain.split()[1], line.style) for line in lines] == [
        ("exceeded", "red"),
        ("exceeded", "red"),
        ("no", "yellow"),
        ("passed", "dim"),
    ]
    assert terminal.budget_lines(profiled_journal(budgets=[])) == []


def test_terminal_shows_budgets_first_then_stages_then_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    console = Console(record=True, width=300, color_system=None)
    monkeypatch.setattr(terminal, "err", console)
    journal = profiled_journal()
    reports = ReportPaths(tmp_path, html=tmp_path / "report.html", document=journal)
    terminal.print_run_result(
        StackResult(journal.run_id, 5, outcomes=[_stage_outcome()], reports=reports)
    )
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines[:5] == [
        "  budgets: 2 exceeded, 1 no data, 1 passed",
        "    ✗ exceeded  web GET /api/orders/{id} p95  240 ms > 200 ms",
        f"    ✗ exceeded  queries per test  61 > 50 (worst: {N1_TEST})",
        "    ? no data   cache mean rss  no data (no memory samples of cache)",
        "    ✓ passed    ready  3.71 s ≤ 5 s",
    ]
    assert lines[5].startswith("  stage api ")
    assert lines[6:11] == [
        "  slow  web POST /api/orders  p95 812 ms, max 1,218 ms, 12 requests",
        f"  slow  web GET {HOSTILE_ROUTE}  p95 650 ms, max 975 ms, 1 request",
        f"  N+1   {N1_TEST}: 48x {N1_SQL}",
        f"  N+1   tests.api.test_auth::test_<b>odd</b>[x|y]: 12x {HOSTILE_SQL}",
        "  peak RSS: web 612 MB, db 96.4 MB, cache 8.1 MB",
    ]
    assert lines[-1] == f"report: {tmp_path / 'report.html'}"


def test_terminal_without_a_journal_prints_the_stages_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    console = Console(record=True, width=300, color_system=None)
    monkeypatch.setattr(terminal, "err", console)
    terminal.print_run_result(StackResult("r", 0, outcomes=[_stage_outcome()], report_dir=tmp_path))
    lines = console.export_text().splitlines()
    assert [line.split()[:2] for line in lines] == [["stage", "api"], ["report:", str(tmp_path)]]


# --- report.html ------------------------------------------------------------------------


def test_html_opens_with_budgets(tmp_path: Path) -> None:
    html, page = render(profiled_journal(), tmp_path)
    assert '<div class="status">budget exceeded</div>' in html
    assert "<title>shop · budget exceeded · tempstack report</title>" in html
    assert 'id="summary" class="summary" data-status="budget"' in html
    # the budgets explain the status: no "failures" section for a run that only exceeded them
    assert "failures" not in page.ids
    main = html[html.index("<main>") :]
    assert main.index("<section") == main.index('<section id="budgets">')
    assert '<div class="budgets-panel" data-exceeded="2">' in html
    budgets = section(html, "budgets")
    rows = re.findall(
        r'<tr class="budget ([\w-]+)" data-status="([\w ]+)" data-key="([^"]*)">', budgets
    )
    assert rows == [
        ("exceeded", "exceeded", "web GET /api/orders/{id} p95"),
        ("exceeded", "exceeded", "queries per test"),
        ("no-data", "no data", "cache mean rss"),
        ("passed", "passed", "ready"),
    ]
    assert "<td>240 ms &gt; 200 ms</td>" in budgets
    assert_self_contained(page)


def test_html_budgets_come_before_failures(tmp_path: Path) -> None:
    from .test_report_html import failing_stage

    journal = profiled_journal(
        result=RunResult(exit_code=1, status="failed"), stages=[failing_stage()]
    )
    html, page = render(journal, tmp_path)
    assert {"budgets", "failures"} <= page.ids
    assert html.index('<section id="budgets"') < html.index('<section id="failures">')
    nav = html[html.index("<nav>") : html.index("</nav>")]
    assert nav.index("#budgets") < nav.index("#failures")


def test_html_profile_routes_and_sql(tmp_path: Path) -> None:
    html, page = render(profiled_journal(), tmp_path)
    profile = section(html, "profile")
    assert html.index('<section id="services">') < html.index('<section id="profile">')
    assert html.index('<section id="profile">') < html.index('<section id="stages">')
    routes = re.findall(
        r'<tr class="route( slow)?( has-errors)?" data-service="web" data-method="(\w+)" '
        r'data-route="([^"]*)">',
        profile,
    )
    assert [(m, r, bool(slow), bool(err)) for slow, err, m, r in routes] == [
        ("POST", "/api/orders", True, False),
        ("GET", "/api/&lt;/script&gt;&lt;script&gt;window.pwned=4&lt;/script&gt;", True, False),
        ("GET", "/api/orders/{id}", False, True),
        ("GET", "/api/products", False, False),
        ("GET", "/", False, False),
        ("GET", "/api/events", False, False),
        ("GET", "/health", False, False),
    ]
    assert profile.count('<span class="badge slow">slow</span>') == 2
    assert ">2 streamed</span>" in profile
    assert '<td class="num" data-value="812.0">812 ms</td>' in profile
    # SQL: the N+1 findings with their tests, the stages, the top statements, all escaped
    findings = re.findall(r'<tr class="finding" data-test="([^"]*)" data-stage="api">', profile)
    assert findings == [N1_TEST, "tests.api.test_auth::test_&lt;b&gt;odd&lt;/b&gt;[x|y]"]
    assert f'<code class="sql">{N1_SQL}</code>' in profile
    escaped_sql = "SELECT &#39;&lt;img src=x onerror=alert(1)&gt;&#39; | `x` FROM t WHERE id = $1"
    assert profile.count(f'<code class="sql">{escaped_sql}</code>') == 3
    assert '<tr data-stage="api"><td>api</td><td class="num">980</td></tr>' in profile
    assert "1,234 statements in the whole run" in profile
    assert '<td class="num">96.0 ms</td>\n<td class="num">0.20 ms</td>' in profile
    calls = re.search(r'<table class="statements top-calls">(.*?)</table>', profile, re.S)
    assert calls and re.findall(r'<td class="num">([\d,]+)</td>\n<td class="num">', calls[1]) == [
        "480",
        "62",
        "3",
    ]
    assert not any(tag in ("b", "img") for tag, _ in page.tags)
    assert_self_contained(page)


def test_html_tests_show_their_profile(tmp_path: Path) -> None:
    html, _ = render(profiled_journal(), tmp_path)
    api = html[html.index('id="stage-api"') : html.index('id="stage-browser"')]
    browser = html[html.index('id="stage-browser"') :]
    assert '<th class="num" title="SQL statements run during the test">queries</th>' in api
    assert "queries</th>" not in browser  # no test there has a profile
    rows = re.findall(
        r'<tr class="test passed( has-n-plus-one)?" data-status="passed" data-test="([^"]*)">'
        r'.*?<td class="num queries">(.*?)</td>\s*<td class="num requests">(.*?)</td>\s*'
        r'<td class="num p95">(.*?)</td>',
        api,
        re.S,
    )
    assert [(bool(n1), t, q, r, p) for n1, t, q, r, p in rows] == [
        (True, N1_TEST, "61", "3", "240 ms"),
        (False, "tests.api.test_orders::test_get_order", "4", "1", "8.0 ms"),
        (True, "tests.api.test_auth::test_&lt;b&gt;odd&lt;/b&gt;[x|y]", "2", "—", "—"),
        (False, "tests.api.test_auth::test_no_profile", "—", "—", "—"),
    ]
    assert (
        f'<li><span class="badge n-plus-one">N+1</span> 48\u00d7 <code>{N1_SQL}</code></li>' in api
    )


def test_html_services_memory_and_snapshots(tmp_path: Path) -> None:
    html, page = render(profiled_journal(), tmp_path)
    services = section(html, "services")
    web = services[services.index('id="service-web"') :]
    assert re.search(
        r'<td class="num memory" title="160 samples, up to 3 processes">612 MB</td>', web
    )
    assert '<td class="num memory">410 MB</td>' in web
    for name, snap in (("db", "restored"), ("migrate", "restored"), ("seed", "saved")):
        row = services[services.index(f'id="service-{name}"') :]
        row = row[: row.index("</tbody>")]
        assert f">{snap}</span>" in row, name
    assert page.data["memory"] == {
        "labels": ["web", "db", "cache"],
        "peak": [612.5, 96.4, 8.1],
        "mean": [410.0, 71.2, 7.9],
    }
    assert "memory-chart" in page.ids
    assert "db (restored)" in page.data["waterfall"]["labels"]
    assert "seed" in page.data["waterfall"]["labels"]  # "saved" is not "restored"


def test_html_profile_from_test_properties_alone(tmp_path: Path) -> None:
    """Without the run's profile (no proxy, no postgres), the tests' own figures still show."""
    journal = profiled_journal(
        profile=None,
        budgets=[],
        result=RunResult(exit_code=0, status="passed"),
        services=[s.model_copy(update={"memory": None}) for s in profiled_services()],
    )
    html, page = render(journal, tmp_path)
    profile = section(html, "profile")
    assert "measured per test by the tempstack pytest plugin" in profile
    assert re.findall(r'<tr class="finding" data-test="([^"]*)"', profile)[0] == N1_TEST
    assert "profile-http" not in page.ids and "memory-chart" not in page.ids
    assert page.data["memory"] is None
    assert "budgets" not in page.ids
