"""What ``tempstack run`` and ``tempstack history`` print when they are done."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tempstack._clock import iso
from tempstack.report import history as hist
from tempstack.report.console import err, out
from tempstack.report.schema import Counts, Journal
from tempstack.report.summary import (
    budget_outcome,
    fmt_bytes,
    fmt_latency,
    n_plus_one_findings,
    one_line,
    ordered_budgets,
    peak_memory,
)
from tempstack.spec.stages import StageSpec

if TYPE_CHECKING:
    from tempstack.stack import RunResult

_COLOUR = {"passed": "green", "skipped": "dim"}
_BUDGET_STYLE = {"exceeded": "red", "passed": "dim", "no data": "yellow"}
_BUDGET_MARK = {"exceeded": "✗", "passed": "✓", "no data": "?"}
MAX_PROFILE_LINES = 10  # slow routes and N+1 findings, each; the rest is in the report
QUERY_CHARS = 100


def describe_stage(stage: StageSpec) -> str:
    if stage.kind == "command":
        return stage.run if isinstance(stage.run, str) else shlex.join(stage.run)
    if stage.kind == "locust":
        return f"{stage.locustfile}: {stage.users} users for {stage.duration:g}s"
    args = stage.args if isinstance(stage.args, str) else shlex.join(stage.args)
    return f"pytest {args}".rstrip()


def _counts(c: Counts | None) -> str:
    if c is None:
        return ""
    parts = [f"{c.passed} passed"]
    for name in ("failed", "errors", "skipped"):
        if n := getattr(c, name):
            parts.append(f"{n} {name}")
    return ", ".join(parts)


def budget_lines(journal: Journal) -> list[Text]:
    """The budgets block: a count, then one line per budget, exceeded ones first."""
    if not journal.budgets:
        return []
    ordered = ordered_budgets(journal.budgets)
    tally: dict[str, int] = {}
    for b in ordered:
        tally[b.status] = tally.get(b.status, 0) + 1
    head = ", ".join(f"{n} {status}" for status, n in tally.items())
    lines = [Text(f"  budgets: {head}", style="bold red" if "exceeded" in tally else "")]
    for b in ordered:
        style = _BUDGET_STYLE.get(b.status, "")
        mark = _BUDGET_MARK.get(b.status, " ")
        lines.append(
            Text.assemble(
                f"    {mark} {b.status:<8}  ",
                (b.key, "bold" if b.status == "exceeded" else ""),
                f"  {budget_outcome(b)}",
                style=style,
            )
        )
    return lines


def profile_lines(journal: Journal) -> list[Text]:
    """One line per slow route and per N+1 finding, then the peak RSS of every service."""
    lines: list[Text] = []
    profile = journal.profile
    slow = [r for r in profile.http if r.slow] if profile else []
    slow.sort(key=lambda r: -r.p95)
    for r in slow[:MAX_PROFILE_LINES]:
        lines.append(
            Text.assemble(
                ("  slow  ", "yellow"),
                f"{r.service} {r.method} {r.route}  p95 {fmt_latency(r.p95)}, "
                f"max {fmt_latency(r.max)}, {r.count} request{'' if r.count == 1 else 's'}",
            )
        )
    if len(slow) > MAX_PROFILE_LINES:
        lines.append(Text(f"  slow  … and {len(slow) - MAX_PROFILE_LINES} more routes"))
    findings = n_plus_one_findings(journal)
    for f in findings[:MAX_PROFILE_LINES]:
        where = f.test or f"stage {f.stage or '?'}"
        lines.append(
            Text.assemble(
                ("  N+1   ", "yellow"), f"{where}: {f.calls}x {one_line(f.query, QUERY_CHARS)}"
            )
        )
    if len(findings) > MAX_PROFILE_LINES:
        lines.append(Text(f"  N+1   … and {len(findings) - MAX_PROFILE_LINES} more"))
    memory = peak_memory(journal.services)
    if memory:
        peaks = ", ".join(f"{name} {fmt_bytes(m.peak_rss)}" for name, m in memory)
        lines.append(Text(f"  peak RSS: {peaks}", style="dim"))
    return lines


_WARNED = {
    "snapshot.error",
    "snapshot.unsupported",
    "service.seed_error",
    "profile.error",
    "teardown.error",
}


def print_run_result(result: RunResult) -> None:
    """The run's outcome on the terminal (a CI log others read): secrets masked."""
    journal = result.reports.document if result.reports is not None else None
    mask = result.masker.text
    for line in budget_lines(journal) if journal is not None else []:
        err.print(line)
    repeated = any(o.attempt > 1 for o in result.outcomes)
    for o in result.outcomes:
        colour = _COLOUR.get(o.status.value, "red")
        label = f"{o.stage}#{o.attempt}" if repeated else o.stage
        detail = _counts(o.counts)
        if o.load is not None and o.load.total is not None:
            t = o.load.total
            detail = f"{t.requests} requests, p95 {t.percentiles.get('p95', 0):.0f} ms"
        err.print(
            f"  stage {label:<14} [{colour}]{o.status.value:<7}[/] {o.duration:7.2f}s  {detail}",
            highlight=False,
        )
        if o.status.value != "passed" and o.reason:
            err.print(f"      {mask(o.reason)}", markup=False, style="red")
    for line in profile_lines(journal) if journal is not None else []:
        err.print(line)
    for event in journal.events if journal is not None else []:
        if event.kind in _WARNED:  # measuring or caching went wrong; the run went on
            where = f" {event.service}" if event.service else ""
            problem = event.detail.get("error") or event.detail
            err.print(f"warning: {event.kind}{where}: {problem}", markup=False, style="yellow")
    if result.error is not None:
        err.print(f"error: {mask(str(result.error))}", markup=False)
    if result.kept_until is not None:
        err.print(
            f"kept: {result.run_id} until {iso(result.kept_until)}\n"
            + (
                "".join(f"  reach it:  {line}\n" for line in result.reach)
                if result.reach
                else f'  reach it:  eval "$(tempstack env {result.run_id})"\n'
            )
            + f"  remove it: tempstack down {result.run_id}",
            markup=False,
        )
    reports = result.reports
    for problem in reports.errors if reports else []:
        err.print(f"warning: report not written: {problem}", markup=False, style="yellow")
    if reports is not None and reports.html is not None:
        err.print(f"report: {reports.html}", markup=False)
        if reports.summary is not None:
            err.print(f"summary: {reports.summary}", markup=False)
    else:
        err.print(f"report: {result.report_dir}", markup=False)


