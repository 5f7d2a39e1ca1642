"""Wall-clock timestamps for records people read (durations use the monotonic clock)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> float | None:
    return None if not text else datetime.fromisoformat(text).timestamp()
