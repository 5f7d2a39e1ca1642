"""The run as data: events with monotonic timestamps, services, stage outcomes, the result.

Every report is rendered from this; it is written as ``journal.json`` in the report dir and
validated against the documented schema (:mod:`tempstack.report.schema`) on the way out, so
the file never drifts from its documentation.
"""

from __future__ import annotations

import platform
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tempstack._clock import now_iso
from tempstack._files import write_json
from tempstack.masking import Masker
from tempstack.report.schema import JOURNAL_SCHEMA
from tempstack.report.schema import Journal as JournalDoc


@dataclass
class Event:
    t: float  # seconds since the run began (monotonic clock)
    kind: str
    service: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _version() -> str:
    try:
        return version("tempstack")
    except PackageNotFoundError:
        return "unknown"


class Journal:
    def __init__(self, run_id: str, stack: str, stack_file: Path, report_dir: Path) -> None:
        self.run_id, self.stack = run_id, stack
        self.stack_file, self.report_dir = stack_file, report_dir
        self.t0 = time.monotonic()
        self.started = now_iso()
        self.ended: str | None = None
        self.events: list[Event] = []
        self.outcomes: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.repeat = 1
        self.flakiness: list[dict[str, Any]] = []
        self.budgets: list[dict[str, Any]] = []
        self.profile: dict[str, Any] | None = None
        #: every report is rendered from ``document()``, which passes through this
        self.masker = Masker()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def event(self, kind: str, service: str | None = None, **detail: Any) -> Event:
        ev = Event(round(self.now(), 6), kind, service, detail)
        with self._lock:
            self.events.append(ev)
        return ev

    def first(self, kind: str, service: str | None) -> float | None:
        return next((e.t for e in self.events if e.kind == kind and e.service == service), None)

    def finish(self) -> None:
        self.ended = now_iso()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            events = [
                {
                    "t": e.t,
                    "kind": e.kind,
                    "service": e.service,
                    **({"detail": e.detail} if e.detail else {}),
                }
                for e in self.events
            ]
        end = self.events[-1].t if self.events else 0.0
        return {
            "schema": JOURNAL_SCHEMA,
            "run_id": self.run_id,
            "stack": self.stack,
            "stack_file": str(self.stack_file),
            "report_dir": str(self.report_dir),
            "started": self.started,
            "ended": self.ended,
            "duration": round(end, 6) if self.ended else None,
            "host": {
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "tempstack": _version(),
            },
            "result": self.result,
            "services": self.services,
            "stages": self.outcomes,
            "repeat": self.repeat,
            "flakiness": self.flakiness,
            "budgets": self.budgets,
            "profile": self.profile,
            "events": events,
        }

    def document(self) -> JournalDoc:
        """The journal as reports see it: validated, every secret of the run masked."""
        return JournalDoc.model_validate(self.masker.data(self.as_dict()))

    def write(self, report_dir: Path | None = None) -> Path:
        target = report_dir or self.report_dir
        target.mkdir(parents=True, exist_ok=True)
        path = target / "journal.json"
        write_json(path, self.document().model_dump(mode="json", by_alias=True), mode=0o644)
        return path
