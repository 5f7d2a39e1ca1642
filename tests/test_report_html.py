"""report.html rendered from hand-built journals: content, order, escaping, self-containment.

The journal builders here are also used by tests/integration/test_report_browser.py.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tempstack.report.html import render_html
from tempstack.report.schema import (
    Counts,
    EndpointStats,
    Event,
    Flakiness,
    Host,
    Journal,
    LoadError,
    LoadPoint,
    LoadResult,
    RunResult,
    ServiceRecord,
    StageOutcome,
    ThresholdResult,
)
from tempstack.report.schema import TestCase as Case  # not collected by pytest

HOSTILE_TEST = "test_<script>window.pwned=1</script>"
HOSTILE_LOG = "</script><script>window.pwned=2</script><b>bold</b>"
HOSTILE_ENDPOINT = "/api/</script><script>window.pwned=3</script>"
TRACEBACK = "\n".join(
    ["Traceback (most recent call last):"]
    + [f'  File "tests/test_api.py", line {i}, in helper_{i}' for i in range(30)]
    + ["AssertionError: expected 201, got 500"]
)
URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background"}


def _journal(**kw: object) -> Journal:
    base: dict[str, object] = {
        "run_id": "shop-20250101T120000-ab12",
        "stack": "shop",
        "stack_file": "/srv/shop/tempstack.toml",
        "report_dir": "/srv/shop/.tempstack/reports/shop-20250101T120000-ab12",
        "started": "2025-01-01T12:00:00+00:00",
        "ended": "2025-01-01T12:00:09+00:00",
        "duration": 9.25,
        "host": Host(hostname="ci-7", platform="Linux-6.1", python="3.11.2", tempstack="0.1.0"),
    }
    base.update(kw)
    return Journal.model_validate(base)


def _services(failing: bool = False) -> list[ServiceRecord]:
    services = [
        ServiceRecord(
            name="db",
            kind="postgres",
            state="stopped",
            pid=101,
            port=16001,
            url="postgresql://app:s3cretpass@127.0.0.1:16001/app",
            timings={"starting": 0.01, "started": 0.12, "listening": 0.41, "ready": 0.45},
            log="services/db.log",
            log_tail=["LOG:  database system is ready to accept connections"],
        ),
        ServiceRecord(
            name="migrate",
            kind="job",
            state="stopped",
            depends_on=["db"],
            timings={"starting": 0.46, "started": 0.47, "completed": 0.9},
            log="services/migrate.log",
            log_tail=["INFO  [alembic] Running upgrade -> 1a2b"],
        ),
        ServiceRecord(
            name="api",
            kind="process",
            state="stopped",
            port=16002,
            url="http://127.0.0.1:16002",
            depends_on=["migrate"],
            # no "listening": that segment collapses
            timings={"starting": 0.91, "started": 0.95, "ready": 1.4},
            log="services/api.log",
            log_tail=["GET /health 200", "POST /orders 500 Internal Server Error", HOSTILE_LOG],
        ),
    ]
    if failing:
        services.append(
            ServiceRecord(
                name="worker",
                kind="process",
                state="failed",
                error="worker exited with code 3 while waited for",
                timings={"starting": 0.91, "started": 0.93, "failed": 1.1},
                log="services/worker.log",
                log_tail=["Traceback (most recent call last):", "ImportError: no module 'jobs'"],
            )
        )
    return services


def _events(ready: float = 1.45) -> list[Event]:
    return [
        Event(t=0.0, kind="run.start"),
        Event(t=0.01, kind="service.starting", service="db"),
        Event(t=ready, kind="run.ready"),
        Event(t=ready + 0.01, kind="stage.start", service="api", detail={"note": "<i>x</i>"}),
    ]


def passing_journal() -> Journal:
    tests = [
        Case(id="tests.test_api::test_list", name="test_list", status="passed", duration=0.2),
        Case(id="tests.test_api::test_get", name="test_get", status="passed", duration=0.1),
        Case(id="tests.test_api::test_old", name="test_old", status="skipped"),
    ]
    return _journal(
        result=RunResult(exit_code=0, status="passed"),
        services=_services(),
        stages=[
            StageOutcome(
                stage="api",
                kind="pytest",
                status="passed",
                start=1.46,
                end=3.0,
                duration=1.54,
                returncode=0,
                command="pytest tests/api",
                log="stages/api/output.log",
                tail=["3 passed in 1.2s"],
                counts=Counts(tests=3, passed=2, skipped=1),
                tests=tests,
            )
        ],
        events=_events(),
    )


def failing_stage(start: float = 1.46) -> StageOutcome:
    return StageOutcome(
        stage="api",
        kind="pytest",
        status="failed",
        start=start,
        end=start + 2.0,
        duration=2.0,
        returncode=1,
        command="pytest tests/api",
        log="stages/api/output.log",
        tail=["FAILED tests/test_api.py::test_create - AssertionError", "1 failed, 1 passed"],
        reason="1 test failed, 1 error",
        counts=Counts(tests=3, passed=1, failed=1, errors=1),
        tests=[
            Case(id="tests.test_api::test_list", name="test_list", status="passed"),
            Case(
                id="tests.test_api::test_create",
                name="test_create",
                classname="tests.test_api",
                file="tests/test_api.py",
                status="failed",
                duration=0.31,
                message="AssertionError: expected 201, got 500",
                details=TRACEBACK,
                artifacts=[
                    "stages/api/test_create/screenshot.png",
                    "stages/api/test_create/trace.zip",
                ],
            ),
            Case(
                id=f"tests.test_api::{HOSTILE_TEST}",
                name=HOSTILE_TEST,
                status="error",
                message="boom <b>not bold</b>",
                details="short details",
            ),
        ],
    )


def load_stage(start: float = 3.5) -> StageOutcome:
    def stats(name: str, method: str, n: int, fails: int, p50: float) -> EndpointStats:
        return EndpointStats(
            method=method,
            name=name,
            requests=n,
            failures=fails,
            failure_rate=fails / n if n else 0.0,
            rps=n / 10,
            avg=p50 * 1.1,
            min=p50 / 4,
            max=p50 * 6,
            percentiles={"p50": p50, "p95": p50 * 3, "p99": p50 * 5},
        )

    endpoints = [
        stats("/api/products", "GET", 900, 0, 40.0),
        stats("/api/orders", "POST", 300, 12, 120.0),
        stats(HOSTILE_ENDPOINT, "GET", 10, 0, 5.0),
    ]
    return StageOutcome(
        stage="load",
        kind="locust",
        status="failed",
        start=start,
        end=start + 10.0,
        duration=10.0,
        returncode=0,
        log="stages/load/output.log",
        tail=["threshold failed: p95 < 300ms"],
        reason="2 of 3 thresholds failed",
        load=LoadResult(
            host="http://127.0.0.1:16002",
            users=20,
            spawn_rate=5,
            duration=10,
            endpoints=endpoints,
            total=stats("Aggregated", "", 1210, 12, 55.0),
            timeline=[
                LoadPoint(
                    t=float(t),
                    users=min(20, 5 * (t + 1)),
                    rps=10.0 * t,
                    failures_per_s=0.5 if t > 5 else 0.0,
                    p50=None if t == 0 else 40.0 + t,
                    p95=None if t == 0 else 150.0 + 10 * t,
                )
                for t in range(10)
            ],
            errors=[
                LoadError(
                    method="POST", name="/api/orders", error="HTTPError('500')", occurrences=12
                )
            ],
            thresholds=[
                ThresholdResult(
                    text="failure rate < 1%",
                    metric="failure_rate",
                    op="<",
                    limit=1.0,
                    actual=0.99,
                    unit="%",
                    passed=True,
                ),
                ThresholdResult(
                    text="POST /api/orders p95 < 300ms",
                    endpoint="POST /api/orders",
                    metric="p95",
                    op="<",
                    limit=300.0,
                    actual=360.0,
                    unit="ms",
                    passed=False,
                ),
                ThresholdResult(
                    text="GET /api/none p95 < 100ms",
                    endpoint="GET /api/none",
                    metric="p95",
                    op="<",
                    limit=100.0,
                    actual=None,
                    unit="ms",
                    passed=False,
                ),
            ],
        ),
    )


def failing_load_journal() -> Journal:
    """A failing test with details and log tails, a failed service, and a load stage."""
    return _journal(
        result=RunResult(exit_code=1, status="failed", error="2 of 2 stages failed"),
        services=_services(failing=True),
        stages=[failing_stage(), load_stage()],
        events=_events(),
    )


def repeat_journal() -> Journal:
    stages = []
    for attempt in (1, 2, 3):
        stage = failing_stage(start=1.5 + 2.5 * attempt) if attempt == 2 else None
        stages.append(
            stage.model_copy(update={"attempt": attempt})
            if stage
            else StageOutcome(
                stage="api",
                kind="pytest",
                attempt=attempt,
                status="passed",
                start=1.5 + 2.5 * attempt,
                end=3.5 + 2.5 * attempt,
                duration=2.0,
                counts=Counts(tests=2, passed=2),
            )
        )
    return _journal(
        result=RunResult(exit_code=1, status="failed"),
        services=_services(),
        stages=stages,
        repeat=3,
        flakiness=[
            Flakiness(id="tests.test_api::test_list", stage="api", passed=3, failed=0, attempts=3),
            Flakiness(
                id="tests.test_api::test_create", stage="api", passed=2, failed=1, attempts=3
            ),
            Flakiness(
                id="tests.test_api::test_broken", stage="api", passed=0, failed=3, attempts=3
            ),
        ],
        events=_events(),
    )


def sparse_load_journal() -> Journal:
    """A load stage that barely ran: one timeline point, no latencies, no requests."""
    stage = load_stage()
    assert stage.load is not None
    quiet = stage.load.model_copy(
        update={
            "timeline": [LoadPoint(t=0.0, users=1, rps=0.0, failures_per_s=0.0)],
            "endpoints": [e.model_copy(update={"requests": 0}) for e in stage.load.endpoints],
            "total": None,
            "errors": [],
            "thresholds": [],
        }
    )
    return _journal(stages=[stage.model_copy(update={"load": quiet})])


def minimal_journal() -> Journal:
    return _journal(ended=None, duration=None)


class _Page(HTMLParser):
    """Collects what the checks need: tags with attributes, script bodies, the JSON data."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.ids: set[str] = set()
        self._open: str | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag in ("script", "style"):
            self._open, self._attrs = tag, attributes
            if tag == "script":
                self.scripts.append((attributes, ""))
            else:
                self.styles.append("")

    def handle_data(self, data: str) -> None:
        if self._open == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._open == "style":
            self.styles[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    @property
    def data(self) -> Any:
        (body,) = [text for attrs, text in self.scripts if attrs.get("type") == "application/json"]
        return json.loads(body)


def render(journal: Journal, tmp_path: Path) -> tuple[str, _Page]:
    path = render_html(journal, tmp_path / "report")
    assert path == tmp_path / "report" / "report.html"
    html = path.read_text("utf-8")
    page = _Page()
    page.feed(html)
    page.close()
    return html, page


def section(html: str, name: str) -> str:
    """The text of <section id=name> (sections are not nested)."""
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no section {name}"
    return match.group(1)


def assert_self_contained(page: _Page) -> None:
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        for name, value in attrs.items():
            if name in URL_ATTRS and value is not None:
                parts = urlsplit(value.strip())
                assert not parts.scheme and not parts.netloc, f"<{tag} {name}={value!r}>"
    # every script is inline: the data, Chart.js and the page's own code
    assert [a for a, _ in page.scripts] == [
        {"type": "application/json", "id": "report-data"},
        {},
        {},
    ]
    assert all("url(" not in s and "@import" not in s for s in page.styles)


def test_passing_run(tmp_path: Path) -> None:
    html, page = render(passing_journal(), tmp_path)
    assert 'data-status="passed"' in html
    assert "exit code 0" in html
    assert "failures" not in page.ids
    assert {"stage-api", "service-db", "service-migrate", "service-api", "waterfall-chart"} <= (
        page.ids
    )
    assert "load" not in page.ids and "flakiness" not in page.ids
    # the tail of a passed stage is not shown, its log is linked
    assert "3 passed in 1.2s" not in html
    assert ("a", {"class": "stage-log", "href": "stages/api/output.log"}) in page.tags
    # passwords in service URLs are masked
    assert "s3cretpass" not in html and "postgresql://app:***@127.0.0.1:16001/app" in html
    assert_self_contained(page)
    assert "Chart.js v4.6.1" in page.scripts[1][1]
    assert page.data["load"] == []


def test_waterfall_segments_collapse_missing_timings(tmp_path: Path) -> None:
    _, page = render(failing_load_journal(), tmp_path)
    waterfall = page.data["waterfall"]
    assert isinstance(waterfall, dict)
    labels = waterfall["labels"]
    assert labels == ["stack", "db", "migrate", "api", "worker", "stage api", "stage load"]
    by_label = {d["label"]: d["data"] for d in waterfall["datasets"]}
    row = labels.index
    assert by_label["stack ready"][0] == [0.0, 1.45]
    assert by_label["prepare + spawn"][row("db")] == [0.01, 0.12]
    assert by_label["started → listening"][row("db")] == [0.12, 0.41]
    assert by_label["listening → ready"][row("db")] == [0.41, 0.45]
    # api has no "listening": its readiness segment starts where it was spawned
    assert by_label["started → listening"][row("api")] is None
    assert by_label["listening → ready"][row("api")] == [0.95, 1.4]
    assert by_label["job running"][row("migrate")] == [0.47, 0.9]
    assert by_label["service failed"][row("worker")] == [0.93, 1.1]
    assert by_label["stage failed"][row("stage api")] == [1.46, 3.46]
    assert by_label["stage failed"][row("stage load")] == [3.5, 13.5]


def test_failing_run_shows_failures_first(tmp_path: Path) -> None:
    html, page = render(failing_load_journal(), tmp_path)
    assert 'id="summary" class="summary" data-status="failed"' in html
    assert "2 of 2 stages failed" in html
    # order of the sections
    positions = [html.index(f'id="{name}"') for name in ("summary", "failures", "waterfall")]
    positions += [html.index(f'<section id="{n}">') for n in ("services", "stages", "load")]
    positions.append(html.index('<section id="events">'))
    assert positions == sorted(positions)

    failures = section(html, "failures")
    assert 'data-kind="stage" data-status="failed" data-stage="api"' in failures
    assert "AssertionError: expected 201, got 500" in failures
    # the long traceback is folded, the short details are not
    assert "<summary>traceback (32 lines)</summary>" in failures
    assert "<pre>short details</pre>" in failures
    # the stage's own output tail, open, and the service's log tails
    assert "FAILED tests/test_api.py::test_create - AssertionError" in failures
    assert "POST /orders 500 Internal Server Error" in failures
    assert 'data-kind="service" data-status="failed" data-service="worker"' in failures
    assert "worker exited with code 3 while waited for" in failures
    assert "ImportError: no module &#39;jobs&#39;" in failures
    # a load stage that failed its thresholds says which, with actual vs limit
    assert "POST /api/orders p95 &lt; 300ms</span>: actual 360 ms, limit &lt; 300 ms" in failures
    assert "failure rate &lt; 1%" not in failures
    # artifacts: the screenshot is embedded, the trace linked, both relative
    assert ("img", {"src": "stages/api/test_create/screenshot.png", "alt": "screenshot.png"}) in (
        page.tags
    )
    assert ("a", {"class": "artifact", "href": "stages/api/test_create/trace.zip"}) in page.tags
    assert_self_contained(page)


def test_stage_lists_failing_tests_first(tmp_path: Path) -> None:
    html, _ = render(failing_load_journal(), tmp_path)
    stage = html[html.index('id="stage-api"') : html.index('id="stage-load"')]
    assert 'data-status="failed"' in stage[:40]
    rows = re.findall(r'<tr class="test (\w+)" data-status="\1" data-test="([^"]*)"', stage)
    assert [status for status, _ in rows] == ["failed", "error", "passed"]
    assert "<li>3 tests</li>" in stage and '<li class="failed">1 failed</li>' in stage


def test_load_stage(tmp_path: Path) -> None:
    html, page = render(failing_load_journal(), tmp_path)
    load = section(html, "load")
    assert {"load-load-throughput", "load-load-latency", "load-load-endpoints"} <= page.ids
    thresholds = re.findall(
        r'<tr class="threshold (\w+)" data-status="\w+">\s*<td>.*?</td>\s*<td>(.*?)</td>\s*'
        r'<td class="num">(.*?)</td>\s*<td class="num">(.*?)</td>',
        load,
    )
    assert thresholds == [
        ("passed", "failure rate &lt; 1%", "0.99%", "&lt; 1.00%"),
        ("failed", "POST /api/orders p95 &lt; 300ms", "360 ms", "&lt; 300 ms"),
        ("failed", "GET /api/none p95 &lt; 100ms", "no requests", "&lt; 100 ms"),
    ]
    assert "POST /api/orders" in load and "HTTPError(&#39;500&#39;)" in load
    # failure rate as a percentage; the total row last
    assert "4.00 %" in load
    assert re.search(r'<tr class="endpoint total has-failures">\s*<td>Aggregated</td>', load)
    (data,) = page.data["load"]
    assert data["id"] == "load-load"
    assert data["timeline"]["p50"][0] is None and len(data["timeline"]["t"]) == 10
    assert data["endpoints"]["labels"][-1] == f"GET {HOSTILE_ENDPOINT}"
    assert data["endpoints"]["p99"][0] == 200.0


def test_flakiness_for_repeated_runs(tmp_path: Path) -> None:
    html, page = render(repeat_journal(), tmp_path)
    assert {"stage-api", "stage-api-attempt-2", "stage-api-attempt-3", "flakiness"} <= page.ids
    flakiness = section(html, "flakiness")
    verdicts = re.findall(r'data-verdict="(\w+)" data-test="([^"]+)"', flakiness)
    assert verdicts == [
        ("flaky", "tests.test_api::test_create"),
        ("failing", "tests.test_api::test_broken"),
        ("stable", "tests.test_api::test_list"),
    ]
    assert "over 3 repeats" in flakiness
    labels = page.data["waterfall"]["labels"]
    assert labels[-3:] == ["stage api #1", "stage api #2", "stage api #3"]


def test_minimal_journal(tmp_path: Path) -> None:
    html, page = render(minimal_journal(), tmp_path)
    assert 'data-status="unfinished"' in html
    assert page.data == {"waterfall": None, "load": [], "memory": None}
    for name in (
        "budgets",
        "failures",
        "waterfall",
        "services",
        "profile",
        "stages",
        "load",
        "flakiness",
        "events",
    ):
        assert name not in page.ids
    assert not any(tag == "canvas" for tag, _ in page.tags)
    assert_self_contained(page)


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    html, page = render(failing_load_journal(), tmp_path)
    assert_self_contained(page)  # no extra <script> was injected anywhere
    assert "test_&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;window.pwned=2&lt;/script&gt;&lt;b&gt;bold" in html
    assert "boom &lt;b&gt;not bold&lt;/b&gt;" in html
    assert not any(tag == "b" for tag, _ in page.tags)
    # in the JSON, "</script>" is escaped and still round-trips
    (body,) = [text for attrs, text in page.scripts if attrs.get("type") == "application/json"]
    assert "</" not in body and "<" not in body
    assert HOSTILE_ENDPOINT in json.dumps(page.data)


def test_artifact_paths_cannot_become_external_or_script_urls(tmp_path: Path) -> None:
    journal = passing_journal()
    journal.stages[0].artifacts = [
        "javascript:alert(1)",
        "https://example.com/x.png",
        "//evil.example/y",
        "shots/a b#1.png",
    ]
    _, page = render(journal, tmp_path)
    assert_self_contained(page)
    hrefs = [a.get("href") for tag, a in page.tags if tag == "a" and a.get("class") == "artifact"]
    assert hrefs == ["javascript%3Aalert%281%29", "evil.example/y"]
    srcs = [a.get("src") for tag, a in page.tags if tag == "img"]
    assert srcs == ["https%3A//example.com/x.png", "shots/a%20b%231.png"]


def test_load_charts_only_where_there_is_data(tmp_path: Path) -> None:
    html, page = render(sparse_load_journal(), tmp_path)
    canvases = [a["id"] for tag, a in page.tags if tag == "canvas"]
    # one point without latencies, no endpoint with requests: only the throughput chart
    assert canvases == ["waterfall-chart", "load-load-throughput"]
    assert page.data["load"][0]["endpoints"] == {"labels": [], "p50": [], "p95": [], "p99": []}
    assert '<table class="thresholds">' not in html and "<h4>Errors</h4>" not in html
    assert_self_contained(page)
