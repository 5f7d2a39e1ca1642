"""JUnit XML in and out: read a pytest stage's results, write the run's merged ``junit.xml``.

The merged file has one ``<testsuite>`` per stage (and attempt, under ``--repeat``). Stages
without tests of their own (``command``, ``locust``) appear as one test case each, and every
load threshold as its own case, so a CI's test tab shows all of it. A stack that failed to
start is a ``tempstack`` suite with an error holding the reason and the service's log tail.
Performance budgets come first, as a ``budgets`` suite with one case per budget.

What a test cost the stack travels both ways as ``<properties>`` of its ``<testcase>``
(``tempstack.queries``, ``tempstack.requests``, ``tempstack.p50``, ``tempstack.p95``,
``tempstack.max``, one ``tempstack.n_plus_one`` per finding): the pytest plugin writes them
through ``item.user_properties``, ``read_junit`` reads them into ``TestCase.profile``, and
the merged file carries them on.
"""

from __future__ import annotations

import math
from pathlib import Path

from junitparser import (
    Error,
    Failure,
    JUnitXml,
    Properties,
    Property,
    Skipped,
    SystemOut,
)
from junitparser import TestCase as JCase
from junitparser import TestSuite as JSuite

from tempstack._files import clean_text
from tempstack.report.schema import (
    BudgetResult,
    Counts,
    Journal,
    StageOutcome,
    TestCase,
    TestProfile,
)
from tempstack.spec.thresholds import threshold_value

DETAILS_LIMIT = 20_000
ARTIFACT_PREFIX = "playwright_"
PROFILE_PREFIX = "tempstack."
#: TestProfile fields carried as one property each, and how their values are read.
PROFILE_NUMBERS: dict[str, type[int] | type[float]] = {
    "queries": int,
    "requests": int,
    "p50": float,
    "p95": float,
    "max": float,
}
N_PLUS_ONE = "n_plus_one"
BUDGETS_SUITE = "budgets"


