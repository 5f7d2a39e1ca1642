"""``summary.md``: short enough for a merge-request comment, rendered from the journal.

Pass/fail per stage, then the failures with their first lines and the tail of the log that
explains them, then links to artifacts. Links are relative to the report directory, or
absolute when ``TEMPSTACK_REPORT_URL`` gives where the directory is published (a CI
artifact URL, say).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from tempstack.report.schema import Journal, StageOutcome
from tempstack.spec.thresholds import threshold_value

ICON = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "skipped": "⏭️"}
MAX_FAILURES = 15
DETAIL_LINES = 12
TAIL_LINES = 15
URL_VAR = "TEMPSTACK_REPORT_URL"


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


def render_summary(journal: Journal, base_url: str | None = None) -> str:
    base = base_url if base_url is not None else os.environ.get(URL_VAR) or None
    result = journal.result
    status = result.status if result else "error"
    icon = ICON.get(status, "❌") if status != "interrupted" else "🛑"
    exit_code = result.exit_code if result else "?"
    out = [
        f"## {icon} tempstack · {journal.stack}: {status} (exit {exit_code})",
        "",
        f"Run `{journal.run_id}` · {_secs(journal.duration)}"
        + (f" · repeated {journal.repeat} times" if journal.repeat > 1 else "")
        + f" · {_link('full report', 'report.html', base)}",
        "",
    ]
    if result and result.error and status != "failed":
        out += [f"**{_text(result.error.splitlines()[0])}**", ""]
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
    return "\n".join(out).rstrip() + "\n"


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
