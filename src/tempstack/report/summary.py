"""``summary.md``: short enough for a merge-request comment, rendered from the journal.

Budgets first when the stack has any (exceeded ones on top), then pass/fail per stage, the
failures with their first lines and the tail of the log that explains them, links to
artifacts, and a compact profile (slowest routes, N+1 findings, peak memory, SQL per stage).
Links are relative to the report directory, or absolute when ``TEMPSTACK_REPORT_URL`` gives
where the directory is published (a CI artifact URL, say).

The helpers that pick the figures worth a short report (``ordered_budgets``,
``slowest_routes``, ``n_plus_one_findings``, ``peak_memory``...) are shared with the
terminal output and the HTML report, so all of them agree on what they show.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from tempstack.report.schema import (
    BudgetResult,
    Journal,
    MemoryStats,
    NPlusOne,
    Profile,
    RouteStats,
    ServiceRecord,
    StageOutcome,
)
from tempstack.spec.thresholds import threshold_value

ICON = {
    "passed": "✅",
    "failed": "❌",
    "error": "💥",
    "timeout": "⏱️",
    "skipped": "⏭️",
    "budget": "❌",
}
#: How each report names a run's status; "budget" alone would read like a noun.
STATUS_LABEL = {"budget": "budget exceeded"}
BUDGET_ICON = {"exceeded": "❌", "no data": "⚠️", "passed": "✅"}
BUDGET_ORDER = {"exceeded": 0, "no data": 1, "passed": 2}
MAX_FAILURES = 15
DETAIL_LINES = 12
TAIL_LINES = 15
TOP_ROUTES = 5
TOP_MEMORY = 5
MAX_FINDINGS = 10
QUERY_CHARS = 120
URL_VAR = "TEMPSTACK_REPORT_URL"
_N_PLUS_ONE = re.compile(r"^\s*(\d+)\s*x\s+(.*)$", re.S)


def _link(text: str, path: str, base: str | None) -> str:
    target = f"{base.rstrip('/')}/{path}" if base else path
    return f"[{text}]({target.replace(' ', '%20')})"


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m {seconds % 60:04.1f}s"


def _text(text: str) -> str:
    """Plain text in Markdown: no HTML gets through, no table cell is split."""
    return html.escape(text, quote=False).replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span that no backtick in ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(lines: list[str]) -> str:
    """A code block that no run of backticks in the text can close."""
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{body}\n{fence}"


def _results(stage: StageOutcome) -> str:
    if stage.load is not None and stage.load.total is not None:
        total = stage.load.total
        p95 = total.percentiles.get("p95")
        ths = stage.load.thresholds
        held = sum(t.passed for t in ths)
        text = (
            f"{total.requests} requests, {total.rps:.1f}/s, "
            f"p95 {p95:.0f} ms, {total.failure_rate * 100:.2f}% failed"
            if p95 is not None
            else f"{total.requests} requests"
        )
        return text + (f", thresholds {held}/{len(ths)}" if ths else "")
    c = stage.counts
    if c is None or c.tests == 0:
        return (stage.reason or "") if stage.status != "passed" else ""
    parts = [f"{c.passed} passed"]
    parts += [f"{n} {what}" for n, what in ((c.failed, "failed"), (c.errors, "errors")) if n]
    parts += [f"{c.skipped} skipped"] if c.skipped else []
    return ", ".join(parts)


def status_label(status: str) -> str:
    return STATUS_LABEL.get(status, status)


def ordered_budgets(budgets: list[BudgetResult]) -> list[BudgetResult]:
    """Exceeded first, then those without data, then the ones that held; file order within."""
    return sorted(budgets, key=lambda b: BUDGET_ORDER.get(b.status, len(BUDGET_ORDER)))


def budget_outcome(budget: BudgetResult) -> str:
    """The budget's line without its key: ``240 ms > 200 ms``, ``no data (why)``."""
    text = budget.text
    if text.startswith(budget.key):
        text = text[len(budget.key) :].lstrip(": ").strip()
    return text or budget.status


