"""``kind = "locust"``: headless Locust, bounded in users and time, judged by thresholds.

Locust writes its statistics as CSV (``--csv``); per-endpoint counts and percentiles, the
per-second history and the failures are read from there into the journal. Locust's own
exit code is not the verdict (``--exit-code-on-error 0``): the thresholds are, and without
thresholds any failed request fails the stage, as Locust itself would.
"""

from __future__ import annotations

import csv
import json
import math
import shlex
from pathlib import Path
from typing import Any

from tempstack.report.schema import (
    EndpointStats,
    LoadError,
    LoadPoint,
    LoadResult,
    ThresholdResult,
)
from tempstack.services.process import cwd_of
from tempstack.spec.stages import LocustStage
from tempstack.spec.thresholds import PERCENTILES, Threshold, threshold_value
from tempstack.stages.command import outcome_of
from tempstack.stages.outcome import Outcome, Status
from tempstack.stages.process import TAIL_LINES, StageContext, run_logged

AGGREGATED = "Aggregated"
#: run by locust from its path (the project's Python need not hold tempstack), never imported
PLUGIN = str(Path(__file__).parent.parent / "plugins" / "locust_figures.py")
PATH_VAR = "TEMPSTACK_LOCUST_FINAL"
STOP_TIMEOUT = 5  # seconds Locust lets running requests finish after the duration


def argv_for(spec: LocustStage, prefix: Path, python: str) -> list[str]:
    argv = [
        python,
        "-m",
        "locust",
        "-f",
        f"{spec.locustfile},{PLUGIN}",
        "--headless",
        "--users",
        str(spec.users),
        "--spawn-rate",
        f"{spec.spawn_rate or spec.users:g}",
        "--run-time",
        f"{max(1, math.ceil(spec.duration))}s",
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--csv",
        str(prefix),
        "--exit-code-on-error",
        "0",
        "--only-summary",
    ]
    if spec.host:
        argv += ["--host", spec.host]
    return argv


def run_locust_stage(ctx: StageContext, spec: LocustStage) -> Outcome:
    prefix = ctx.out_dir / "locust"
    final = ctx.out_dir / "locust_final.json"
    argv = argv_for(spec, prefix, ctx.python)
    if "timeout" not in spec.model_fields_set:  # by default bounded by its own duration
        ctx.deadline = ctx.now() + spec.duration + STOP_TIMEOUT + 60
    ctx.env = {**ctx.env, PATH_VAR: str(final)}
    done = run_logged(ctx, argv, cwd_of(spec.cwd, ctx.stack_dir))
    outcome = outcome_of(ctx, "locust", shlex.join(["locust", *argv[3:]]), done)
    outcome.artifacts += sorted(str(p) for p in ctx.out_dir.glob("locust_*.*"))
    endpoints, total, exceptions = read_final(final)
    if total is None:  # no final figures (killed): what the CSV had by then
        endpoints, total = read_stats(Path(f"{prefix}_stats.csv"))
    if done.status is not None:
        return outcome
    if done.returncode != 0:
        outcome.status, outcome.reason = Status.ERROR, f"locust exited with {done.returncode}"
        return outcome
    if total is None or total.requests == 0:
        outcome.status, outcome.reason = Status.FAILED, "no requests were made"
    results = [judge(t, endpoints, total) for t in spec.parsed_thresholds()]
    outcome.load = LoadResult(
        host=spec.host,
        users=spec.users,
        spawn_rate=spec.spawn_rate or spec.users,
        duration=spec.duration,
        endpoints=endpoints,
        total=total,
        timeline=read_history(Path(f"{prefix}_stats_history.csv")),
        errors=read_failures(Path(f"{prefix}_failures.csv")),
        thresholds=results,
    )
    if outcome.status is not Status.PASSED:
        return outcome
    failed = [r for r in results if not r.passed]
    if exceptions:
        count = sum(int(x.get("count", 1)) for x in exceptions)
        first = str(exceptions[0].get("msg", "")).strip().splitlines()[0:1]
        outcome.status = Status.FAILED
        outcome.reason = f"{count} exception(s) in tasks: {first[0] if first else '?'}"
        outcome.tail += [
            line for x in exceptions for line in str(x.get("traceback", "")).splitlines()
        ][-TAIL_LINES:]
    elif failed:
        outcome.status = Status.FAILED
        outcome.reason = "; ".join(_describe(r) for r in failed)
    elif not results and total is not None and total.failures:
        outcome.status = Status.FAILED
        outcome.reason = f"{total.failures} of {total.requests} requests failed"
    return outcome


