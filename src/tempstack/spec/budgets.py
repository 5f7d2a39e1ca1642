"""Performance budgets as written in ``[budgets]``: ``"api GET /orders/{id} p95" = "200ms"``.

Grammar of a key (words case-insensitive, separated by spaces; route paths case-sensitive)::

    ready                                   seconds from the run's start to a ready stack
    <service> ready                         the service's start: spawned -> ready
    <job> duration                          the job's run: spawned -> completed
    <service> rss | peak rss | mean rss     RSS of the service's whole process tree
    <service> [METHOD] [ROUTE] p50|p95|p99|max
                                            latency through the recording proxy
    <service> [METHOD] [ROUTE] errors       responses >= 500 or none at all
    queries per test | queries per stage    the most SQL statements of any test / stage
    <stage> queries                         that stage's SQL statements

Values: a duration for ``ready``/``duration`` (``"5s"``, ``"800ms"``; a bare number is
seconds, as everywhere in the stack file), a duration *with a unit* for latency (a bare
``200`` could mean either), a size for RSS (``"500MB"``, ``"1.5GiB"``, a bare integer is
bytes) and a whole number for counts. A budget is exceeded when the measured figure is
greater than its limit, so ``"api errors" = 0`` means no errors at all (the only limit
that may be zero).

This module only reads and checks the keys; ``tempstack.profile.budgets`` measures them
against a journal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from tempstack.errors import SpecError
from tempstack.profile.http import route_pattern
from tempstack.spec.fields import parse_duration
from tempstack.spec.model import JobService, PostgresService, ProcessService, StackSpec

Unit = Literal["ms", "s", "bytes", "count"]

LATENCY = ("p50", "p95", "p99", "max")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
METRICS_HELP = "p50, p95, p99, max, errors, rss, mean rss, ready, duration or queries"
_KNOWN = frozenset((*LATENCY, "errors", "peak rss", "mean rss", "ready", "duration", "queries"))
_EXAMPLES = "'api GET /orders/{id} p95', 'api rss', 'db ready', 'ready' or 'queries per test'"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$")
#: Decimal units are powers of 1000, binary ones powers of 1024. A bare ``M`` or ``G`` is
#: refused: tools disagree on whether it means MB or MiB.
SIZE_UNITS: dict[str, tuple[int, int]] = {
    "b": (1, 1000),
    "kb": (1000, 1000),
    "mb": (1000**2, 1000),
    "gb": (1000**3, 1000),
    "tb": (1000**4, 1000),
    "kib": (1024, 1024),
    "mib": (1024**2, 1024),
    "gib": (1024**3, 1024),
    "tib": (1024**4, 1024),
}


@dataclass(frozen=True)
class Budget:
    """One checked budget. ``limit`` is in ``unit``: ms, s, bytes or a count."""

    key: str  # as written in the stack file
    #: ready, duration, peak rss, mean rss, p50, p95, p99, max, errors, queries,
    #: queries per test, queries per stage
    metric: str
    limit: float
    unit: Unit
    subject: str | None = None  # the service, job or stage; None for stack-wide budgets
    method: str | None = None
    route: str | None = None
    size_base: int = 1000  # 1024 when the limit was written in KiB/MiB/GiB: shown alike


def budget_key(prefix: str, key: str) -> str:
    """The dotted key of a budget as TOML spells it: ``budgets."api p95"``."""
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)
    return ".".join(p for p in (prefix, "budgets", shown) if p)


def check_budgets(spec: StackSpec, file: str, prefix: str) -> list[SpecError]:
    """Every problem in ``[budgets]``, one ``SpecError`` per key."""
    errors: list[SpecError] = []
    for key, value in spec.budgets.items():
        try:
            parse_budget(spec, key, value)
        except ValueError as exc:
            errors.append(SpecError(file, budget_key(prefix, key), str(exc)))
    return errors


def parse_budgets(spec: StackSpec) -> list[Budget]:
    """The budgets of a stack, in file order; raises ``ValueError`` on the first bad one.

    Call ``check_budgets`` at load time first: after it, this does not raise.
    """
    return [parse_budget(spec, key, value) for key, value in spec.budgets.items()]


def parse_budget(spec: StackSpec, key: str, value: Any) -> Budget:
    """One budget; raises ``ValueError`` saying what would be valid."""
    words = key.split()
    lower = [w.lower() for w in words]
    if not words:
        raise ValueError(f"an empty budget name; write e.g. {_EXAMPLES}")
    if lower == ["ready"]:
        return Budget(key, "ready", _seconds(value), "s")
    if lower[0] == "queries" and len(lower) > 1 and lower[1] == "per":
        if lower[2:] not in (["test"], ["stage"]):
            raise ValueError("write 'queries per test' or 'queries per stage'")
        _check_queries(spec)
        return Budget(key, f"queries per {lower[2]}", _count(value), "count")
    subject = words[0]
    if subject.upper() in METHODS or subject.startswith("/"):
        raise ValueError(f"a budget starts with the service's name, e.g. 'api {' '.join(words)}'")
    if len(words) == 1:
        if subject in spec.services or subject in spec.stages:
            raise ValueError(
                f"{subject!r} needs a metric, e.g. '{subject} p95'; use {METRICS_HELP}"
            )
        raise ValueError(f"unknown metric {subject!r}; use {METRICS_HELP}, e.g. {_EXAMPLES}")
    if lower[-2:] in (["peak", "rss"], ["mean", "rss"]):
        metric, middle = " ".join(lower[-2:]), words[1:-2]
    else:
        metric, middle = lower[-1], words[1:-1]
    metric = "peak rss" if metric == "rss" else metric
    if metric not in _KNOWN:
        raise ValueError(f"unknown metric {words[-1]!r}; use {METRICS_HELP}")
    method, route = None, None
    if metric in (*LATENCY, "errors"):
        method, route = _endpoint(middle)
    elif middle:
        raise ValueError(
            f"{metric} takes no method or route; write '{subject} {metric}' "
            "(methods and routes go with p50, p95, p99, max and errors)"
        )
    _check_subject(spec, subject, metric)
    if metric == "queries":
        return Budget(key, "queries", _count(value), "count", subject)
    if metric in ("ready", "duration"):
        return Budget(key, metric, _seconds(value), "s", subject)
    if metric in ("peak rss", "mean rss"):
        size, base = _size(value)
        return Budget(key, metric, size, "bytes", subject, size_base=base)
    if metric == "errors":
        return Budget(key, metric, _count(value, zero=True), "count", subject, method, route)
    return Budget(key, metric, _milliseconds(value), "ms", subject, method, route)


def _endpoint(middle: list[str]) -> tuple[str | None, str | None]:
    method: str | None = None
    route: str | None = None
    for word in middle:
        if word.upper() in METHODS and method is None and route is None:
            method = word.upper()
        elif word.startswith("/") and route is None:
            route = _route(word)
        elif word.upper() in METHODS or word.startswith("/"):
            raise ValueError(
                f"{word!r}: give at most one method, then at most one route, e.g. "
                "'api GET /orders/{id} p95'"
            )
        else:
            raise ValueError(
                f"{word!r} is neither an HTTP method ({', '.join(METHODS)}) nor a route "
                "(a path starting with '/')"
            )
    return method, route


def _route(route: str) -> str:
    """A route as the report shows it: no query string, ids collapsed to ``{id}``."""
    if "?" in route or "#" in route:
        raise ValueError(f"route {route!r}: give the path alone, without a query string")
    collapsed = route_pattern(route)
    if collapsed != route:
        raise ValueError(
            f"route {route!r}: ids in paths are collapsed in the measurements; write {collapsed!r}"
        )
    return route


def _check_subject(spec: StackSpec, name: str, metric: str) -> None:
    services, stages = spec.services, spec.stages
    if metric == "queries":
        _check_queries(spec)
        if name not in stages:
            what = (
                f"{name} is a service, and queries are counted per stage"
                if name in services
                else f"unknown stage {name!r}"
            )
            raise ValueError(
                f"{what}; write '<stage> queries' (stages: {', '.join(stages) or 'none'}), "
                "'queries per test' or 'queries per stage'"
            )
        return
    if name not in services:
        extra = (
            f" ({name} is a stage: a stage's budget is '{name} queries')" if name in stages else ""
        )
        raise ValueError(
            f"unknown service {name!r}{extra}; services: {', '.join(services) or 'none'}"
        )
    svc = services[name]
    is_job = isinstance(svc, JobService)
    if metric == "ready" and is_job:
        raise ValueError(f"{name} is a job: it is never ready, it completes; use '{name} duration'")
    if metric == "duration" and not is_job:
        raise ValueError(
            f"duration applies to jobs, and {name} is a {svc.kind} service; use '{name} ready'"
        )
    if metric in (*LATENCY, "errors") and not spec.proxied(name):
        raise ValueError(_why_not_proxied(spec, name, metric))


def _check_queries(spec: StackSpec) -> None:
    if not spec.profile.queries:
        raise ValueError("queries are not counted: [profile] queries = false turns that off")
    if not any(isinstance(s, PostgresService) for s in spec.services.values()):
        raise ValueError(
            "queries are counted on postgres services (pg_stat_statements), and this stack has none"
        )


def _why_not_proxied(spec: StackSpec, name: str, metric: str) -> str:
    svc = spec.services[name]
    lead = f"{metric} is measured by the recording proxy"
    if not spec.profile.proxy:
        return f"{lead}, which [profile] proxy = false turns off"
    if not isinstance(svc, ProcessService):
        return f"{lead}, which stands in front of process services; {name} is a {svc.kind}"
    if svc.proxy is False:
        return f"{lead}, and {name} has proxy = false"
    if svc.port is False:
        return f"{lead}, and {name} has port = false"
    return (
        f"{lead}, and {name} has none: give it an http ready probe on its own port "
        '(ready = { http = "/health" }) or set proxy = true'
    )


def _seconds(value: Any) -> float:
    return parse_duration(value)


def _milliseconds(value: Any) -> float:
    example = "e.g. '200ms' or '1.5s'"
    if not isinstance(value, str) or not re.search(r"\d\s*[A-Za-z]+\s*$", value):
        raise ValueError(f"{value!r}: give the latency with a unit, {example}")
    try:
        return parse_duration(value) * 1000.0
    except ValueError as exc:
        if "greater than zero" in str(exc):
            raise
        raise ValueError(f"{value!r} is not a latency; write {example}") from None


def _count(value: Any, *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r}: give a whole number, e.g. 50")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{value!r}: a limit must be greater than zero")
    return value


def _size(value: Any) -> tuple[int, int]:
    """Bytes and the base (1000 or 1024) the size was written in."""
    hint = "use e.g. '500MB', '1.5GiB', '512KiB' or a number of bytes"
    if isinstance(value, bool | float):
        raise ValueError(f"{value!r} is not a size; {hint}")
    if isinstance(value, int):
        number, unit = float(value), "b"
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        number, unit = float(m[1]), (m[2] or "b").lower()
        if unit not in SIZE_UNITS:
            raise ValueError(
                f"{value!r}: unknown size unit {m[2]!r}; use B, kB, MB, GB, TB "
                "(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
            )
        if m[2] is None and "." in m[1]:
            raise ValueError(f"{value!r}: a number of bytes is whole; {hint}")
    else:
        raise ValueError(f"{value!r} is not a size; {hint}")
    factor, base = SIZE_UNITS[unit]
    size = round(number * factor)
    if size <= 0:
        raise ValueError(f"{value!r}: a limit must be greater than zero")
    return size, base