def show_history(path: Path, stack: str, limit: int, all_tests: bool, as_json: bool) -> None:
    # Piped into a file or a CI log, nothing gains from 80 columns and ids would be cut.
    console = out if out.is_terminal else Console(width=240, highlight=False, soft_wrap=True)
    runs = hist.recent_runs(path, limit, stack)
    rates = hist.test_rates(path, limit, stack, only_failing=not all_tests)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "runs": [dataclasses.asdict(r) for r in runs],
                    "tests": [{**dataclasses.asdict(r), "rate": r.rate} for r in rates],
                }
            )
        )
        return
    if not runs:
        err.print(f"no runs recorded yet for {stack} (history: {path})", markup=False)
        return
    table = Table(title=f"last {len(runs)} runs of {stack}", title_justify="left", box=None)
    table.add_column("run", no_wrap=True)
    for col in ("started", "result", "time", "stages"):
        table.add_column(col)
    for r in runs:
        colour = _COLOUR.get(r.status or "", "red")
        table.add_row(
            Text(r.run_id),
            r.started.replace("T", " ")[:19],
            f"[{colour}]{r.status}[/] ({r.exit_code})",
            "-" if r.duration is None else f"{r.duration:.1f}s",
            Text(r.stages + (f"  x{r.repeat}" if r.repeat > 1 else "")),
        )
    console.print(table)
    if not rates:
        console.print(f"\nno test failed in the last {len(runs)} runs", style="green")
        return
    tests = Table(title="\nfailure rate per test", title_justify="left", box=None)
    tests.add_column("test", no_wrap=True)
    for col in ("stage", "failed", "rate"):
        tests.add_column(col, no_wrap=True)
    tests.add_column("last failure", no_wrap=True, overflow="ellipsis")
    for t in rates:
        tests.add_row(  # Text: ids like test_x[chromium] are not markup
            Text(t.test_id),
            Text(t.stage),
            f"{t.failures}/{t.executions}",
            f"{t.rate * 100:.0f}%",
            Text((t.last_message or "")[:80]),
        )
    console.print(tests)
