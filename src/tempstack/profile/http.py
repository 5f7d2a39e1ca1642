"""HTTP latency from the recording proxy's records: per route over a run, and per test window.

The proxy (:mod:`tempstack.profile.proxy`) appends one tab-separated line per request::

    start_epoch_seconds  service  METHOD  path_without_query  status  latency_ms  streaming

Percentiles here are *nearest-rank*: the smallest sample that at least q of the samples are
less than or equal to (so every reported figure is a latency that was actually measured, and
P99 of 50 requests is their maximum).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: distinct routes kept per service; the least used beyond this become ``{other}``
MAX_ROUTES = 200
ID = "{id}"
OTHER = "{other}"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_TOKEN = re.compile(r"[A-Za-z0-9_\-~=]+")  # base64url-ish, and the usual id alphabets
_NUMBERISH = re.compile(r"\d[\d\-_.:,]*")  # 2024-01-31, 12:30, 1.5 (numbers with separators)
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass(frozen=True, slots=True)
class Record:
    """One proxied request."""

    start: float  # epoch seconds of its first byte
    service: str
    method: str
    path: str
    status: int  # 0: no (complete) response from the service
    latency_ms: float  # to the last byte; to the head when streaming
    streaming: bool


def read_records(path: Path | str, offset: int = 0) -> tuple[list[Record], int]:
    """The records after byte ``offset``, and the offset to read from next time.

    A trailing line without its newline is being written: it is left for the next read.
    Lines that do not parse are skipped (their bytes are still consumed).
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        record = _parse(line)
        if record is not None:
            records.append(record)
    return records, offset + end


def _parse(line: bytes) -> Record | None:
    fields = line.decode("utf-8", "replace").split("\t")
    if len(fields) != 7:
        return None
    try:
        return Record(
            start=float(fields[0]),
            service=fields[1],
            method=fields[2],
            path=fields[3],
            status=int(fields[4]),
            latency_ms=float(fields[5]),
            streaming=fields[6] == "1",
        )
    except ValueError:
        return None


def route_pattern(path: str) -> str:
    """``path`` with its id-like segments replaced by ``{id}``: ``/orders/42`` -> ``/orders/{id}``.

    Ids: numbers (also with separators, like dates), UUIDs, hex of 8 or more digits, e-mail
    addresses, and tokens of 8 or more letters and digits that look generated: several digits
    or several letter/digit alternations (``a1b2c3d4``, ``order12345``; not ``oauth2callback``
    or ``base64encoded``), or, from 16 characters, any digit or a generous share of capitals
    (base64). Words stay: ``/api/v2/products``, ``/static/app.js``. An id followed by a short
    extension keeps it: ``/media/3f2a9c1e8b7d.png`` -> ``/media/{id}.png``.
    """
    if path in ("", "/", "*"):
        return path or "/"
    return "/".join(_segment(segment) for segment in path.split("/"))


def _segment(segment: str) -> str:
    if not segment:
        return segment
    if _is_id(segment):
        return ID
    dot = segment.rfind(".")
    if dot > 0 and _EXTENSION.fullmatch(segment[dot:]) and _is_id(segment[:dot]):
        return ID + segment[dot:]
    return segment


def _is_id(segment: str) -> bool:
    if segment.isdigit() or "@" in segment or "%40" in segment:
        return True
    if _NUMBERISH.fullmatch(segment):
        return sum(c.isdigit() for c in segment) >= 2
    if _UUID.fullmatch(segment) or _HEX.fullmatch(segment):
        return True
    if len(segment) < 8 or not _TOKEN.fullmatch(segment):
        return False
    digits = sum(c.isdigit() for c in segment)
    letters = sum(c.isalpha() for c in segment)
    if not letters:
        return digits >= 2
    alternations = sum(a.isdigit() != b.isdigit() for a, b in itertools.pairwise(segment))
    if digits and (digits >= 3 or alternations >= 3):
        return True
    if len(segment) >= 16:
        upper = sum(c.isupper() for c in segment)
        return digits > 0 or (upper * 10 >= letters * 3 and upper < letters)
    return False


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted, non-empty values."""
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def route_stats(records: Iterable[Record], slow_ms: float) -> list[dict[str, Any]]:
    """Per service, method and route pattern: the fields of ``report.schema.RouteStats``.

    Sorted by service, then P95 from the slowest. ``errors`` counts status 0 (no response)
    and 5xx; streamed responses count with their time to the head. Beyond
    :data:`MAX_ROUTES` distinct routes in one service, the least requested are merged into
    ``{other}`` (per method), so a path full of unrecognised ids cannot flood the report.
    """
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.service, record.method, route_pattern(record.path))].append(record)
    groups = _cap_routes(groups)
    stats: list[tuple[tuple[str, float, str, str], dict[str, Any]]] = []
    for (service, method, route), members in groups.items():
        latencies = sorted(r.latency_ms for r in members)
        p95 = percentile(latencies, 0.95)
        stats.append(
            (
                (service, -p95, route, method),
                {
                    "service": service,
                    "method": method,
                    "route": route,
                    "count": len(members),
                    "errors": sum(1 for r in members if r.status == 0 or r.status >= 500),
                    "p50": percentile(latencies, 0.50),
                    "p95": p95,
                    "p99": percentile(latencies, 0.99),
                    "max": latencies[-1],
                    "slow": p95 > slow_ms,
                    "streaming": sum(1 for r in members if r.streaming),
                },
            )
        )
    stats.sort(key=lambda item: item[0])
    return [row for _, row in stats]


def _cap_routes(
    groups: dict[tuple[str, str, str], list[Record]],
) -> dict[tuple[str, str, str], list[Record]]:
    by_service: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in groups:
        by_service[key[0]].append(key)
    capped: dict[tuple[str, str, str], list[Record]] = {}
    for keys in by_service.values():
        keys.sort(key=lambda k: (-len(groups[k]), k))
        for key in keys[:MAX_ROUTES]:
            capped[key] = groups[key]
        for key in keys[MAX_ROUTES:]:
            capped.setdefault((key[0], key[1], OTHER), []).extend(groups[key])
    return capped


def window_stats(records: Iterable[Record], start: float, end: float) -> dict[str, Any] | None:
    """``requests``, ``p50``, ``p95``, ``max`` (ms) of the requests started in [start, end].

    For one test's share of the traffic: ``start``/``end`` are epoch seconds. None when no
    request started in the window.
    """
    latencies = sorted(r.latency_ms for r in records if start <= r.start <= end)
    if not latencies:
        return None
    return {
        "requests": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "max": latencies[-1],
    }
