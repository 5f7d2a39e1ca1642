"""report.html opened from disk in Debian's Chromium with every non-file request blocked.

Proves the report is self-contained (works offline), draws its charts and throws no errors.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import pytest
from junitparser import JUnitXml, Properties
from playwright.sync_api import Browser, Page, Route, expect

from tempstack.report.html import render_html
from tempstack.report.schema import Journal
from tempstack.report.summary import fmt_bytes

from ..test_report_html import (
    failing_load_journal,
    minimal_journal,
    passing_journal,
    repeat_journal,
    sparse_load_journal,
)
from ..test_report_profile import HOSTILE_ROUTE, N1_TEST, profiled_journal
from .helpers import cli


class Opened:
    """A report page plus everything it asked for and every error it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.blocked == []
        assert self.requests and all(u.startswith("file://") for u in self.requests)


def png(width: int, height: int) -> bytes:
    """A small, valid RGB PNG (a stand-in for a test's screenshot)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_artifacts(journal: Journal, report_dir: Path) -> None:
    """The files the journal links to, as a run would have left them in the report dir."""
    paths = [s.log for s in journal.services] + [s.log for s in journal.stages]
    paths += [a for s in journal.stages for t in s.tests for a in t.artifacts]
    for rel in filter(None, paths):
        path = report_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(64, 40) if rel.endswith(".png") else b"log line\n")


def open_file(browser: Browser, path: Path) -> Opened:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.goto(path.as_uri(), wait_until="load")
    return opened


def open_report(browser: Browser, journal: Journal, report_dir: Path) -> Opened:
    write_artifacts(journal, report_dir)
    return open_file(browser, render_html(journal, report_dir))


# Per canvas: the Chart.js instance's type, labels/datasets and how many pixels it painted.
CHART_STATE = """canvas => {
  const chart = Chart.getChart(canvas);
  if (!chart) return null;
  const ctx = canvas.getContext("2d");
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
  return {type: chart.config.type, width: canvas.width, height: canvas.height, painted,
          labels: chart.data.labels, datasets: chart.data.datasets.map(d => d.label)};
}"""


def chart_states(page: Page) -> dict[str, dict[str, object] | None]:
    canvases = page.locator("canvas")
    return {
        str(c.get_attribute("id")): c.evaluate(CHART_STATE)
        for c in (canvases.nth(i) for i in range(canvases.count()))
    }


def test_failing_load_report_renders_offline(chromium: Browser, tmp_path: Path) -> None:
    opened = open_report(chromium, failing_load_journal(), tmp_path / "report")
    page = opened.page

    states = chart_states(page)
    assert set(states) == {
        "waterfall-chart",
        "load-load-throughput",
        "load-load-latency",
        "load-load-endpoints",
    }
    for name, state in states.items():
        assert state is not None, f"no chart on {name}"
        assert state["width"] and state["height"] and state["painted"], (name, state)
    waterfall = states["waterfall-chart"]
    assert waterfall is not None and waterfall["type"] == "bar"
    assert waterfall["labels"] == [
        "stack",
        "db",
        "migrate",
        "api",
        "worker",
        "stage api",
        "stage load",
    ]
    throughput = states["load-load-throughput"]
    assert throughput is not None and throughput["datasets"] == [
        "requests/s",
        "failures/s",
        "users",
    ]

    # hovering a bar shows its span in seconds (the tooltip callback runs without errors)
    canvas = page.locator("#waterfall-chart")
    canvas.scroll_into_view_if_needed()
    point = canvas.evaluate(
        """c => { const chart = Chart.getChart(c);
                  const i = chart.data.datasets.findIndex(d => d.label === "job running");
                  const bar = chart.getDatasetMeta(i).data[chart.data.labels.indexOf("migrate")];
                  return bar.getCenterPoint(); }"""
    )
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    tooltip = canvas.evaluate(
        "c => Chart.getChart(c).tooltip.body.map(b => b.lines.join(' ')).join('|')"
    )
    assert tooltip == "job running: 0.47 s → 0.9 s (0.43 s)"

    # failures come first and are visible, with the failing test's message and log tails
    failures = page.locator("#failures")
    expect(failures).to_be_visible()
    failing_test = failures.locator('.test-failure[data-test="tests.test_api::test_create"]')
    expect(failing_test.locator(".message")).to_have_text("AssertionError: expected 201, got 500")
    expect(failing_test.locator("img")).to_be_visible()
    assert failing_test.locator("img").evaluate("img => img.naturalWidth") == 64
    expect(failures.locator("pre.log").first).to_contain_text("FAILED tests/test_api.py")
    expect(page.locator("#stage-api")).to_have_attribute("data-status", "failed")
    expect(page.locator("#service-worker")).to_have_attribute("data-state", "failed")
    expect(page.locator("#load-load tr.threshold.failed")).to_have_count(2)

    # hostile strings stayed text
    assert page.evaluate("typeof window.pwned") == "undefined"
    expect(failures.get_by_text("test_<script>window.pwned=1</script>")).to_be_visible()

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height > 900
    assert len(data) > 50_000
    opened.assert_clean()
    page.close()


@pytest.mark.parametrize(
    ("journal", "charts"),
    [
        (minimal_journal(), set()),
        (passing_journal(), {"waterfall-chart"}),
        (repeat_journal(), {"waterfall-chart"}),
        (sparse_load_journal(), {"waterfall-chart", "load-load-throughput"}),
    ],
    ids=["minimal", "passing", "repeat", "sparse-load"],
)
def test_other_reports_render_without_errors(
    chromium: Browser, tmp_path: Path, journal: Journal, charts: set[str]
) -> None:
    opened = open_report(chromium, journal, tmp_path / "report")
    states = chart_states(opened.page)
    assert set(states) == charts
    assert all(s is not None and s["painted"] for s in states.values())
    expect(opened.page.locator("#summary")).to_be_visible()
    opened.assert_clean()
    opened.page.close()


def test_budgets_and_profile_render_offline(chromium: Browser, tmp_path: Path) -> None:
    """Budgets on top, the memory chart drawn, the routes table sorts, hostile text stays text."""
    opened = open_report(chromium, profiled_journal(), tmp_path / "report")
    page = opened.page
    expect(page.locator(".result .status")).to_have_text("budget exceeded")

    # the budgets panel is the first thing under the header, the exceeded ones on top
    first = page.locator("main > section").first
    expect(first).to_have_attribute("id", "budgets")
    expect(first).to_be_in_viewport()
    statuses = first.locator("tr.budget").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses == ["exceeded", "exceeded", "no data", "passed"]

    states = chart_states(page)
    assert set(states) == {"waterfall-chart", "memory-chart"}
    memory = states["memory-chart"]
    assert memory is not None and memory["painted"]
    assert memory["labels"] == ["web", "db", "cache"]
    assert memory["datasets"] == ["peak RSS", "mean RSS"]

    # the routes come slowest first; a click on a heading sorts, a second click reverses
    routes = page.locator("#profile-http table.routes")

    def order() -> list[str]:
        return [
            str(r)
            for r in routes.locator("tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.method + ' ' + r.dataset.route)"
            )
        ]

    assert order()[:2] == ["POST /api/orders", f"GET {HOSTILE_ROUTE}"]
    p95 = routes.locator("th", has_text="p95")
    p95.click()
    expect(p95).to_have_attribute("aria-sort", "ascending")
    assert order()[0] == "GET /health" and order()[-1] == "POST /api/orders"
    p95.click()
    assert order()[0] == "POST /api/orders"
    routes.locator("th", has_text="route").click()
    assert order()[0] == "GET /"
    expect(routes.locator("tr.slow .badge.slow")).to_have_count(2)

    # N+1: in the SQL findings and on the test's row
    expect(page.locator(f'#profile-sql tr.finding[data-test="{N1_TEST}"]')).to_be_visible()
    row = page.locator(f'#stage-api tr.test[data-test="{N1_TEST}"]')
    expect(row.locator("td.queries")).to_have_text("61")
    expect(row.locator("ul.n-plus-one li")).to_contain_text("48\u00d7 SELECT id, name, price")
    expect(page.locator("#service-db .badge.snapshot")).to_have_text("restored")

    assert page.evaluate("typeof window.pwned") == "undefined"
    expect(routes.get_by_text(HOSTILE_ROUTE)).to_be_visible()
    opened.assert_clean()
    page.close()


REAL_STACK = """
[stack]
name = "reportdemo"

