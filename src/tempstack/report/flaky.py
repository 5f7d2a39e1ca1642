"""Flakiness under ``--repeat N``: per test, how often it passed and failed on one stack."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tempstack.stages.outcome import Outcome, Status


def flakiness(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """One row per test (or per test-less stage); flaky ones (both results) first."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def add(stage: str, test_id: str, passed: bool) -> None:
        row = rows.setdefault(
            (stage, test_id),
            {"id": test_id, "stage": stage, "passed": 0, "failed": 0, "attempts": 0},
        )
        row["attempts"] += 1
        row["passed" if passed else "failed"] += 1

    for o in outcomes:
        if o.tests:
            for t in o.tests:
                if t.status != "skipped":
                    add(o.stage, t.id, t.status == "passed")
        else:
            add(o.stage, o.stage, o.status is Status.PASSED)

    return sorted(
        rows.values(),
        key=lambda r: (rank(r["passed"], r["failed"]), -r["failed"], r["stage"], r["id"]),
    )


def rank(passed: int, failed: int) -> int:
    """0 flaky (both results), 1 always failing, 2 always passing."""
    if passed and failed:
        return 0
    return 1 if failed else 2
