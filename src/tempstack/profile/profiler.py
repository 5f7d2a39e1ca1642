"""One run's measurements, gathered while it is tested and summed up for the journal.

The engine owns a ``Profiler``: it samples memory from the start, snapshots
``pg_stat_statements`` around every stage, and at the end reads the recording proxy's
records. Per-test figures come from the pytest plugin through each test's JUnit
properties; here they are only collected (N+1 findings). Measuring must never fail a run:
an error is kept as a journal event and the figure is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tempstack._files import write_json
from tempstack.profile import queries
from tempstack.profile.memory import MemorySampler
from tempstack.spec.model import ProfileSpec

#: names the profile file in a stage's environment (read by the pytest plugin)
PROFILE_VAR = "TEMPSTACK_PROFILE"
TOP = 10


class Profiler:
    def __init__(
        self,
        spec: ProfileSpec,
        pids: Callable[[], dict[str, int]],
        report: Callable[..., Any],
    ) -> None:
        self.spec = spec
        self.report = report  # journal.event
        self.sampler = MemorySampler(pids, spec.memory_interval)
        self.records: Path | None = None  # the proxy's records, when a proxy runs
        self.dsns: dict[str, str] = {}  # postgres service -> admin DSN
        self.memory: dict[str, dict[str, Any]] = {}
        self._baseline: dict[str, queries.Snapshot] = {}
        self._stage_start: dict[str, queries.Snapshot] = {}
        self.by_stage: dict[str, dict[str, int]] = {}  # service -> stage -> calls
        self.ready: float | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.sampler.start()

    def write_file(self, path: Path) -> Path:
        """What the pytest plugin needs to measure each test, as ``profile.json``."""
        write_json(
            path,
            {
                "records": str(self.records) if self.records else None,
                "postgres": self.dsns,
                "n_plus_one": self.spec.n_plus_one,
                "slow_ms": self.spec.slow * 1000,
            },
        )
        return path

    def stack_ready(self, at: float) -> None:
        self.ready = at
        self._baseline = self._snapshots()

    def stop_sampling(self) -> None:
        if not self.memory:
            try:
                self.memory = self.sampler.stop()
            except Exception as exc:
                self.report("profile.error", part="memory", error=str(exc))

    # -- stages ---------------------------------------------------------------------------
    def stage_started(self, stage: str) -> None:
        self._stage_start = self._snapshots()

    def stage_ended(self, stage: str) -> None:
        after = self._snapshots()
        for service, snap in after.items():
            before = self._stage_start.get(service)
            if before is None:
                continue
            calls = queries.total_calls(queries.diff(before, snap))
            per = self.by_stage.setdefault(service, {})
            per[stage] = per.get(stage, 0) + calls

    def _snapshots(self) -> dict[str, queries.Snapshot]:
        out = {}
        for service, dsn in self.dsns.items():
            try:
                out[service] = queries.snapshot(dsn)
            except Exception as exc:
                self.report("profile.error", service, part="queries", error=str(exc))
        return out

    # -- the result -----------------------------------------------------------------------
    def result(self, stages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``journal.profile`` (see report.schema.Profile); call before the services stop."""
        return {
            "ready": None if self.ready is None else round(self.ready, 6),
            "slow_ms": self.spec.slow * 1000,
            "n_plus_one": self.spec.n_plus_one,
            "http": self._http(),
            "queries": self._queries(stages),
        }

    def _http(self) -> list[dict[str, Any]]:
        if self.records is None or not self.records.exists():
            return []
        from tempstack.profile import http  # only runs with a proxy read its records

        try:
            records, _ = http.read_records(self.records)
            return http.route_stats(records, self.spec.slow * 1000)
        except Exception as exc:
            self.report("profile.error", part="http", error=str(exc))
            return []

    def _queries(self, stages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        findings = [
            {"stage": o["stage"], "test": t["id"], "query": query, "calls": int(calls)}
            for o in stages
            for t in o.get("tests", [])
            for calls, query in _findings(t)
        ]
        out = []
        end = self._snapshots()
        for service, snap in end.items():
            base = self._baseline.get(service)
            run = queries.diff(base, snap) if base is not None else snap
            out.append(
                {
                    "service": service,
                    "calls": queries.total_calls(run),
                    "by_stage": self.by_stage.get(service, {}),
                    "top_by_calls": queries.top(run, "calls", TOP),
                    "top_by_time": queries.top(run, "time", TOP),
                    # per test, from the plugin; with one postgres the service is certain
                    "n_plus_one": findings if len(end) == 1 else [],
                }
            )
        return out


def _findings(test: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(calls, statement)`` from a test's ``'<calls>x <statement>'`` findings."""
    out = []
    for text in (test.get("profile") or {}).get("n_plus_one", []):
        calls, _, query = str(text).partition("x ")
        if calls.isdigit():
            out.append((calls, query))
    return out
