"""The self-contained HTML report of a run: one file that works offline and as a CI artifact.

Everything the page needs is inside it: the CSS, the run's data as JSON and Chart.js (vendored,
MIT, see ``assets/CHARTJS-LICENSE.md``). Artifacts (stage logs, traces, screenshots, service
logs) stay next to it and are linked by their paths relative to the report dir, so the dir can
be uploaded and browsed as is. Everything that comes from the run is escaped: test names, log
lines, messages, routes and SQL statements are data, never markup.

Budgets open the page (exceeded ones first), above the failures; the profile (memory, HTTP
routes, SQL) has its own section, and each test's share of it is shown on its row.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from tempstack.engine.bundle import mask_url
from tempstack.report.flaky import rank
from tempstack.report.junit import count
from tempstack.report.schema import (
    Counts,
    Flakiness,
    Journal,
    LoadResult,
    RouteStats,
    ServiceRecord,
    StageOutcome,
    TestCase,
)
from tempstack.report.summary import (
    budget_outcome,
    fmt_bytes,
    n_plus_one_findings,
    one_line,
    ordered_budgets,
    parse_n_plus_one,
    peak_memory,
    status_label,
)
from tempstack.spec.thresholds import threshold_value

REPORT_NAME = "report.html"

FAILING_TESTS = ("failed", "error")
FAILING_STAGES = ("failed", "timeout", "error")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
VIDEO_SUFFIXES = (".webm", ".mp4")

# Details longer than this are folded into a <details> so failures stay scannable.
LONG_LINES = 12
LONG_CHARS = 1500

# Waterfall segments, keyed by the state that ends them: (legend label, colour). A segment
# starts at the latest earlier state of its chain that has a time, so a missing timing (no
# ``listening`` for a process without a port) collapses instead of leaving a hole.
SERVICE_CHAIN = ("starting", "started", "listening", "ready")
JOB_CHAIN = ("starting", "started", "completed")
SEGMENTS: dict[str, tuple[str, str]] = {
    "started": ("prepare + spawn", "#8c959f"),
    "listening": ("started → listening", "#54aeff"),
    "ready": ("listening → ready", "#2da44e"),
    "completed": ("job running", "#bf8700"),
    "failed": ("service failed", "#ff8182"),
}
STAGE_COLOURS = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "timeout": "#bc4c00",
    "error": "#a40e26",
    "skipped": "#afb8c1",
}
STACK_READY = ("stack ready", "#d0d7de")
MB = 1000**2  # the memory chart's unit, decimal as in [budgets]


@dataclass(frozen=True)
class StageView:
    """A stage outcome with what the template needs precomputed."""

    o: StageOutcome
    dom_id: str
    label: str
    tests: list[TestCase]  # failing ones first, otherwise in JUnit order
    failing: list[TestCase]
    counts: Counts | None
    profiled: bool  # some test carries a profile: the table gets its columns

    @property
    def failed(self) -> bool:
        return self.o.status in FAILING_STAGES

    @property
    def load_id(self) -> str:
        return "load-" + self.dom_id.removeprefix("stage-")


def render_html(journal: Journal, report_dir: Path) -> Path:
    """Write <report_dir>/report.html and return its path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / REPORT_NAME
    path.write_text(render_page(journal), encoding="utf-8")
    return path


