"""Load-test thresholds as written in a stack file: ``"GET /orders p95 < 300ms"``.

Grammar: ``[METHOD] [NAME] METRIC OP VALUE``. Without an endpoint the threshold applies to
the aggregate of all requests. Latency metrics (``p50`` … ``p100``, ``median``, ``avg``,
``min``, ``max``) take a duration with a unit; ``failure rate`` a percentage or a fraction;
``rps``, ``requests`` and ``failures`` a plain number.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from tempstack.spec.fields import parse_duration

PERCENTILES = ("50", "66", "75", "80", "90", "95", "98", "99", "99.9", "99.99", "100")
LATENCY = {f"p{p}" for p in PERCENTILES} | {"median", "avg", "min", "max"}
_ALIASES = {
    "mean": "avg",
    "fail ratio": "failure rate",
    "error rate": "failure rate",
    "failure_rate": "failure rate",
}
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_METHODS = "GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS"
_METRIC = (
    r"p\d+(?:\.\d+)?|median|avg|mean|min|max|failure[ _]rate|fail ratio|error rate"
    r"|failures|rps|requests"
)
_PATTERN = re.compile(
    rf"^\s*(?:(?P<method>{_METHODS})\s+)?(?:(?P<name>\S+)\s+)?"
    rf"(?P<metric>{_METRIC})\s*(?P<op><=|>=|<|>)\s*(?P<value>\S+)\s*$",
    re.IGNORECASE,
)
EXAMPLES = "'p95 < 300ms', 'failure rate < 1%', 'GET /orders p99 <= 1s', 'rps > 20'"


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str  # canonical: p95, avg, failure rate, rps, ...
    op: str
    limit: float  # milliseconds for latency, a fraction for failure rate
    method: str | None = None
    name: str | None = None

    @property
    def endpoint(self) -> str | None:
        if self.name is None:
            return None
        return f"{self.method} {self.name}" if self.method else self.name

    def holds(self, actual: float) -> bool:
        return OPS[self.op](actual, self.limit)

    def scale(self) -> float:
        """Results are kept in the units people read: a failure rate as a percentage."""
        return 100.0 if self.metric == "failure rate" else 1.0

    def unit(self) -> str:
        if self.metric in LATENCY:
            return "ms"
        return "%" if self.metric == "failure rate" else ""


def parse_threshold(text: str) -> Threshold:
    """Parse one threshold; raises ``ValueError`` with what would be valid."""
    m = _PATTERN.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a threshold; write e.g. {EXAMPLES}")
    metric = m["metric"].lower()
    metric = _ALIASES.get(metric, metric)
    if metric.startswith("p") and metric not in LATENCY:
        raise ValueError(
            f"{text!r}: unknown percentile {metric!r}; use one of "
            + ", ".join(f"p{p}" for p in PERCENTILES)
        )
    raw = m["value"]
    if metric in LATENCY:
        if not re.search(r"[a-z]$", raw):
            raise ValueError(f"{text!r}: give the latency with a unit, e.g. '300ms' or '1.5s'")
        limit = parse_duration(raw) * 1000.0
    elif metric == "failure rate":
        limit = _fraction(text, raw)
    else:
        try:
            limit = float(raw)
        except ValueError:
            raise ValueError(f"{text!r}: {metric} takes a number, got {raw!r}") from None
    method = m["method"].upper() if m["method"] else None
    if method is not None and m["name"] is None:
        raise ValueError(f"{text!r}: a method needs an endpoint name, e.g. 'GET /orders p95 ...'")
    return Threshold(text, metric, m["op"], limit, method, m["name"])


def _fraction(text: str, raw: str) -> float:
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{text!r}: failure rate takes a percentage such as '1%'") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r}: a failure rate lies between 0% and 100%")
    return value


def threshold_value(value: float | None, unit: str) -> str:
    """A threshold's limit or actual value, as every report prints it."""
    if value is None:
        return "no requests"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value:g}"
