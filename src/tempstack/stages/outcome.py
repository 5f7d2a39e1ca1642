"""A stage's outcome: status, timings, exit code and artifacts, as data for the journal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass
class Outcome:
    stage: str
    kind: str
    status: Status
    start: float  # seconds into the run (monotonic)
    end: float
    returncode: int | None = None
    command: str = ""
    log: str | None = None
    tail: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["duration"] = round(self.duration, 6)
        return data
