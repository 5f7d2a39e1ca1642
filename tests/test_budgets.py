"""``[budgets]``: the key grammar, its errors, and evaluation against hand-made journals."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tempstack.errors import SpecErrors
from tempstack.profile.budgets import evaluate, exceeded
from tempstack.report.schema import BudgetResult
from tempstack.spec.budgets import (
    Budget,
    budget_key,
    check_budgets,
    parse_budget,
    parse_budgets,
)
from tempstack.spec.load import load
from tempstack.spec.model import ProfileSpec, StackSpec

STACK = """
[stack]
name = "shop"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.migrate]
kind = "job"
command = "true"
depends_on = ["db"]

[services.api]
command = "python -m http.server ${self.port}"
ready = { http = "/" }
depends_on = ["migrate", "cache"]

[services.quiet]
command = "python -m http.server ${self.port}"
ready = { http = "/" }
proxy = false

[services.raw]
command = "python -m http.server ${self.port}"
ready = { tcp = true }

[services.forced]
command = "python -m http.server ${self.port}"
proxy = true

[stages.api]
run = "true"

[stages.e2e]
run = "true"
"""

CORPUS = Path(__file__).parent / "malformed"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> StackSpec:
    path = tmp_path_factory.mktemp("budgets") / "tempstack.toml"
    path.write_text(STACK)
    return load(path).spec


def with_budgets(spec: StackSpec, budgets: dict[str, Any], **profile: Any) -> StackSpec:
    update: dict[str, Any] = {"budgets": budgets}
    if profile:
        update["profile"] = ProfileSpec(**profile)
    return spec.model_copy(update=update)


def one(spec: StackSpec, key: str, value: Any) -> Budget:
    return parse_budget(spec, key, value)


def problem(spec: StackSpec, key: str, value: Any, **profile: Any) -> str:
    errors = check_budgets(with_budgets(spec, {key: value}, **profile), "tempstack.toml", "")
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0].message


# -- the grammar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("ready", "5s", Budget("ready", "ready", 5.0, "s")),
        ("READY", 2, Budget("READY", "ready", 2.0, "s")),
        ("api ready", "800ms", Budget("api ready", "ready", 0.8, "s", "api")),
        ("db Ready", "30 s", Budget("db Ready", "ready", 30.0, "s", "db")),
        ("migrate duration", "30s", Budget("migrate duration", "duration", 30.0, "s", "migrate")),
        ("api rss", "500MB", Budget("api rss", "peak rss", 500e6, "bytes", "api")),
        (
            "db peak RSS",
            "1.5GiB",
            Budget("db peak RSS", "peak rss", 1.5 * 2**30, "bytes", "db", size_base=1024),
        ),
        (
            "db mean rss",
            "512KiB",
            Budget("db mean rss", "mean rss", 512 * 1024, "bytes", "db", size_base=1024),
        ),
        ("cache rss", "800kB", Budget("cache rss", "peak rss", 800_000, "bytes", "cache")),
        ("migrate rss", 1048576, Budget("migrate rss", "peak rss", 1048576, "bytes", "migrate")),
        ("api p95", "200ms", Budget("api p95", "p95", 200.0, "ms", "api")),
        ("api max", "1.5s", Budget("api max", "max", 1500.0, "ms", "api")),
        ("api get p50", "20ms", Budget("api get p50", "p50", 20.0, "ms", "api", "GET")),
        (
            "api GET /orders/{id} p99",
            "300ms",
            Budget("api GET /orders/{id} p99", "p99", 300.0, "ms", "api", "GET", "/orders/{id}"),
        ),
        (
            "api /Health P95",
            "5ms",
            Budget("api /Health P95", "p95", 5.0, "ms", "api", None, "/Health"),
        ),
        ("forced p95", "5ms", Budget("forced p95", "p95", 5.0, "ms", "forced")),
        ("api errors", 0, Budget("api errors", "errors", 0, "count", "api")),
        (
            "api POST /orders errors",
            3,
            Budget("api POST /orders errors", "errors", 3, "count", "api", "POST", "/orders"),
        ),
        ("queries per test", 50, Budget("queries per test", "queries per test", 50, "count")),
        ("Queries Per Stage", 900, Budget("Queries Per Stage", "queries per stage", 900, "count")),
        ("e2e queries", 400, Budget("e2e queries", "queries", 400, "count", "e2e")),
        # a name that is both a service and a stage: queries are the stage's
        ("api queries", 40, Budget("api queries", "queries", 40, "count", "api")),
    ],
)
def test_keys_are_parsed(spec: StackSpec, key: str, value: Any, expected: Budget) -> None:
    assert one(spec, key, value) == expected


def test_parse_budgets_keeps_file_order(spec: StackSpec) -> None:
    budgets = parse_budgets(with_budgets(spec, {"api p95": "200ms", "ready": "5s", "db rss": 10}))
    assert [b.key for b in budgets] == ["api p95", "ready", "db rss"]


def test_parse_budgets_raises_on_a_bad_key(spec: StackSpec) -> None:
    with pytest.raises(ValueError, match="unknown metric 'p59'"):
        parse_budgets(with_budgets(spec, {"api p59": "200ms"}))


def test_which_services_are_proxied(spec: StackSpec) -> None:
    assert {n for n in spec.services if spec.proxied(n)} == {"api", "forced"}
    assert not with_budgets(spec, {}, proxy=False).proxied("api")


def test_budget_keys_are_quoted_like_toml() -> None:
    assert budget_key("", "ready") == "budgets.ready"
    assert budget_key("", "api p95") == 'budgets."api p95"'
    assert budget_key("tool.tempstack", 'a "b"') == 'tool.tempstack.budgets."a \\"b\\""'


# -- errors --------------------------------------------------------------------------------


def test_the_documented_error_line(spec: StackSpec) -> None:
    assert problem(spec, "api GET /orders/{id} p59", "200ms") == (
        "tempstack.toml: budgets.\"api GET /orders/{id} p59\": unknown metric 'p59'; "
        "use p50, p95, p99, max, errors, rss, mean rss, ready, duration or queries"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("", "1s", "an empty budget name"),
        ("api", "1s", "'api' needs a metric"),
        ("p95", "1s", "unknown metric 'p95'"),
        ("api latency", "1s", "unknown metric 'latency'"),
        ("api peak", "1s", "unknown metric 'peak'"),
        ("GET /orders p95", "1s", "starts with the service's name"),
        ("queries per suite", 5, "'queries per test' or 'queries per stage'"),
        ("apii p95", "1s", "unknown service 'apii'; services: db, cache, migrate, api"),
        ("e2e p95", "1s", "e2e is a stage: a stage's budget is 'e2e queries'"),
        ("nope queries", 5, "unknown stage 'nope'"),
        ("db queries", 5, "db is a service, and queries are counted per stage"),
        (
            "migrate ready",
            "1s",
            "migrate is a job: it is never ready, it completes; use 'migrate duration'",
        ),
        (
            "db duration",
            "1s",
            "duration applies to jobs, and db is a postgres service; use 'db ready'",
        ),
        ("api GET rss", "1MB", "peak rss takes no method or route"),
        ("api GET POST p95", "1s", "at most one method, then at most one route"),
        ("api /a /b p95", "1s", "at most one method, then at most one route"),
        ("api /orders GET p95", "1s", "at most one method, then at most one route"),
        ("api orders p95", "1s", "'orders' is neither an HTTP method"),
        ("api FETCH /orders p95", "1s", "'FETCH' is neither an HTTP method"),
        ("api /orders?page=2 p95", "1s", "without a query string"),
        ("api /orders/42 p95", "1s", "write '/orders/{id}'"),
        ("api /files/3f2a9c1e8b7d.png max", "1s", "write '/files/{id}.png'"),
        (
            "api /users/0b5f3c1e-1d2a-4c7e-9a3b-2f1e0d9c8b7a/orders/7 p95",
            "1s",
            "write '/users/{id}/orders/{id}'",
        ),
        ("db p95", "1s", "stands in front of process services; db is a postgres"),
        ("quiet p95", "1s", "quiet has proxy = false"),
        ("raw errors", 1, "raw has none: give it an http ready probe"),
        ("migrate p95", "1s", "stands in front of process services; migrate is a job"),
        # values
        ("api p95", 200, "give the latency with a unit"),
        ("api p95", "200", "give the latency with a unit"),
        ("api p95", "fast", "give the latency with a unit"),
        ("api p95", "5 minutes", "'5 minutes' is not a latency; write e.g. '200ms' or '1.5s'"),
        ("api p95", "5 mins", "is not a latency"),
        ("api p95", "0ms", "greater than zero"),
        ("ready", "-5s", "is not a duration"),
        ("ready", 0, "greater than zero"),
        ("api ready", "soon", "is not a duration"),
        ("api rss", "500M", "unknown size unit 'M'"),
        ("api rss", "500 megs", "unknown size unit 'megs'"),
        ("api rss", "-5MB", "is not a size"),
        ("api rss", 1.5, "is not a size"),
        ("api rss", "1.5", "a number of bytes is whole"),
        ("api rss", "0GiB", "greater than zero"),
        ("api rss", 0, "greater than zero"),
        ("queries per test", "50", "give a whole number"),
        ("queries per test", 50.0, "give a whole number"),
        ("queries per test", 0, "greater than zero"),
        ("api errors", -1, "greater than zero"),
        ("e2e queries", 2.5, "give a whole number"),
    ],
)
def test_errors(spec: StackSpec, key: str, value: Any, expected: str) -> None:
    assert expected in problem(spec, key, value)


def test_proxy_off_for_the_whole_stack(spec: StackSpec) -> None:
    message = problem(spec, "api p95", "200ms", proxy=False)
    assert "[profile] proxy = false turns off" in message


def test_queries_need_counting(spec: StackSpec) -> None:
    assert "[profile] queries = false" in problem(spec, "queries per test", 5, queries=False)
    assert "[profile] queries = false" in problem(spec, "e2e queries", 5, queries=False)
    no_db = spec.model_copy(
        update={"services": {k: v for k, v in spec.services.items() if k != "db"}}
    )
    assert "this stack has none" in problem(no_db, "queries per stage", 5)


def test_every_bad_key_is_reported_once(spec: StackSpec) -> None:
    errors = check_budgets(
        with_budgets(spec, {"ready": "5s", "api p59": "1s", "db rss": "lots", "db ready": "9s"}),
        "tempstack.toml",
        "tool.tempstack",
    )
    assert [e.key for e in errors] == [
        'tool.tempstack.budgets."api p59"',
        'tool.tempstack.budgets."db rss"',
    ]


def test_load_reports_budget_errors(tmp_path: Path) -> None:
    path = tmp_path / "tempstack.toml"
    path.write_text(STACK + '\n[budgets]\n"api p59" = "1s"\n"api p95" = "200ms"\n')
    with pytest.raises(SpecErrors) as info:
        load(path)
    assert [e.key for e in info.value.errors] == ['budgets."api p59"']


# The corpus files of tests/malformed/ for budgets, checked here against check_budgets
# alone (tests/test_malformed.py checks them again through `tempstack check`).
BUDGET_FILES = sorted(CORPUS.glob("budget_*.toml"))


def test_the_corpus_has_budget_files() -> None:
    assert len(BUDGET_FILES) >= 8


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in BUDGET_FILES])
def test_corpus_budget_file(path: Path, tmp_path: Path) -> None:
    text = path.read_text()
    expect = text.splitlines()[0].removeprefix("# expect: ")
    head, sep, _ = text.partition("\n[budgets]\n")
    assert sep, f"{path.name}: [budgets] must be the last table"
    without = tmp_path / "tempstack.toml"
    without.write_text(head)
    budgets = tomllib.loads(text)["budgets"]
    spec = load(without).spec.model_copy(update={"budgets": budgets})
    errors = check_budgets(spec, str(path), "")
    assert len(errors) == 1, [e.message for e in errors]
    assert expect in errors[0].message


# -- evaluation ----------------------------------------------------------------------------


def journal(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "services": [
            {
                "name": "api",
                "kind": "process",
                "timings": {"starting": 1.0, "started": 1.25, "listening": 1.5, "ready": 2.0},
                "memory": {
                    "peak_rss": 612_000_000,
                    "mean_rss": 400_000_000,
                    "samples": 20,
                    "processes": 3,
                },
            },
            {
                "name": "migrate",
                "kind": "job",
                "timings": {"started": 0.5, "completed": 12.5},
            },
            {"name": "db", "kind": "postgres", "timings": {"started": 0.1, "ready": 0.4}},
        ],
        "stages": [
            {
                "stage": "api",
                "tests": [
                    {"id": "t::a", "name": "a", "profile": {"queries": 12}},
                    {"id": "t::b", "name": "b", "profile": {"queries": 57}},
                    {"id": "t::c", "name": "c", "profile": None},
                ],
            },
            {"stage": "e2e", "tests": [{"id": "t::d", "name": "d", "profile": {"queries": 3}}]},
        ],
        "profile": {
            "ready": 3.5,
            "http": [
                _route("GET", "/orders/{id}", p95=240.0, p99=300.0, max_=410.0, errors=1),
                _route("GET", "/orders", p95=80.0, p99=95.0, max_=120.0, errors=0),
                _route("POST", "/orders", p95=150.0, p99=640.0, max_=700.0, errors=2),
            ],
            "queries": [
                {"service": "db", "calls": 900, "by_stage": {"api": 500, "e2e": 40}},
                {"service": "db2", "calls": 100, "by_stage": {"api": 20, "e2e": 60}},
            ],
        },
    }
    base.update(parts)
    return base


def _route(
    method: str, route: str, *, p95: float, p99: float, max_: float, errors: int
) -> dict[str, Any]:
    return {
        "service": "api",
        "method": method,
        "route": route,
        "count": 10,
        "errors": errors,
        "p50": p95 / 2,
        "p95": p95,
        "p99": p99,
        "max": max_,
        "slow": False,
        "streaming": 0,
    }


def results(spec: StackSpec, budgets: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    out = evaluate(parse_budgets(with_budgets(spec, budgets)), data)
    for r in out:
        BudgetResult.model_validate(r)  # the journal's shape
    return out


@pytest.mark.parametrize(
    ("key", "value", "status", "actual", "text"),
    [
        ("ready", "5s", "passed", 3.5, "ready 3.5 s ≤ 5 s"),
        ("ready", "3s", "exceeded", 3.5, "ready 3.5 s > 3 s"),
        ("ready", "1ms", "exceeded", 3.5, "ready 3.5 s > 1 ms"),
        ("api ready", "1s", "passed", 0.75, "api ready 750 ms ≤ 1 s"),
        ("api ready", "500ms", "exceeded", 0.75, "api ready 750 ms > 500 ms"),
        ("migrate duration", "30s", "passed", 12.0, "migrate duration 12 s ≤ 30 s"),
        ("api rss", "700MB", "passed", 612e6, "api rss 612 MB ≤ 700 MB"),
        ("api rss", "500MB", "exceeded", 612e6, "api rss 612 MB > 500 MB"),
        ("api rss", "2GB", "passed", 612e6, "api rss 612 MB ≤ 2 GB"),
        ("api rss", "1000", "exceeded", 612e6, "api rss 612 MB > 1 kB"),
        ("api mean rss", "1GiB", "passed", 400e6, "api mean rss 381 MiB ≤ 1 GiB"),
        (
            "api GET /orders/{id} p95",
            "200ms",
            "exceeded",
            240.0,
            "api GET /orders/{id} p95 240 ms > 200 ms",
        ),
        (
            "api GET /orders/{id} p95",
            "240ms",
            "passed",
            240.0,
            "api GET /orders/{id} p95 240 ms ≤ 240 ms",
        ),
        ("api p99", "600ms", "exceeded", 640.0, "api p99 640 ms > 600 ms (worst: POST /orders)"),
        (
            "api GET p99",
            "600ms",
            "passed",
            300.0,
            "api GET p99 300 ms ≤ 600 ms (worst: GET /orders/{id})",
        ),
        (
            "api /orders max",
            "1s",
            "passed",
            700.0,
            "api /orders max 700 ms ≤ 1,000 ms (worst: POST /orders)",
        ),
        ("api errors", 2, "exceeded", 3.0, "api errors 3 > 2"),
        ("api GET errors", 1, "passed", 1.0, "api GET errors 1 ≤ 1"),
        ("api GET /orders errors", 0, "passed", 0.0, "api GET /orders errors 0 ≤ 0"),
        ("queries per test", 50, "exceeded", 57.0, "queries per test 57 > 50 (worst: t::b)"),
        ("queries per test", 57, "passed", 57.0, "queries per test 57 ≤ 57 (worst: t::b)"),
        ("queries per stage", 600, "passed", 520.0, "queries per stage 520 ≤ 600 (worst: api)"),
        ("e2e queries", 99, "exceeded", 100.0, "e2e queries 100 > 99"),
    ],
)
def test_evaluation(
    spec: StackSpec, key: str, value: Any, status: str, actual: float, text: str
) -> None:
    (result,) = results(spec, {key: value}, journal())
    assert (result["status"], result["text"]) == (status, text)
    assert result["actual"] == pytest.approx(actual)
    assert result["key"] == key


def test_units_and_limits(spec: StackSpec) -> None:
    out = results(
        spec,
        {"api p95": "0.2s", "ready": "800ms", "api rss": "1.5GiB", "e2e queries": 7},
        journal(),
    )
    assert [(r["unit"], r["limit"]) for r in out] == [
        ("ms", 200.0),
        ("s", 0.8),
        ("bytes", 1.5 * 2**30),
        ("count", 7.0),
    ]


def test_a_hair_over_the_limit_never_reads_equal(spec: StackSpec) -> None:
    data = journal(profile={"ready": 5.004, "http": [], "queries": []})
    (result,) = results(spec, {"ready": "5s"}, data)
    assert result["status"] == "exceeded"
    assert result["text"] == "ready 5.004 s > 5 s"


@pytest.mark.parametrize(
    ("key", "value", "data", "why"),
    [
        ("ready", "5s", journal(profile=None), "the stack never became ready"),
        ("api GET /missing p95", "1s", journal(), "no requests to GET /missing through the proxy"),
        ("forced p95", "1s", journal(), "no requests to forced through the proxy"),
        ("db rss", "1GB", journal(), "no memory samples of db"),
        ("cache ready", "1s", journal(), "cache is not in the run"),
        (
            "migrate duration",
            "1s",
            journal(services=[{"name": "migrate", "timings": {}, "snapshot": "restored"}]),
            "migrate was restored from a snapshot, not run",
        ),
        (
            "migrate duration",
            "1s",
            journal(services=[{"name": "migrate", "timings": {"started": 1}}]),
            "migrate was never completed",
        ),
        ("queries per test", 5, journal(stages=[]), "no test reported its queries"),
        (
            "queries per stage",
            5,
            journal(profile={"ready": 1, "http": [], "queries": []}),
            "no stage's queries were counted",
        ),
        (
            "api queries",
            5,
            journal(profile={"ready": 1, "queries": [{"by_stage": {"e2e": 1}}]}),
            "the queries of stage api were not counted",
        ),
    ],
)
def test_no_data(spec: StackSpec, key: str, value: Any, data: dict[str, Any], why: str) -> None:
    (result,) = results(spec, {key: value}, data)
    assert result["status"] == "no data"
    assert result["actual"] is None
    assert result["text"] == f"{key}: no data ({why})"


def test_exceeded_means_any_over_the_limit(spec: StackSpec) -> None:
    passing = results(spec, {"ready": "5s", "api rss": "1GB", "db rss": "1GB"}, journal())
    assert [r["status"] for r in passing] == ["passed", "passed", "no data"]
    assert not exceeded(passing)
    failing = results(spec, {"ready": "5s", "api rss": "100MB"}, journal())
    assert exceeded(failing)