def read_junit(path: Path) -> list[TestCase]:
    """Test cases from a JUnit file; missing or unreadable files give no cases."""
    try:
        xml = JUnitXml.fromfile(str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    suites = [xml] if isinstance(xml, JSuite) else list(xml)
    out: list[TestCase] = []
    for suite in suites:
        for case in suite:
            out.append(_case(case))
    return out


def _case(case: JCase) -> TestCase:
    status, message, details = "passed", None, None
    for result in case.result:
        if isinstance(result, Skipped):
            status = "skipped"
        elif isinstance(result, Error):
            status = "error"
        elif isinstance(result, Failure):
            status = "failed"
        message = (result.message or "").strip() or None
        details = (result.text or "").strip() or None
        if status in ("failed", "error"):
            break
    message = clean_text(message) if message else message
    details = clean_text(details) if details else details
    if message is None and details:
        message = details.splitlines()[0]
    if message is not None:
        message = message.splitlines()[0][:500] if message.strip() else None
    if details is not None and len(details) > DETAILS_LIMIT:
        details = details[:DETAILS_LIMIT] + "\n… (truncated)"
    props = case.child(Properties)  # type: ignore[no-untyped-call]
    pairs = [(str(p.name or ""), p.value) for p in (props if props is not None else [])]
    artifacts = [str(v) for n, v in pairs if n.startswith(ARTIFACT_PREFIX) and v]
    classname = case.classname or ""
    return TestCase(
        id=f"{classname}::{case.name}" if classname else str(case.name),
        name=str(case.name),
        classname=classname,
        status=status,  # type: ignore[arg-type]
        duration=float(case.time or 0.0),
        message=message,
        details=details,
        artifacts=artifacts,
        profile=read_profile(pairs),
    )


def read_profile(properties: list[tuple[str, str | None]]) -> TestProfile | None:
    """The ``tempstack.*`` properties of one test case, or None when it has none.

    A value that is not a finite number is left out rather than failing the whole file; for a
    property given twice, the last one counts (N+1 findings add up, duplicates once).
    """
    numbers: dict[str, int | float] = {}
    findings: list[str] = []
    seen = False
    for name, value in properties:
        if not name.startswith(PROFILE_PREFIX):
            continue
        seen = True
        field = name.removeprefix(PROFILE_PREFIX)
        text = (value or "").strip()
        if field == N_PLUS_ONE:
            if text and text not in findings:
                findings.append(text)
        elif field in PROFILE_NUMBERS:
            try:
                number = float(text)
            except ValueError:
                continue
            if math.isfinite(number):
                numbers[field] = PROFILE_NUMBERS[field](number)
    if not seen:
        return None
    return TestProfile.model_validate({**numbers, N_PLUS_ONE: findings})


def _profile_properties(profile: TestProfile) -> Properties:
    props = Properties()  # type: ignore[no-untyped-call]
    for field in PROFILE_NUMBERS:
        value = getattr(profile, field)
        if value is not None:
            props.add_property(Property(PROFILE_PREFIX + field, str(value)))
    for finding in profile.n_plus_one:
        props.add_property(Property(PROFILE_PREFIX + N_PLUS_ONE, finding))
    return props


def count(tests: list[TestCase]) -> Counts:
    c = Counts(tests=len(tests))
    for t in tests:
        if t.status == "passed":
            c.passed += 1
        elif t.status == "failed":
            c.failed += 1
        elif t.status == "error":
            c.errors += 1
        else:
            c.skipped += 1
    return c


def _suite_name(stage: StageOutcome, repeat: int) -> str:
    return stage.stage if repeat <= 1 else f"{stage.stage} (attempt {stage.attempt})"


def _stage_cases(stage: StageOutcome) -> list[JCase]:
    cases: list[JCase] = []
    for test in stage.tests:
        case = JCase(test.name, test.classname or stage.stage, test.duration)
        if test.profile is not None:  # before the result, where pytest puts them
            case.append(_profile_properties(test.profile))  # type: ignore[no-untyped-call]
        if test.status == "failed":
            case.result = [Failure(test.message or "failed")]
            case.result[0].text = test.details or ""
        elif test.status == "error":
            case.result = [Error(test.message or "error")]
            case.result[0].text = test.details or ""
        elif test.status == "skipped":
            case.result = [Skipped(test.message or "skipped")]
        cases.append(case)
    if stage.load is not None:
        for th in stage.load.thresholds:
            case = JCase(f"threshold: {th.text}", f"{stage.stage}.thresholds", 0.0)
            if not th.passed:
                case.result = [Failure(f"{th.text}: actual {threshold_value(th.actual, th.unit)}")]
            cases.append(case)
    if not stage.tests:
        case = JCase(stage.stage, stage.kind, stage.duration)
        if stage.status != "passed":
            result = Error if stage.status in ("error", "timeout") else Failure
            case.result = [result(stage.reason or stage.status)]
            case.result[0].text = "\n".join(stage.tail)
        cases.insert(0, case)
    elif stage.status in ("error", "timeout") or (
        stage.status == "failed" and not any(t.status in ("failed", "error") for t in stage.tests)
    ):  # the stage failed beyond its tests (crash, timeout, no tests collected)
        case = JCase(f"{stage.stage} (stage)", stage.kind, stage.duration)
        case.result = [Error(stage.reason or stage.status)]
        case.result[0].text = "\n".join(stage.tail)
        cases.append(case)
    return cases


def _budget_suite(budgets: list[BudgetResult]) -> JSuite:
    """One case per budget: exceeded ones fail, those without data are skipped."""
    suite = JSuite(BUDGETS_SUITE)
    for b in budgets:
        case = JCase(b.key, BUDGETS_SUITE, 0.0)
        if b.status == "exceeded":
            case.result = [Failure(b.text)]
        elif b.status == "no data":
            case.result = [Skipped(b.text)]
        suite.add_testcase(case)
    return suite


def write_junit(journal: Journal, path: Path) -> Path:
    xml = JUnitXml(f"tempstack {journal.stack} {journal.run_id}")
    if journal.budgets:  # first, as in every report
        xml.add_testsuite(_budget_suite(journal.budgets))
    if journal.result is not None and journal.result.error and not journal.stages:
        suite = JSuite("tempstack")
        case = JCase("start", journal.stack, 0.0)
        case.result = [Error(journal.result.error.splitlines()[0])]
        tails = [
            f"--- {s.name} ({s.state}) ---\n" + "\n".join(s.log_tail)
            for s in journal.services
            if s.error or s.state == "failed"
        ]
        case.result[0].text = journal.result.error + ("\n\n" + "\n".join(tails) if tails else "")
        suite.add_testcase(case)
        xml.add_testsuite(suite)
    timed: list[tuple[JSuite, StageOutcome]] = []
    for stage in journal.stages:
        suite = JSuite(_suite_name(stage, journal.repeat))
        timed.append((suite, stage))
        suite.timestamp = journal.started
        suite.add_testcases(_stage_cases(stage))
        if stage.status != "passed" and stage.tail:
            out = SystemOut("\n".join(stage.tail))
            suite.append(out)  # type: ignore[no-untyped-call]
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    for suite, stage in timed:  # a stage's wall time, not the sum of its cases
        suite.time = round(stage.duration, 3)
    xml.time = round(sum(s.duration for s in journal.stages), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
    return path
