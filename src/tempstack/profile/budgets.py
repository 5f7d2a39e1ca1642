"""Measure the stack's budgets against a finished run's journal.

Each budget becomes a dict shaped as ``report.schema.BudgetResult``. A budget is exceeded
when the measured figure is greater than its limit; when nothing was measured (no request
reached a route, a job was restored from a snapshot, no test reported its queries) the
result is "no data", which does not fail the run.

How figures combine when a key covers several things:

- latency (``p50`` … ``max``) without a route or method: the worst matching route's figure
  (the per-route percentiles are not merged; the largest is taken);
- ``errors``: the sum over the matching routes;
- ``queries per test``: the largest count any test reported, over all stages;
- ``queries per stage`` and ``<stage> queries``: summed over the postgres services.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from tempstack.spec.budgets import LATENCY, Budget

_Measured = tuple[float | None, str]  # (figure or None, a note: where it came from / why none)

_SIZES = {
    1000: ((1000**4, "TB"), (1000**3, "GB"), (1000**2, "MB"), (1000, "kB")),
    1024: ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")),
}


def evaluate(budgets: list[Budget], journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``BudgetResult``-shaped dict per budget, in the order given."""
    return [_result(b, *_measure(b, journal)) for b in budgets]


def exceeded(results: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any result is over its limit: the run then ends with exit code 5."""
    return any(r["status"] == "exceeded" for r in results)


def _result(budget: Budget, actual: float | None, note: str) -> dict[str, Any]:
    if actual is None:
        status, text = "no data", f"{budget.key}: no data ({note})"
    else:
        status = "exceeded" if actual > budget.limit else "passed"
        shown, limit = _pair(actual, budget)
        op = ">" if status == "exceeded" else "≤"
        text = f"{budget.key} {shown} {op} {limit}" + (f" ({note})" if note else "")
    return {
        "key": budget.key,
        "limit": float(budget.limit),
        "actual": None if actual is None else float(actual),
        "unit": budget.unit,
        "status": status,
        "text": text,
    }


def _measure(budget: Budget, journal: Mapping[str, Any]) -> _Measured:
    metric = budget.metric
    if metric == "ready" and budget.subject is None:
        ready = (journal.get("profile") or {}).get("ready")
        return (ready, "") if ready is not None else (None, "the stack never became ready")
    if metric in ("ready", "duration", "peak rss", "mean rss"):
        return _service_figure(budget, journal)
    if metric in (*LATENCY, "errors"):
        return _http(budget, journal)
    return _queries(budget, journal)


def _service(journal: Mapping[str, Any], name: str | None) -> Mapping[str, Any] | None:
    return next((s for s in journal.get("services") or [] if s.get("name") == name), None)


def _service_figure(budget: Budget, journal: Mapping[str, Any]) -> _Measured:
    name = budget.subject
    record = _service(journal, name)
    if record is None:
        return None, f"{name} is not in the run"
    if budget.metric in ("peak rss", "mean rss"):
        memory = record.get("memory")
        if not memory:
            return None, f"no memory samples of {name}"
        return memory["peak_rss" if budget.metric == "peak rss" else "mean_rss"], ""
    timings = record.get("timings") or {}
    end = "ready" if budget.metric == "ready" else "completed"
    if budget.metric == "duration" and record.get("snapshot") == "restored":
        return None, f"{name} was restored from a snapshot, not run"
    if "started" not in timings or end not in timings:
        return None, f"{name} was never {end}"
    return timings[end] - timings["started"], ""


def _http(budget: Budget, journal: Mapping[str, Any]) -> _Measured:
    routes = [
        r
        for r in (journal.get("profile") or {}).get("http") or []
        if r.get("service") == budget.subject
        and (budget.method is None or r.get("method") == budget.method)
        and (budget.route is None or r.get("route") == budget.route)
    ]
    if not routes:
        what = " ".join(p for p in (budget.method, budget.route) if p) or budget.subject
        return None, f"no requests to {what} through the proxy"
    if budget.metric == "errors":
        return sum(int(r["errors"]) for r in routes), ""
    worst = max(routes, key=lambda r: float(r[budget.metric]))
    # Name the route when the key covers several, so people know where to look.
    note = "" if len(routes) == 1 else f"worst: {worst['method']} {worst['route']}"
    return float(worst[budget.metric]), note


def _queries(budget: Budget, journal: Mapping[str, Any]) -> _Measured:
    if budget.metric == "queries per test":
        counted = [
            (int(t["profile"]["queries"]), t.get("id", t.get("name", "?")))
            for stage in journal.get("stages") or []
            for t in stage.get("tests") or []
            if (t.get("profile") or {}).get("queries") is not None
        ]
        if not counted:
            return None, "no test reported its queries"
        count, test = max(counted, key=lambda c: c[0])
        return count, f"worst: {test}"
    per_stage: dict[str, int] = {}
    for profile in (journal.get("profile") or {}).get("queries") or []:
        for stage, calls in (profile.get("by_stage") or {}).items():
            per_stage[stage] = per_stage.get(stage, 0) + int(calls)
    if budget.metric == "queries per stage":
        if not per_stage:
            return None, "no stage's queries were counted"
        stage, count = max(per_stage.items(), key=lambda item: item[1])
        return count, f"worst: {stage}"
    if budget.subject not in per_stage:
        return None, f"the queries of stage {budget.subject} were not counted"
    return per_stage[budget.subject], ""


def _pair(actual: float, budget: Budget) -> tuple[str, str]:
    """Actual and limit as text, precise enough that an exceeded figure never reads equal."""
    for extra in range(4):
        a = _show(actual, budget, extra)
        limit = _show(budget.limit, budget, extra)
        if a != limit or actual == budget.limit:
            break
    return a, limit


def _show(value: float, budget: Budget, extra: int) -> str:
    unit = budget.unit
    if unit == "count":
        return f"{round(value):,}"
    if unit == "bytes":
        factor, name = next(
            ((f, n) for f, n in _SIZES[budget.size_base] if abs(value) >= f), (1, "B")
        )
        return f"{_number(value / factor, extra)} {name}"
    if unit == "s" and abs(value) < 1:
        return f"{_number(value * 1000, extra)} ms"
    return f"{_number(value, extra)} {unit}"


def _number(value: float, extra: int) -> str:
    """Three significant figures (``612``, ``61.2``, ``6.12``, ``0.612``), more when asked."""
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = min(max(0, 2 - magnitude), 6) + extra
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