def render_page(journal: Journal) -> str:
    """The report as one HTML string."""
    stages = _stage_views(journal)
    services = journal.services
    failed_services = [s for s in services if s.state == "failed" or s.error]
    failed_stages = [s for s in stages if s.failed]
    run_ready = next((e.t for e in journal.events if e.kind == "run.ready"), None)
    if run_ready is None and journal.profile is not None:
        run_ready = journal.profile.ready
    data = {
        "waterfall": _waterfall(services, stages, run_ready),
        "load": [_load_data(s.load_id, s.o.load) for s in stages if s.o.load is not None],
        "memory": _memory_data(services),
    }
    profile = journal.profile
    routes = _sorted_routes(profile.http) if profile else []
    queries = profile.queries if profile else []
    findings = n_plus_one_findings(journal)
    template = _environment().get_template("report.html.j2")
    return template.render(
        j=journal,
        result=journal.result,
        stages=stages,
        services=services,
        failed_stages=failed_stages,
        failed_services=failed_services,
        tails=[s for s in services if s.log_tail],
        load_stages=[s for s in stages if s.o.load is not None],
        flakiness=_sorted_flakiness(journal.flakiness) if journal.repeat > 1 else [],
        totals=_totals(stages),
        run_ready=run_ready,
        data=data,
        chartjs=_chartjs(),
        budgets=ordered_budgets(journal.budgets),
        profile=profile,
        routes=routes,
        queries=queries,
        findings=findings,
        memory=data["memory"] is not None,
        has_profile=bool(routes or queries or findings or data["memory"]),
    )


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tempstack.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        secs=fmt_seconds,
        ms=fmt_ms,
        fine_ms=fmt_fine_ms,
        num=fmt_number,
        pct=fmt_percent,
        unit=threshold_value,
        href=relative_href,
        mask=mask_url,
        is_image=lambda p: PurePosixPath(p).suffix.lower() in IMAGE_SUFFIXES,
        is_video=lambda p: PurePosixPath(p).suffix.lower() in VIDEO_SUFFIXES,
        is_long=is_long,
        bytes=fmt_bytes,
        oneline=one_line,
        slug=lambda text: str(text).replace(" ", "-"),
        basename=lambda p: PurePosixPath(p).name or p,
        json=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, default=str),
    )
    env.globals.update(
        endpoint_label=endpoint_label,
        has_latency=has_latency,
        budget_outcome=budget_outcome,
        status_label=status_label,
        parse_n_plus_one=parse_n_plus_one,
    )
    return env


@functools.cache
def _chartjs() -> Markup:
    """Chart.js, to be inlined in a <script>; it must not be able to end that element early."""
    text = (files("tempstack.report") / "assets" / "chart.umd.min.js").read_text("utf-8")
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise RuntimeError("the vendored chart.umd.min.js cannot be inlined in a <script>")
    return Markup(text)


def _stage_views(journal: Journal) -> list[StageView]:
    views = []
    for o in journal.stages:
        suffix = f"-attempt-{o.attempt}" if o.attempt > 1 else ""
        label = f"{o.stage} #{o.attempt}" if journal.repeat > 1 else o.stage
        failing = [t for t in o.tests if t.status in FAILING_TESTS]
        rest = [t for t in o.tests if t.status not in FAILING_TESTS]
        views.append(
            StageView(
                o=o,
                dom_id=f"stage-{o.stage}{suffix}",
                label=label,
                tests=failing + rest,
                failing=failing,
                counts=o.counts if o.counts is not None or not o.tests else count(o.tests),
                profiled=any(t.profile is not None for t in o.tests),
            )
        )
    return views


def _totals(stages: list[StageView]) -> dict[str, int]:
    totals = {"stages": len(stages), "stages_passed": 0, "tests": 0, "failed": 0, "passed": 0}
    for s in stages:
        totals["stages_passed"] += s.o.status == "passed"
        if s.counts is not None:
            totals["tests"] += s.counts.tests
            totals["passed"] += s.counts.passed
            totals["failed"] += s.counts.failed + s.counts.errors
    return totals


def _sorted_flakiness(rows: list[Flakiness]) -> list[Flakiness]:
    """Flaky (both passed and failed) first, then always failing, then always passing."""
    return sorted(rows, key=lambda f: (rank(f.passed, f.failed), -f.failed, f.stage, f.id))


def _sorted_routes(routes: list[RouteStats]) -> list[RouteStats]:
    """Slowest p95 first; the table can be re-sorted in the page."""
    return sorted(routes, key=lambda r: (-r.p95, r.service, r.route, r.method))


def _memory_data(services: list[ServiceRecord]) -> dict[str, Any] | None:
    """Peak and mean RSS per sampled service in MB, the largest peak first."""
    sampled = peak_memory(services)
    if not sampled:
        return None
    return {
        "labels": [name for name, _ in sampled],
        "peak": [round(m.peak_rss / MB, 2) for _, m in sampled],
        "mean": [round(m.mean_rss / MB, 2) for _, m in sampled],
    }


