"""The probe protocol and the one polling loop every wait goes through.

Polling starts at a few milliseconds and backs off to a ceiling, so a fast service is seen
ready almost at once and a slow one is not hammered. There is one deadline per wait, and the
loop fails at once when the waited-for process exits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

FIRST_INTERVAL = 0.002
MAX_INTERVAL = 0.25
BACKOFF = 1.5


class Probe(Protocol):
    """One readiness check. ``check`` returns True when ready, raises or returns False if not."""

    description: str

    def check(self) -> bool: ...


@dataclass
class ProbeHistory:
    """What a wait saw: kept for the failure bundle."""

    probe: str
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    ok: bool = False
    last_error: str | None = None
    outcome: str = "waiting"

    def as_dict(self) -> dict[str, object]:
        return {
            "probe": self.probe,
            "attempts": self.attempts,
            "seconds": round((self.finished or time.monotonic()) - self.started, 4),
            "ok": self.ok,
            "last_error": self.last_error,
            "outcome": self.outcome,
        }


class ProbeFailed(Exception):
    """The wait ended without success: ``reason`` is 'timeout', 'exited' or 'cancelled'."""

    def __init__(self, reason: str, history: ProbeHistory, returncode: int | None = None) -> None:
        self.reason = reason
        self.history = history
        self.returncode = returncode
        super().__init__(f"{history.probe}: {reason}")


def wait_until(
    probe: Probe,
    *,
    deadline: float,
    exited: Callable[[], int | None] = lambda: None,
    cancel: threading.Event | None = None,
    history: ProbeHistory | None = None,
) -> ProbeHistory:
    """Poll ``probe`` until it passes; ``deadline`` is a ``time.monotonic()`` instant."""
    history = history or ProbeHistory(probe.description)
    interval = FIRST_INTERVAL
    while True:
        history.attempts += 1
        try:
            if probe.check():
                history.ok, history.outcome = True, "ready"
                history.finished = time.monotonic()
                return history
        except Exception as exc:  # a probe's failure is data, not an error
            history.last_error = f"{type(exc).__name__}: {exc}"
        code = exited()
        if code is not None:
            history.outcome, history.finished = "exited", time.monotonic()
            raise ProbeFailed("exited", history, code)
        now = time.monotonic()
        if now >= deadline:
            history.outcome, history.finished = "timeout", now
            raise ProbeFailed("timeout", history)
        pause = min(interval, deadline - now)
        if cancel is not None:
            if cancel.wait(pause):
                history.outcome, history.finished = "cancelled", time.monotonic()
                raise ProbeFailed("cancelled", history)
        else:
            time.sleep(pause)
        interval = min(interval * BACKOFF, MAX_INTERVAL)
