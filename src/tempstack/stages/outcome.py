"""A stage's outcome: status, timings, exit code, tests, load figures and artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tempstack.report.schema import Counts, LoadResult, TestCase


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
    log: str | None = None  # absolute path of the stage's output
    tail: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)  # absolute paths
    counts: Counts | None = None
    tests: list[TestCase] = field(default_factory=list)
    load: LoadResult | None = None
    reason: str | None = None
    attempt: int = 1

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def failed_tests(self) -> list[TestCase]:
        return [t for t in self.tests if t.status in ("failed", "error")]

    def as_dict(self, report_dir: Path | None = None) -> dict[str, Any]:
        """The journal's form: paths relative to ``report_dir`` when they lie inside it."""

        def rel(path: str) -> str:
            if report_dir is None:
                return path
            try:
                return str(Path(path).relative_to(report_dir))
            except ValueError:
                return path

        return {
            "stage": self.stage,
            "kind": self.kind,
            "attempt": self.attempt,
            "status": self.status.value,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "duration": round(self.duration, 6),
            "returncode": self.returncode,
            "command": self.command,
            "log": None if self.log is None else rel(self.log),
            "tail": self.tail,
            "artifacts": [rel(a) for a in self.artifacts],
            "counts": None if self.counts is None else self.counts.model_dump(),
            "tests": [
                t.model_copy(update={"artifacts": [rel(a) for a in t.artifacts]}).model_dump()
                for t in self.tests
            ],
            "load": None if self.load is None else self.load.model_dump(),
            "reason": self.reason,
        }
