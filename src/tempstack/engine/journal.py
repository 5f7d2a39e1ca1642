"""The run as data: events with monotonic timestamps, outcomes and service timings.

Every report is rendered from this; it is written as ``journal.json`` in the report dir.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tempstack._clock import now_iso
from tempstack._files import write_json

JOURNAL_SCHEMA = 1


@dataclass
class Event:
    t: float  # seconds since the run began (monotonic clock)
    kind: str
    service: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Journal:
    def __init__(self, run_id: str, stack: str) -> None:
        self.run_id, self.stack = run_id, stack
        self.t0 = time.monotonic()
        self.started = now_iso()
        self.events: list[Event] = []
        self.outcomes: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {}
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
        return {
            "schema": JOURNAL_SCHEMA,
            "run_id": self.run_id,
            "stack": self.stack,
            "started": self.started,
            "events": events,
            "outcomes": self.outcomes,
            "result": self.result,
        }

    def write(self, report_dir: Path) -> Path:
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / "journal.json"
        write_json(path, self.as_dict())
        return path