[services.seed]
kind = "job"
command = ["{python}", "-c", "print('seeded 3 rows')"]

[services.web]
command = ["{python}", "-u", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}
depends_on = {{ seed = "completed" }}

[stages.api]
kind = "pytest"
args = ["test_api.py", "-p", "no:cacheprovider"]
"""

REAL_TESTS = """
import os
import urllib.request


def test_home():
    assert urllib.request.urlopen(os.environ["WEB_URL"]).status == 200


def test_deliberately_failing():
    print("about to fail")
    assert 1 + 1 == 3, "arithmetic is broken on purpose"
"""


def test_report_of_a_real_run_with_a_failing_test(  # type: ignore[no-untyped-def]
    write_stack, chromium: Browser, tmp_path: Path
) -> None:
    """`tempstack run`'s own report.html: the failing test is a failure with its log tails."""
    (tmp_path / "test_api.py").write_text(REAL_TESTS)
    stack_file = write_stack(REAL_STACK.format(python=sys.executable))
    report_dir = tmp_path / "report"
    done = cli("run", "-f", str(stack_file), "--report-dir", str(report_dir), "--no-history")
    assert done.returncode == 1, done.stderr
    journal = json.loads((report_dir / "journal.json").read_text())
    assert [e for e in journal["events"] if e["kind"] == "report.error"] == []

    opened = open_file(chromium, report_dir / "report.html")
    page = opened.page
    expect(page.locator("#summary")).to_have_attribute("data-status", "failed")
    failure = page.locator('#failures .failure[data-stage="api"]')
    expect(failure).to_be_visible()
    failing = failure.locator(".test-failure")
    expect(failing).to_have_count(1)
    expect(failing).to_have_attribute("data-status", "failed")
    expect(failing.locator(".message")).to_contain_text("arithmetic is broken on purpose")
    # the stage's output tail (open) and the services' log tails, all from the real run
    expect(failure.locator("details.log[open] pre.log")).to_contain_text("about to fail")
    web_tail = page.locator('#failures .service-tail[data-service="web"] pre.log')
    expect(web_tail).to_contain_text('"GET / HTTP/1.1" 200', use_inner_text=False)
    expect(page.locator("#service-seed")).to_contain_text("job")
    expect(page.locator("#stage-api tr.test")).to_have_count(2)
    expect(page.locator("#stage-api tr.test").first).to_have_attribute("data-status", "failed")
    # the stage log link points at the copied output next to the report
    href = page.locator("#stage-api a.stage-log").get_attribute("href")
    assert href is not None and (report_dir / href).is_file()

    states = chart_states(page)
    assert list(states) == ["waterfall-chart", "memory-chart"]
    waterfall = states["waterfall-chart"]
    assert waterfall is not None and waterfall["painted"]
    assert waterfall["labels"] == ["stack", "seed", "web", "stage api"]
    # the web server's memory was sampled while it ran, and drawn
    memory = states["memory-chart"]
    assert memory is not None and memory["painted"] and "web" in memory["labels"]
    web = next(s for s in journal["services"] if s["name"] == "web")
    expect(page.locator("#service-web td.memory").first).to_have_text(
        fmt_bytes(web["memory"]["peak_rss"])
    )
    opened.assert_clean()
    page.close()