def one_line(text: str, limit: int = QUERY_CHARS) -> str:
    """A statement on one line (whitespace collapsed), cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fmt_bytes(size: float | None) -> str:
    """Decimal units (as ``[budgets]`` reads ``MB``), about three significant figures."""
    if size is None:
        return "—"
    for factor, unit in ((1000**3, "GB"), (1000**2, "MB"), (1000, "kB")):
        if abs(size) >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{size:.0f} B"


def fmt_latency(ms: float | None) -> str:
    return threshold_value(ms, "ms") if ms is not None else "—"


def slowest_routes(profile: Profile | None, limit: int = TOP_ROUTES) -> list[RouteStats]:
    """The routes with the highest p95, slowest first."""
    routes = profile.http if profile is not None else []
    return sorted(routes, key=lambda r: (-r.p95, -r.count, r.service, r.route))[:limit]


def parse_n_plus_one(text: str) -> tuple[int, str]:
    """``'<calls>x <statement>'`` (a JUnit property) as (calls, statement); 0 when unsaid."""
    match = _N_PLUS_ONE.match(text)
    return (int(match[1]), match[2].strip()) if match else (0, text.strip())


def n_plus_one_findings(journal: Journal) -> list[NPlusOne]:
    """Every N+1 finding once, most repeated first.

    They come from the postgres profiles (``profile.queries[].n_plus_one``) and from the
    tests' own profiles (``tempstack.n_plus_one`` JUnit properties); a statement the two
    both report for one test is listed once.
    """
    found: list[NPlusOne] = []
    for queries in journal.profile.queries if journal.profile else []:
        found.extend(queries.n_plus_one)
    for stage in journal.stages:
        for test in stage.tests:
            for entry in test.profile.n_plus_one if test.profile else []:
                calls, query = parse_n_plus_one(entry)
                if not any(_same_finding(f, test.id, query) for f in found):
                    found.append(
                        NPlusOne(stage=stage.stage, test=test.id, query=query, calls=calls)
                    )
    return sorted(found, key=lambda f: -f.calls)


def _same_finding(finding: NPlusOne, test: str, query: str) -> bool:
    """One statement, though either side may have cut its text short."""
    if finding.test != test:
        return False
    a, b = one_line(finding.query, 10_000).rstrip("…"), one_line(query, 10_000).rstrip("…")
    return a == b if not (a and b) else a.startswith(b) or b.startswith(a)


def peak_memory(services: list[ServiceRecord]) -> list[tuple[str, MemoryStats]]:
    """Services with memory samples, the largest peak first."""
    sampled = [(s.name, s.memory) for s in services if s.memory is not None]
    return sorted(sampled, key=lambda item: -item[1].peak_rss)


def render_summary(journal: Journal, base_url: str | None = None) -> str:
    base = base_url if base_url is not None else os.environ.get(URL_VAR) or None
    result = journal.result
    status = result.status if result else "error"
    icon = ICON.get(status, "❌") if status != "interrupted" else "🛑"
    exit_code = result.exit_code if result else "?"
    out = [
        f"## {icon} tempstack · {journal.stack}: {status_label(status)} (exit {exit_code})",
        "",
        f"Run `{journal.run_id}` · {_secs(journal.duration)}"
        + (f" · repeated {journal.repeat} times" if journal.repeat > 1 else "")
        + f" · {_link('full report', 'report.html', base)}",
        "",
    ]
    if result and result.error and status != "failed":
        out += [f"**{_text(result.error.splitlines()[0])}**", ""]
    out += _budgets(journal)
    if journal.stages:
        out += ["| Stage | Kind | Result | Details | Time |", "|---|---|---|---|---|"]
        for s in journal.stages:
            name = s.stage if journal.repeat <= 1 else f"{s.stage} #{s.attempt}"
            out.append(
                f"| {name} | {s.kind} | {ICON.get(s.status, '')} {s.status} | "
                f"{_text(_results(s))} | {_secs(s.duration)} |"
            )
        out.append("")
    out += _failures(journal, base)
    out += _flaky(journal)
    out += _start_failure(journal)
    out += _profile(journal)
    return "\n".join(out).rstrip() + "\n"


def _budgets(journal: Journal) -> list[str]:
    if not journal.budgets:
        return []
    out = ["| | Budget | Result |", "|---|---|---|"]
    for b in ordered_budgets(journal.budgets):
        icon = BUDGET_ICON.get(b.status, "")
        out.append(f"| {icon} | {_cell_code(b.key)} | {_text(budget_outcome(b))} |")
    return [*out, ""]


def _cell_code(text: str) -> str:
    """A code span inside a table cell: a pipe splits a cell even inside code."""
    return _code(text).replace("|", "\\|")


def _profile(journal: Journal) -> list[str]:
    """Short: the five slowest routes, N+1 findings, peak RSS and SQL per stage."""
    profile = journal.profile
    routes = slowest_routes(profile)
    findings = n_plus_one_findings(journal)
    memory = peak_memory(journal.services)
    queries = [q for q in profile.queries if q.by_stage or q.calls] if profile else []
    if not (routes or findings or memory or queries):
        return []
    out = ["### Profile", ""]
    if routes and profile is not None:
        out += [
            f"Slowest routes by p95 (slow above {fmt_latency(profile.slow_ms)}):",
            "",
            "| Route | Requests | Errors | p50 | p95 | max |",
            "|---|---|---|---|---|---|",
        ]
        for r in routes:
            flag = " ⚠️ slow" if r.slow else ""
            out.append(
                f"| {_cell_code(f'{r.service} {r.method} {r.route}')}{flag} | {r.count:,} "
                f"| {r.errors:,} | {fmt_latency(r.p50)} | {fmt_latency(r.p95)} "
                f"| {fmt_latency(r.max)} |"
            )
        out.append("")
    if findings:
        out += ["N+1 queries (one statement repeated within a test):", ""]
        for f in findings[:MAX_FINDINGS]:
            where = _code(f.test) if f.test else f"stage {_text(f.stage or '?')}"
            out.append(f"- {where}: {f.calls}x {_code(one_line(f.query))}")
        if len(findings) > MAX_FINDINGS:
            out.append(f"- … and {len(findings) - MAX_FINDINGS} more; see the full report")
        out.append("")
    if memory:
        peaks = " · ".join(f"{_text(n)} {fmt_bytes(m.peak_rss)}" for n, m in memory[:TOP_MEMORY])
        more = f" · {len(memory) - TOP_MEMORY} more" if len(memory) > TOP_MEMORY else ""
        out += [f"Peak RSS: {peaks}{more}", ""]
    for q in queries:
        stages = " · ".join(f"{_text(stage)} {calls:,}" for stage, calls in q.by_stage.items())
        out += [
            f"SQL statements on {_text(q.service)}: {q.calls:,} in all"
            + (f" ({stages})" if stages else ""),
            "",
        ]
    return out


def _failures(journal: Journal, base: str | None) -> list[str]:
    out: list[str] = []
    listed = 0
    for s in journal.stages:
        if s.status == "passed":
            continue
        label = s.stage if journal.repeat <= 1 else f"{s.stage} (attempt {s.attempt})"
        out += [f"### {ICON.get(s.status, '')} {label}: {_text(s.reason or s.status)}", ""]
        for t in s.tests:
            if t.status not in ("failed", "error"):
                continue
            listed += 1
            if listed > MAX_FAILURES:
                continue
            out.append(f"- {_code(t.id)}: {_text(t.message or t.status)}")
            if t.details:
                detail = t.details.splitlines()[-DETAIL_LINES:]
                out += [
                    "",
                    "<details><summary>details</summary>",
                    "",
                    _fence(detail),
                    "",
                    "</details>",
                ]
            links = [_link(Path(a).name, a, base) for a in t.artifacts]
            if links:
                out.append(f"  artifacts: {', '.join(links)}")
        if s.load is not None:
            for th in s.load.thresholds:
                if not th.passed:
                    actual = threshold_value(th.actual, th.unit)
                    out.append(f"- threshold {_code(th.text)}: actual {actual}")
        if s.tail:
            out += [
                "",
                "<details><summary>log tail</summary>",
                "",
                _fence(s.tail[-TAIL_LINES:]),
                "",
                "</details>",
            ]
        if s.log:
            out.append(f"\nlog: {_link(s.log, s.log, base)}")
        out.append("")
    if listed > MAX_FAILURES:
        out.append(f"… and {listed - MAX_FAILURES} more failures; see the full report.\n")
    return out


def _flaky(journal: Journal) -> list[str]:
    flaky = [f for f in journal.flakiness if f.passed and f.failed]
    failing = [f for f in journal.flakiness if f.failed and not f.passed]
    if journal.repeat <= 1 or not (flaky or failing):
        return []
    out = ["### Flakiness", "", "| Test | Stage | Passed | Failed |", "|---|---|---|---|"]
    for f in (flaky + failing)[:MAX_FAILURES]:
        cell = _code(f.id).replace("|", "\\|")  # a pipe splits a cell even inside code
        out.append(f"| {cell} | {f.stage} | {f.passed} | {f.failed} |")
    return [*out, ""]


def _start_failure(journal: Journal) -> list[str]:
    failed = [s for s in journal.services if s.state == "failed" or s.error]
    out: list[str] = []
    for s in failed:
        out += [f"### 💥 service {s.name} ({s.kind}): {_text(s.error or s.state)}", ""]
        if s.log_tail:
            out += [_fence(s.log_tail[-TAIL_LINES:]), ""]
    return out


def write_summary(journal: Journal, path: Path) -> Path:
    path.write_text(render_summary(journal), encoding="utf-8")
    return path
