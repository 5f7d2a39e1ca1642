"""The demo, examples/shop, run for real the way the README's first command runs it.

Every built-in kind starts, the demo's own stages (pytest API tests, Playwright journeys in
Debian's Chromium, a bounded Locust load) pass, and the reports agree with each other. A
copy of the demo with one deliberately failing test then shows that failure, with its log
tail, in every report and exits 1. The report of the passing run is opened in Chromium and
photographed; with TEMPSTACK_UPDATE_DOCS=1 the picture replaces docs/images/report.png.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml
from playwright.sync_api import Browser

from .helpers import cli
from .test_report_browser import Opened

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
KINDS = {"postgres", "redis", "s3", "mail", "http-mock", "oidc", "job", "process"}
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "report.png"


def _reports(report: Path) -> tuple[dict[str, Any], JUnitXml, str, str]:
    journal = json.loads((report / "journal.json").read_text())
    junit = JUnitXml.fromfile(str(report / "junit.xml"))
    return journal, junit, (report / "summary.md").read_text(), (report / "report.html").read_text()


def test_demo_passes_and_its_reports_agree(chromium: Browser, tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = cli(
        "run",
        "-f",
        str(SHOP / "tempstack.toml"),
        "--report-dir",
        str(report),
        "--no-history",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"report: {report / 'report.html'}" in done.stderr
    journal, junit, summary, html = _reports(report)

    assert {s["kind"] for s in journal["services"]} == KINDS
    assert all(s["state"] == "stopped" for s in journal["services"])
    stages = {s["stage"]: s for s in journal["stages"]}
    assert list(stages) == ["api", "browser", "load"]
    assert all(s["status"] == "passed" for s in stages.values())
    assert stages["api"]["counts"]["tests"] >= 10 and stages["browser"]["counts"]["tests"] >= 3
    load = stages["load"]["load"]
    assert load["total"]["requests"] > 0 and load["thresholds"]
    assert all(t["passed"] for t in load["thresholds"])

    # measured while tested: budgets judged, routes through the proxy, SQL, memory
    assert journal["budgets"] and all(b["status"] != "exceeded" for b in journal["budgets"])
    profile = journal["profile"]
    routes = {(r["service"], r["method"], r["route"]) for r in profile["http"]}
    assert {("web", "GET", "/api/products/{id}"), ("web", "GET", "/orders/{id}/events")} <= routes
    assert profile["queries"][0]["by_stage"]["api"] > 0
    assert all(s["memory"]["peak_rss"] > 0 for s in journal["services"] if s["kind"] != "job")
    tests = [t for s in journal["stages"] for t in s["tests"]]
    assert all(t["profile"] is not None for t in tests)

    # junit: budgets first, then one suite per stage; test counts match the journal's
    suites = {s.name: s for s in junit}
    assert list(suites) == ["budgets", "api", "browser", "load"]
    assert suites["budgets"].failures == 0
    for name in ("api", "browser"):
        assert suites[name].tests == stages[name]["counts"]["tests"]
        assert suites[name].failures == 0 and suites[name].errors == 0
    assert suites["load"].tests == 1 + len(load["thresholds"])
    assert junit.tests == sum(s.tests for s in junit)

    assert "✅ tempstack · shop: passed (exit 0)" in summary
    for name, stage in stages.items():
        assert f"| {name} | {stage['kind']} | ✅ passed |" in summary
    for service in journal["services"]:
        assert f'id="service-{service["name"]}"' in html
    for name in stages:
        assert f'id="stage-{name}"' in html

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.goto((report / "report.html").as_uri(), wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('canvas').length > 0")
    opened.assert_clean()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=False)
    page.close()
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("TEMPSTACK_UPDATE_DOCS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


FAILING_TEST = """
import os

import httpx


def test_deliberately_failing() -> None:
    products = httpx.get(os.environ["WEB_URL"] + "/api/products").json()
    print(f"the catalogue has {len(products)} products")
    assert len(products) == 1000, "the catalogue lost its thousand products"
"""


def test_a_failing_demo_test_shows_in_every_report(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(SHOP, shop, ignore=shutil.ignore_patterns(".tempstack", "__pycache__"))
    (shop / "tests" / "api" / "test_deliberately_failing.py").write_text(FAILING_TEST)
    report = tmp_path / "report"
    done = cli(
        "run", "-f", str(shop / "tempstack.toml"), "api", "--report-dir", str(report), timeout=300
    )
    assert done.returncode == 1, done.stderr[-4000:]
    journal, junit, summary, html = _reports(report)

    (stage,) = journal["stages"]
    failed = [t for t in stage["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["test_deliberately_failing"]
    assert stage["counts"]["failed"] == 1 and stage["counts"]["passed"] >= 10
    assert any("the catalogue has" in line for line in stage["tail"])
    assert journal["result"]["exit_code"] == 1

    budgets, suite = list(junit)  # the budgets suite comes first
    assert budgets.name == "budgets" and budgets.failures == 0
    assert (suite.tests, suite.failures) == (stage["counts"]["tests"], 1)
    junit_text = (report / "junit.xml").read_text()
    for text in (summary, html, junit_text):
        assert "the catalogue lost its thousand products" in text
        assert "the catalogue has" in text  # the log tail
    assert "❌ tempstack · shop: failed (exit 1)" in summary
    assert 'data-status="failed"' in html

    history = cli("history", "-f", str(shop / "tempstack.toml"))
    assert "test_deliberately_failing" in history.stdout, history.stdout
