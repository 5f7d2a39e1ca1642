"""Reports rendered from a journal: JUnit, summary, history, flakiness, thresholds, Locust CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from junitparser import JUnitXml

from tempstack.report import history
from tempstack.report.flaky import flakiness
from tempstack.report.junit import count, read_junit, write_junit
from tempstack.report.schema import (
    Counts,
    EndpointStats,
    Host,
    Journal,
    LoadResult,
    RunResult,
    ServiceRecord,
    StageOutcome,
    TestCase,
    ThresholdResult,
)
from tempstack.report.summary import render_summary
from tempstack.spec.thresholds import parse_threshold
from tempstack.stages.locust import judge, read_failures, read_history, read_stats
from tempstack.stages.outcome import Outcome, Status

HOST = Host(hostname="h", platform="p", python="3.11", tempstack="0")


def _test(name: str, status: str = "passed", message: str | None = None) -> TestCase:
    return TestCase(
        id=f"tests.test_x::{name}",
        name=name,
        classname="tests.test_x",
        status=status,  # type: ignore[arg-type]
        duration=0.5,
        message=message,
        details=f"Traceback\n{message}" if message else None,
    )


def _stage(name: str, tests: list[TestCase], status: str = "passed", **kw: object) -> StageOutcome:
    return StageOutcome(
        stage=name,
        kind="pytest",
        status=status,  # type: ignore[arg-type]
        start=1.0,
        end=3.5,
        duration=2.5,
        tests=tests,
        counts=count(tests),
        **kw,  # type: ignore[arg-type]
    )


def _journal(stages: list[StageOutcome], code: int = 0, **kw: object) -> Journal:
    return Journal(
        run_id="shop-20261121T100000-abcd",
        stack="shop",
        stack_file="/x/tempstack.toml",
        report_dir="/x/.tempstack/reports/r",
        started="2026-11-21T10:00:00+00:00",
        ended="2026-11-21T10:00:09+00:00",
        duration=9.0,
        host=HOST,
        result=RunResult(exit_code=code, status="passed" if code == 0 else "failed"),
        stages=stages,
        **kw,  # type: ignore[arg-type]
    )


def test_thresholds_parse_every_form() -> None:
    t = parse_threshold("GET /orders/{id} p99 <= 1.5s")
    assert (t.method, t.name, t.metric, t.op, t.limit) == ("GET", "/orders/{id}", "p99", "<=", 1500)
    assert parse_threshold("failure rate < 1%").limit == pytest.approx(0.01)
    assert parse_threshold("error rate < 0.05").metric == "failure rate"
    assert parse_threshold("rps > 20").limit == 20
    assert parse_threshold("/health median < 50ms").endpoint == "/health"
    assert parse_threshold("mean < 1s").metric == "avg"
    for bad, needle in [
        ("p95 300ms", "is not a threshold"),
        ("p97 < 1s", "unknown percentile"),
        ("p95 < 300", "with a unit"),
        ("failure rate < 150%", "between 0% and 100%"),
        ("rps > fast", "takes a number"),
    ]:
        with pytest.raises(ValueError, match=needle):
            parse_threshold(bad)


def _stats(name: str, method: str = "GET", p95: float = 100, failures: int = 0) -> EndpointStats:
    return EndpointStats(
        method=method,
        name=name,
        requests=100,
        failures=failures,
        failure_rate=failures / 100,
        rps=10,
        avg=50,
        min=1,
        max=300,
        percentiles={"p50": 40, "p95": p95, "p99": 250},
    )


def test_thresholds_judge_the_right_endpoint() -> None:
    slow = _stats("/slow", p95=900)
    fast = _stats("/fast", p95=20, failures=2)
    total = _stats("Aggregated", method="", p95=800, failures=2)
    assert judge(parse_threshold("p95 < 1s"), [slow, fast], total).passed
    assert not judge(parse_threshold("GET /slow p95 < 500ms"), [slow, fast], total).passed
    assert judge(parse_threshold("/fast p95 < 50ms"), [slow, fast], total).passed
    assert not judge(parse_threshold("/fast failure rate < 1%"), [slow, fast], total).passed
    missing = judge(parse_threshold("POST /slow p95 < 1s"), [slow, fast], total)
    assert missing.actual is None and not missing.passed


def test_locust_csv_is_read(tmp_path: Path) -> None:
    (tmp_path / "locust_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
        "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "GET,/,38,0,5,5.1,3.1,14.8,536.0,12.7,0.0,5,5,5,6,7,11,15,15,15,15,15\n"
        "GET,/nope,49,49,4,4.7,1.9,11.5,335.0,16.4,16.4,4,5,5,6,6,6,12,12,12,12,12\n"
        ",Aggregated,87,49,5,4.9,1.9,14.8,420.0,29.1,16.4,5,5,5,6,7,11,15,15,15,15,15\n"
    )
    (tmp_path / "locust_stats_history.csv").write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%\n"
        "1000,0,,Aggregated,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A\n"
        "1001,3,,Aggregated,12.0,2.0,5,5,6,7,11,12\n"
    )
    (tmp_path / "locust_failures.csv").write_text(
        "Method,Name,Error,Occurrences\nGET,/nope,HTTPError('404'),49\n"
    )
    endpoints, total = read_stats(tmp_path / "locust_stats.csv")
    assert [e.name for e in endpoints] == ["/", "/nope"]
    assert total is not None and total.requests == 87 and total.percentiles["p95"] == 11
    assert endpoints[1].failure_rate == 1.0
    timeline = read_history(tmp_path / "locust_stats_history.csv")
    assert [(p.t, p.users, p.p95) for p in timeline] == [(0.0, 0, None), (1.0, 3, 12.0)]
    assert read_failures(tmp_path / "locust_failures.csv")[0].occurrences == 49
    assert read_stats(tmp_path / "missing.csv") == ([], None)


def test_junit_merges_stages_and_counts_match(tmp_path: Path) -> None:
    load = LoadResult(
        users=5,
        spawn_rate=5,
        duration=10,
        endpoints=[_stats("/")],
        total=_stats("Aggregated", method=""),
        thresholds=[
            ThresholdResult(
                text="p95 < 50ms",
                metric="p95",
                op="<",
                limit=50,
                actual=100,
                unit="ms",
                passed=False,
            )
        ],
    )
    journal = _journal(
        [
            _stage(
                "api",
                [_test("ok"), _test("bad", "failed", "AssertionError: 2 != 3")],
                "failed",
                tail=["E  AssertionError", "1 failed"],
            ),
            _stage("smoke", [], "passed"),
            StageOutcome(
                stage="load",
                kind="locust",
                status="failed",
                start=4,
                end=14,
                duration=10,
                load=load,
                reason="p95 < 50ms (actual 100ms)",
            ),
        ],
        code=1,
    )
    path = write_junit(journal, tmp_path / "junit.xml")
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"api", "smoke", "load"}
    assert (suites["api"].tests, suites["api"].failures) == (2, 1)
    assert suites["api"].time == 2.5
    assert (suites["load"].tests, suites["load"].failures) == (2, 2)  # stage + threshold
    cases = read_junit(path)
    failed = [c for c in cases if c.status == "failed"]
    assert {c.name for c in failed} == {"bad", "load", "threshold: p95 < 50ms"}
    assert next(c for c in failed if c.name == "bad").message == "AssertionError: 2 != 3"
    assert xml.tests == sum(len(s.tests) or 1 for s in journal.stages) + 1


def test_junit_for_a_stack_that_never_started(tmp_path: Path) -> None:
    journal = _journal([], code=3)
    journal.result = RunResult(exit_code=3, status="error", error="db exited with code 1")
    journal.services = [
        ServiceRecord(
            name="db",
            kind="postgres",
            state="failed",
            error="exited",
            log_tail=["FATAL: bad setting"],
        )
    ]
    cases = read_junit(write_junit(journal, tmp_path / "junit.xml"))
    assert [(c.name, c.status) for c in cases] == [("start", "error")]
    assert "FATAL: bad setting" in (cases[0].details or "")


def test_summary_shows_failures_tails_and_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPSTACK_REPORT_URL", raising=False)
    tricky = "```\nnot closed"
    bad = _test("bad", "failed", "AssertionError: boom")
    bad.details = f"trace {tricky}"
    bad.artifacts = ["stages/ui/artifacts/t/trace.zip"]
    journal = _journal(
        [
            _stage(
                "api",
                [_test("ok"), bad],
                "failed",
                tail=["last line of output"],
                log="stages/api/output.log",
                reason="tests.test_x::bad: AssertionError: boom",
            )
        ],
        code=1,
    )
    text = render_summary(journal)
    assert "❌ tempstack · shop: failed (exit 1)" in text
    assert "| api | pytest | ❌ failed | 1 passed, 1 failed |" in text
    assert "`tests.test_x::bad`: AssertionError: boom" in text
    assert "last line of output" in text
    assert "[trace.zip](stages/ui/artifacts/t/trace.zip)" in text
    assert "````\ntrace ```" in text  # a longer fence: the text cannot close it
    with_base = render_summary(journal, base_url="https://ci.example/artifacts/")
    assert "(https://ci.example/artifacts/stages/api/output.log)" in with_base
    assert len(text) < 5000


def test_summary_of_a_passing_run_is_short() -> None:
    text = render_summary(_journal([_stage("api", [_test("ok")])]))
    assert "✅" in text and "###" not in text and len(text.splitlines()) < 10


def _outcome(attempt: int, statuses: dict[str, str]) -> Outcome:
    tests = [_test(n, s) for n, s in statuses.items()]
    failed = any(s != "passed" for s in statuses.values())
    return Outcome(
        "api",
        "pytest",
        Status.FAILED if failed else Status.PASSED,
        0,
        1,
        tests=tests,
        attempt=attempt,
    )


def test_flakiness_puts_flaky_tests_first() -> None:
    rows = flakiness(
        [
            _outcome(1, {"a": "passed", "b": "failed", "c": "failed"}),
            _outcome(2, {"a": "passed", "b": "passed", "c": "failed"}),
            _outcome(3, {"a": "passed", "b": "failed", "c": "failed"}),
        ]
    )
    assert [(r["id"].split("::")[1], r["passed"], r["failed"]) for r in rows] == [
        ("b", 1, 2),
        ("c", 0, 3),
        ("a", 3, 0),
    ]


def test_history_records_runs_and_failure_rates(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    for i, status in enumerate(["passed", "failed", "passed", "failed"]):
        journal = _journal(
            [
                _stage(
                    "api",
                    [_test("ok"), _test("flaky", status, "boom" if status != "passed" else None)],
                    "passed" if status == "passed" else "failed",
                )
            ],
            code=0 if status == "passed" else 1,
        )
        journal.run_id = f"shop-{i}"
        journal.started = f"2026-11-21T10:00:0{i}+00:00"
        history.record(journal, db)
    runs = history.recent_runs(db, limit=3, stack="shop")
    assert [r.run_id for r in runs] == ["shop-3", "shop-2", "shop-1"]
    assert runs[0].stages == "api failed"
    rates = history.test_rates(db, runs=4, stack="shop")
    assert [(r.test_id, r.failures, r.executions) for r in rates] == [("tests.test_x::flaky", 2, 4)]
    assert rates[0].rate == 0.5 and rates[0].last_message == "boom"
    everything = history.test_rates(db, runs=2, stack="shop", only_failing=False)
    assert {r.test_id: r.executions for r in everything} == {
        "tests.test_x::flaky": 2,
        "tests.test_x::ok": 2,
    }
    assert history.recent_runs(tmp_path / "none.sqlite") == []


def test_counts() -> None:
    tests = [_test("a"), _test("b", "failed"), _test("c", "error"), _test("d", "skipped")]
    assert count(tests) == Counts(tests=4, passed=1, failed=1, errors=1, skipped=1)


def test_documented_json_schema_is_current() -> None:
    import json

    from tempstack.report.schema import json_schema

    docs = Path(__file__).parent.parent / "docs" / "journal.schema.json"
    assert json.loads(docs.read_text()) == json_schema(), (
        "regenerate: python -m tempstack.report.schema > docs/journal.schema.json"
    )


def test_journal_md_names_every_field() -> None:
    """docs/journal.md describes the journal's fields: a new one must be documented there."""
    from tempstack.report import schema

    doc = (Path(__file__).parent.parent / "docs" / "journal.md").read_text()
    models = [
        schema.Journal,
        schema.RunResult,
        schema.ServiceRecord,
        schema.MemoryStats,
        schema.StageOutcome,
        schema.TestCase,
        schema.TestProfile,
        schema.BudgetResult,
        schema.Profile,
        schema.RouteStats,
        schema.QueryProfile,
        schema.StatementStats,
        schema.NPlusOne,
    ]
    missing = [
        f"{model.__name__}.{field.alias or name}"
        for model in models
        for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in doc and f"`{field.alias or name}[]`" not in doc
    ]
    assert missing == []


