"""Measurement through ``tempstack run`` for real: the recording proxy, pg_stat_statements per
stage and per test, the N+1 flag, memory, and budgets failing a run with exit code 5."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import tempstack

APP = Path(__file__).parent / "apps" / "n_plus_one_app.py"

STACK = f"""
[stack]
name = "measured"

[services.db]
kind = "postgres"

[services.api]
command = ["{sys.executable}", "{APP}"]
env = {{ DATABASE_URL = "${{db.url}}" }}
depends_on = {{ db = "ready" }}
ready = {{ http = "/health" }}

[stages.api]
kind = "pytest"
args = ["tests", "-q", "-p", "no:cacheprovider"]
"""

TESTS = """
import os
import httpx

URL = os.environ["API_URL"]


def test_orders_one_query_per_order():
    assert httpx.get(f"{URL}/orders").status_code == 200


def test_orders_joined():
    assert httpx.get(f"{URL}/orders/joined").status_code == 200
"""


def _project(tmp_path: Path, budgets: str = "") -> Path:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_orders.py").write_text(TESTS)
    path = tmp_path / "tempstack.toml"
    path.write_text(STACK + budgets)
    return path


def _run(path: Path, report: Path) -> tuple[int, dict[str, Any]]:
    result = tempstack.Stack.load(path).run(echo=False, history=False, report_dir=report)
    return result.exit_code, json.loads((report / "journal.json").read_text())


def _test(journal: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for s in journal["stages"] for t in s["tests"] if t["name"] == name)


def test_a_run_measures_routes_queries_and_memory_and_flags_n_plus_one(tmp_path: Path) -> None:
    code, journal = _run(_project(tmp_path), tmp_path / "report")
    assert code == 0, journal["result"]
    profile = journal["profile"]

    routes = {(r["service"], r["method"], r["route"]): r for r in profile["http"]}
    assert routes[("api", "GET", "/orders")]["count"] == 1
    assert routes[("api", "GET", "/orders/joined")]["count"] == 1
    assert all(r["errors"] == 0 for r in routes.values())

    (db,) = profile["queries"]
    n_plus_one = _test(journal, "test_orders_one_query_per_order")
    joined = _test(journal, "test_orders_joined")
    assert n_plus_one["profile"]["queries"] >= 21  # the orders, then one per order
    assert joined["profile"]["queries"] < 5
    assert n_plus_one["profile"]["requests"] == 1
    assert [f["calls"] for f in db["n_plus_one"]] == [20]
    assert db["n_plus_one"][0]["test"] == n_plus_one["id"]
    assert "order_items" in db["n_plus_one"][0]["query"]
    assert not joined["profile"]["n_plus_one"]
    assert db["by_stage"]["api"] >= 22
    assert db["top_by_calls"][0]["calls"] >= 20

    memory = {s["name"]: s["memory"] for s in journal["services"]}
    assert memory["db"]["peak_rss"] > 1_000_000 and memory["db"]["processes"] > 1
    assert memory["api"]["mean_rss"] <= memory["api"]["peak_rss"]

    tree = ElementTree.parse(tmp_path / "report" / "junit.xml")
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
        if str(case.get("name")).startswith("test_orders")
    }
    assert int(props["test_orders_one_query_per_order"]["tempstack.queries"]) >= 21


def test_budget_just_below_the_measured_figure_fails_with_exit_5(tmp_path: Path) -> None:
    _, journal = _run(_project(tmp_path), tmp_path / "first")
    measured = max(
        t["profile"]["queries"] for s in journal["stages"] for t in s["tests"] if t["profile"]
    )

    below = _project(tmp_path, f'\n[budgets]\n"queries per test" = {measured - 1}\n')
    code, journal = _run(below, tmp_path / "below")
    assert code == 5
    assert journal["result"]["status"] == "budget"
    (budget,) = journal["budgets"]
    assert budget["status"] == "exceeded" and budget["actual"] == measured
    summary = (tmp_path / "below" / "summary.md").read_text()
    assert summary.index("queries per test") < summary.index("test_orders")

    at = _project(tmp_path, f'\n[budgets]\n"queries per test" = {measured}\n')
    code, journal = _run(at, tmp_path / "at")
    assert code == 0, journal["result"]
    assert journal["budgets"][0]["status"] == "passed"