def _describe(r: ThresholdResult) -> str:
    return f"{r.text} (actual {threshold_value(r.actual, r.unit)})"


def judge(
    t: Threshold, endpoints: list[EndpointStats], total: EndpointStats | None
) -> ThresholdResult:
    targets = [total] if total is not None else []
    if t.name is not None:  # without a method, every method of that name must hold
        targets = [e for e in endpoints if e.name == t.name and t.method in (None, e.method)]
    values = [metric(e, t.metric) for e in targets if e.requests]
    worst = max if t.op in ("<", "<=") else min
    actual = worst(values) if values else None
    return ThresholdResult(
        text=t.text,
        endpoint=t.endpoint,
        metric=t.metric,
        op=t.op,
        limit=t.limit * t.scale(),
        actual=None if actual is None else actual * t.scale(),
        unit=t.unit(),
        passed=actual is not None and t.holds(actual),
    )


def metric(stats: EndpointStats, name: str) -> float:
    if name == "failure rate":
        return stats.failure_rate
    if name == "median":
        return stats.percentiles["p50"]
    if name in ("avg", "min", "max", "rps", "requests", "failures"):
        return float(getattr(stats, name))
    return stats.percentiles[name]


def _stats_of(row: dict[str, Any]) -> EndpointStats:
    requests, failures = int(row["requests"]), int(row["failures"])
    return EndpointStats(
        method=row["method"],
        name=row["name"],
        requests=requests,
        failures=failures,
        failure_rate=failures / requests if requests else 0.0,
        rps=float(row["rps"] or 0.0),
        avg=float(row["avg"] or 0.0),
        min=float(row["min"] or 0.0),
        max=float(row["max"] or 0.0),
        percentiles={k: float(v) for k, v in row["percentiles"].items() if v is not None},
    )


def read_final(
    path: Path,
) -> tuple[list[EndpointStats], EndpointStats | None, list[dict[str, Any]]]:
    """The figures :mod:`tempstack.plugins.locust_figures` wrote after the runner stopped."""
    try:
        data = json.loads(path.read_text())
        endpoints = [_stats_of(e) for e in data["endpoints"]]
        total = _stats_of(data["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return [], None, []
    return endpoints, total, list(data.get("exceptions", []))


def _num(value: str | None) -> float | None:
    if value is None or value in ("", "N/A"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        return []


def read_stats(path: Path) -> tuple[list[EndpointStats], EndpointStats | None]:
    endpoints, total = [], None
    for row in _rows(path):
        requests = int(_num(row.get("Request Count")) or 0)
        failures = int(_num(row.get("Failure Count")) or 0)
        stats = EndpointStats(
            method=row.get("Type") or "",
            name=row.get("Name") or "",
            requests=requests,
            failures=failures,
            failure_rate=failures / requests if requests else 0.0,
            rps=_num(row.get("Requests/s")) or 0.0,
            avg=_num(row.get("Average Response Time")) or 0.0,
            min=_num(row.get("Min Response Time")) or 0.0,
            max=_num(row.get("Max Response Time")) or 0.0,
            percentiles={
                f"p{p}": v for p in PERCENTILES if (v := _num(row.get(f"{p}%"))) is not None
            },
        )
        if stats.name == AGGREGATED and not stats.method:
            total = stats
        else:
            endpoints.append(stats)
    return endpoints, total


def read_history(path: Path) -> list[LoadPoint]:
    rows = [r for r in _rows(path) if r.get("Name") == AGGREGATED]
    if not rows:
        return []
    t0 = _num(rows[0].get("Timestamp")) or 0.0
    return [
        LoadPoint(
            t=(_num(r.get("Timestamp")) or t0) - t0,
            users=int(_num(r.get("User Count")) or 0),
            rps=_num(r.get("Requests/s")) or 0.0,
            failures_per_s=_num(r.get("Failures/s")) or 0.0,
            p50=_num(r.get("50%")),
            p95=_num(r.get("95%")),
        )
        for r in rows
    ]


def read_failures(path: Path) -> list[LoadError]:
    return [
        LoadError(
            method=r.get("Method") or "",
            name=r.get("Name") or "",
            error=r.get("Error") or "",
            occurrences=int(_num(r.get("Occurrences")) or 0),
        )
        for r in _rows(path)
    ]