def test_a_threshold_without_method_holds_for_every_method_of_that_name() -> None:
    get = _stats("/orders", p95=20)
    post = _stats("/orders", method="POST", p95=900, failures=90)
    for text in ("/orders failure rate < 1%", "/orders p95 < 500ms"):
        result = judge(parse_threshold(text), [get, post], None)
        assert not result.passed, text
    assert judge(parse_threshold("GET /orders p95 < 500ms"), [get, post], None).passed
    assert judge(parse_threshold("/orders rps > 5"), [get, post], None).passed


def test_summary_escapes_markup_and_table_cells() -> None:
    hostile = _test("t", "failed", "<img src=x onerror=alert(1)> | `tick`")
    hostile.id = "tests.x::test_`odd`|name"
    text = render_summary(_journal([_stage("api", [hostile], "failed")], code=1))
    bullet = "- ``tests.x::test_`odd`|name``: &lt;img src=x onerror=alert(1)&gt; \\| `tick`"
    assert bullet in text  # outside code blocks no HTML gets through
    outside = re.sub(r"(?s)```.*?```", "", text)
    assert "<img" not in outside


def test_tail_is_bounded_and_clean(tmp_path: Path) -> None:
    from tempstack._files import tail

    log = tmp_path / "out.log"
    log.write_bytes(b"progress\r" * 3_000_000 + b"x" * 5000 + b"\n\x1b[31mred\x1b[0m\n")
    lines = tail(log, 2)
    assert lines[1] == "red"
    assert lines[0].endswith("(line cut)") and len(lines[0]) < 2100