def _waterfall(
    services: list[ServiceRecord], stages: list[StageView], run_ready: float | None
) -> dict[str, Any] | None:
    """Rows and floating-bar datasets ([start, end] per row, null where a row has none)."""
    rows: list[str] = []
    segments: dict[str, list[tuple[int, float, float]]] = {}

    def add_row(label: str, spans: list[tuple[str, float, float]]) -> None:
        for key, start, end in spans:
            segments.setdefault(key, []).append((len(rows), start, max(start, end)))
        if spans:
            rows.append(label)

    if run_ready is not None:
        add_row("stack", [("stack", 0.0, run_ready)])
    for svc in services:
        chain = JOB_CHAIN if svc.kind == "job" or "completed" in svc.timings else SERVICE_CHAIN
        spans: list[tuple[str, float, float]] = []
        last = None
        for state in chain:
            at = svc.timings.get(state)
            if at is None:
                continue
            if last is not None:
                spans.append((state, last, at))
            last = at
        failed_at = svc.timings.get("failed")
        if failed_at is not None and last is not None:
            spans.append(("failed", last, failed_at))
        restored = " (restored)" if svc.snapshot == "restored" else ""
        add_row(svc.name + restored, spans)
    for stage in stages:
        add_row(f"stage {stage.label}", [(f"stage:{stage.o.status}", stage.o.start, stage.o.end)])
    if not rows:
        return None

    datasets = []
    for key, segs in segments.items():
        if key == "stack":
            label, colour = STACK_READY
        elif key.startswith("stage:"):
            status = key.removeprefix("stage:")
            label, colour = f"stage {status}", STAGE_COLOURS.get(status, "#57606a")
        else:
            label, colour = SEGMENTS[key]
        data: list[list[float] | None] = [None] * len(rows)
        for row, start, end in segs:
            data[row] = [round(start, 4), round(end, 4)]
        datasets.append({"key": key, "label": label, "color": colour, "data": data})
    order = ["stack", *SEGMENTS, *(f"stage:{s}" for s in STAGE_COLOURS)]
    datasets.sort(key=lambda d: order.index(d["key"]) if d["key"] in order else len(order))
    return {"labels": rows, "datasets": datasets}


def _load_data(load_id: str, load: LoadResult) -> dict[str, Any]:
    timeline = load.timeline
    endpoints = [e for e in load.endpoints if e.requests]
    return {
        "id": load_id,
        "timeline": {
            "t": [p.t for p in timeline],
            "users": [p.users for p in timeline],
            "rps": [p.rps for p in timeline],
            "failures_per_s": [p.failures_per_s for p in timeline],
            "p50": [p.p50 for p in timeline],
            "p95": [p.p95 for p in timeline],
        },
        "endpoints": {
            "labels": [endpoint_label(e.method, e.name) for e in endpoints],
            **{k: [e.percentiles.get(k) for e in endpoints] for k in ("p50", "p95", "p99")},
        },
    }


def has_latency(load: LoadResult) -> bool:
    return any(p.p50 is not None or p.p95 is not None for p in load.timeline)


def endpoint_label(method: str, name: str) -> str:
    return f"{method} {name}".strip()


def relative_href(path: str) -> str:
    """A journal path (relative to the report dir) as a relative URL.

    Percent-encoding everything but ``/`` keeps ``#``, ``?`` and spaces in file names working,
    and turns anything that looks like a scheme (``javascript:``) into a harmless relative path.
    """
    return quote(path.replace("\\", "/").lstrip("/"), safe="/")


def is_long(text: str | None) -> bool:
    return text is not None and (text.count("\n") >= LONG_LINES or len(text) > LONG_CHARS)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.3f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)} m {seconds:04.1f} s"


def fmt_number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_fine_ms(value: float | None) -> str:
    """SQL timings: most statements take a fraction of a millisecond."""
    if value is not None and value < 1:
        return f"{value:.2f} ms" if value >= 0.01 else ("0 ms" if value == 0 else "<0.01 ms")
    return fmt_ms(value)


def fmt_percent(ratio: float | None) -> str:
    """A 0..1 ratio as a percentage."""
    return "—" if ratio is None else f"{ratio * 100:.2f} %"