BUDGET_STACK = """
[stack]
name = "budgetreport"

[services.web]
command = ["{python}", "-u", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}

[stages.api]
kind = "pytest"
args = ["test_home.py", "-p", "no:cacheprovider"]

[budgets]
"web rss" = "1MB"
"web GET /nope p95" = "1s"
"web GET / errors" = 0
"""

HOME_TEST = """
import os
import urllib.request


def test_home():
    assert urllib.request.urlopen(os.environ["WEB_URL"]).status == 200
"""


def test_a_real_run_over_budget_shows_budgets_first_everywhere(  # type: ignore[no-untyped-def]
    write_stack, chromium: Browser, tmp_path: Path
) -> None:
    """No Python server fits in 1 MB: exit 5, and every report opens with that budget."""
    (tmp_path / "test_home.py").write_text(HOME_TEST)
    stack_file = write_stack(BUDGET_STACK.format(python=sys.executable))
    report_dir = tmp_path / "report"
    done = cli("run", "-f", str(stack_file), "--report-dir", str(report_dir), "--no-history")
    assert done.returncode == 5, done.stderr

    # terminal: the budgets block comes before the stages, exceeded first
    lines = [line.strip() for line in done.stderr.splitlines()]
    start = lines.index("budgets: 1 exceeded, 1 no data, 1 passed")
    assert lines[start + 1].startswith("✗ exceeded  web rss ")
    assert lines[start + 2].startswith("? no data   web GET /nope p95  no data")
    assert lines[start + 3].startswith("✓ passed    web GET / errors ")
    assert lines[start + 4].startswith("stage api ")
    assert any(line.startswith("peak RSS: web ") for line in lines[start + 5 :])

    summary = (report_dir / "summary.md").read_text()
    assert summary.startswith("## ❌ tempstack · budgetreport: budget exceeded (exit 5)")
    assert summary.index("| ❌ | `web rss` |") < summary.index("| Stage |")

    suites = list(JUnitXml.fromfile(str(report_dir / "junit.xml")))
    assert [s.name for s in suites] == ["budgets", "api"]
    assert (suites[0].tests, suites[0].failures, suites[0].skipped) == (3, 1, 1)
    home = next(iter(suites[1]))
    properties = {p.name: p.value for p in home.child(Properties)}
    assert properties.get("tempstack.requests") == "1"  # the test's request, via the proxy

    opened = open_file(chromium, report_dir / "report.html")
    page = opened.page
    expect(page.locator("#summary")).to_have_attribute("data-status", "budget")
    expect(page.locator("main > section").first).to_have_attribute("id", "budgets")
    expect(page.locator("#budgets tr.budget").first).to_have_attribute("data-key", "web rss")
    expect(page.locator("#failures")).to_have_count(0)
    expect(page.locator('#profile-http tr.route[data-route="/"]')).to_have_count(1)
    states = chart_states(page)
    assert set(states) == {"waterfall-chart", "memory-chart"}
    opened.assert_clean()
    page.close()
