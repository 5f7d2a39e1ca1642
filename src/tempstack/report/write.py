"""Write every report of a run from its journal: JSON, JUnit, Markdown, HTML, history.

Each writer runs even when another fails (a broken HTML template must not cost the CI its
JUnit file); failures are recorded in the journal's events and returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tempstack.report.schema import Journal as JournalDoc

if TYPE_CHECKING:
    from tempstack.engine.journal import Journal


@dataclass
class ReportPaths:
    dir: Path
    journal: Path | None = None
    junit: Path | None = None
    summary: Path | None = None
    html: Path | None = None
    history: Path | None = None
    errors: list[str] = field(default_factory=list)
    #: The journal the reports were rendered from, so the terminal shows the same figures.
    document: JournalDoc | None = None


def write_reports(journal: Journal, history: Path | None) -> ReportPaths:
    from tempstack.report import history as hist
    from tempstack.report.html import render_html
    from tempstack.report.junit import write_junit
    from tempstack.report.summary import write_summary

    out = ReportPaths(journal.report_dir)
    out.dir.mkdir(parents=True, exist_ok=True)
    try:
        doc = journal.document()
    except Exception as exc:  # a journal that does not match its schema is our bug
        out.errors.append(f"journal: {type(exc).__name__}: {exc}")
        journal.event("report.error", report="journal", error=str(exc))
        return out
    out.document = doc

    def attempt(name: str, write: Callable[[JournalDoc], Path | None]) -> Path | None:
        try:
            return write(doc)
        except Exception as exc:
            out.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            journal.event("report.error", report=name, error=str(exc))
            return None

    out.junit = attempt("junit.xml", lambda d: write_junit(d, out.dir / "junit.xml"))
    out.summary = attempt("summary.md", lambda d: write_summary(d, out.dir / "summary.md"))
    out.html = attempt("report.html", lambda d: render_html(d, out.dir))
    if history is not None:

        def append(d: JournalDoc) -> Path:
            hist.record(d, history)
            return history

        out.history = attempt("history", append)
    out.journal = journal.write()  # last: it carries any report errors above
    # What the reports did not render from the journal (stage logs, pytest's own JUnit
    # files, the failure bundle's logs, text artifacts) is masked in place.
    journal.masker.tree(out.dir)
    return out
