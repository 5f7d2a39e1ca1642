"""The documented schema of ``journal.json``: the run as data, from which every report is made.

Times named ``start``/``end``/``t`` and the values in ``timings`` are seconds since the run
began (a monotonic clock), so a waterfall needs no clock arithmetic; ``started``/``ended``
are wall-clock ISO-8601 timestamps. Latencies are milliseconds. ``docs/journal.md`` and the
JSON Schema in ``docs/journal.schema.json`` (``python -m tempstack.report.schema``) come
from these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JOURNAL_SCHEMA = 3

TestStatus = Literal["passed", "failed", "error", "skipped"]
StageStatus = Literal["passed", "failed", "timeout", "error", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestCase(_Model):
    """One test as read from the stage's JUnit XML."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str = Field(description="Stable id: '<classname>::<name>', used for history.")
    name: str
    classname: str = ""
    file: str | None = None
    status: TestStatus
    duration: float = Field(0.0, description="Seconds.")
    message: str | None = Field(None, description="First line of the failure, if any.")
    details: str | None = Field(None, description="Failure text (traceback), truncated.")
    artifacts: list[str] = Field(
        default_factory=list, description="Paths relative to the report dir."
    )
    profile: TestProfile | None = Field(
        None, description="What the test cost the stack (from the tempstack pytest plugin)."
    )


class TestProfile(_Model):
    """Per-test measurements, attached by the pytest plugin as JUnit properties."""

    __test__ = False

    queries: int | None = Field(None, description="SQL statements executed during the test.")
    requests: int | None = Field(None, description="HTTP requests through the proxy.")
    p50: float | None = Field(None, description="ms, over the test's requests.")
    p95: float | None = None
    max: float | None = None
    n_plus_one: list[str] = Field(
        default_factory=list, description="'<calls>x <statement>' repeated within the test."
    )


class Counts(_Model):
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


class EndpointStats(_Model):
    """Locust's statistics for one endpoint (or ``Aggregated``); latencies in ms."""

    method: str = ""
    name: str
    requests: int
    failures: int
    failure_rate: float = Field(description="failures / requests, 0..1.")
    rps: float
    avg: float
    min: float
    max: float
    percentiles: dict[str, float] = Field(description="'p50', 'p95', 'p99', ... to ms.")


class LoadPoint(_Model):
    t: float = Field(description="Seconds since the load began.")
    users: int
    rps: float
    failures_per_s: float
    p50: float | None = None
    p95: float | None = None


class LoadError(_Model):
    method: str
    name: str
    error: str
    occurrences: int


class ThresholdResult(_Model):
    text: str
    endpoint: str | None = None
    metric: str
    op: str
    limit: float
    actual: float | None = Field(description="None when the endpoint saw no requests.")
    unit: str
    passed: bool


class LoadResult(_Model):
    host: str | None = None
    users: int
    spawn_rate: float
    duration: float
    endpoints: list[EndpointStats]
    total: EndpointStats | None = None
    timeline: list[LoadPoint] = Field(default_factory=list)
    errors: list[LoadError] = Field(default_factory=list)
    thresholds: list[ThresholdResult] = Field(default_factory=list)


class StageOutcome(_Model):
    stage: str
    kind: str
    attempt: int = Field(1, description="1-based; >1 only under --repeat.")
    status: StageStatus
    start: float
    end: float
    duration: float
    returncode: int | None = None
    command: str = ""
    log: str | None = Field(None, description="Stage output, relative to the report dir.")
    tail: list[str] = Field(default_factory=list, description="Last lines of the output.")
    artifacts: list[str] = Field(default_factory=list)
    counts: Counts | None = None
    tests: list[TestCase] = Field(default_factory=list)
    load: LoadResult | None = None
    reason: str | None = Field(None, description="Why the stage did not pass, in one line.")


class ServiceRecord(_Model):
    name: str
    kind: str
    state: str
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    error: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="State -> seconds into the run: starting, started (spawned), "
        "listening (port open), ready, completed (jobs), stopping, stopped.",
    )
    log: str | None = Field(None, description="Copy of the service log, relative path.")
    log_tail: list[str] = Field(default_factory=list)
    memory: MemoryStats | None = Field(None, description="RSS of the whole process tree.")
    snapshot: str | None = Field(
        None, description="'restored' or 'saved' when seeded data came from/went to the cache."
    )


class MemoryStats(_Model):
    peak_rss: int = Field(description="Bytes: the largest sum of RSS over the process tree.")
    mean_rss: int = Field(description="Bytes: the mean of those sums over the samples.")
    samples: int
    processes: int = Field(description="Most processes seen in the tree at once.")


class RouteStats(_Model):
    """Latency of one route of one HTTP service, as measured by the recording proxy."""

    service: str
    method: str
    route: str = Field(description="Path with ids collapsed, e.g. '/orders/{id}'.")
    count: int
    errors: int = Field(description="Responses with status >= 500, or no response at all.")
    p50: float
    p95: float
    p99: float
    max: float
    slow: bool = Field(description="p95 above the slow threshold.")
    streaming: int = Field(0, description="Streamed responses (SSE): latency = time to headers.")


class StatementStats(_Model):
    query: str = Field(description="Normalized statement text, truncated.")
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    database: str | None = None


class NPlusOne(_Model):
    stage: str | None = None
    test: str | None = Field(None, description="Test id, or None for a stage-level finding.")
    query: str
    calls: int


class QueryProfile(_Model):
    """``pg_stat_statements`` of one postgres service over the run."""

    service: str
    calls: int = Field(description="Statements executed by the application, whole run.")
    by_stage: dict[str, int] = Field(default_factory=dict)
    top_by_calls: list[StatementStats] = Field(default_factory=list)
    top_by_time: list[StatementStats] = Field(default_factory=list)
    n_plus_one: list[NPlusOne] = Field(default_factory=list)


class Profile(_Model):
    ready: float | None = Field(None, description="Seconds from the start to a ready stack.")
    slow_ms: float = 500.0
    n_plus_one: int = Field(10, description="Repetitions of one statement in a test to flag.")
    http: list[RouteStats] = Field(default_factory=list)
    queries: list[QueryProfile] = Field(default_factory=list)


class BudgetResult(_Model):
    key: str = Field(description="As written in [budgets], e.g. 'api GET /orders/{id} p95'.")
    limit: float = Field(description="In ``unit``.")
    actual: float | None = Field(description="None when nothing was measured.")
    unit: Literal["ms", "s", "bytes", "count"]
    status: Literal["passed", "exceeded", "no data"]
    text: str = Field(description="One line for people, e.g. 'api rss 612 MB > 500 MB'.")


class Event(_Model):
    t: float
    kind: str
    service: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Flakiness(_Model):
    id: str
    stage: str
    passed: int
    failed: int
    attempts: int


class RunResult(_Model):
    exit_code: int
    status: Literal["passed", "failed", "error", "timeout", "interrupted", "budget"]
    error: str | None = None
    kept_until: str | None = None


class Host(_Model):
    hostname: str
    platform: str
    python: str
    tempstack: str


class Journal(_Model):
    schema_: int = Field(JOURNAL_SCHEMA, alias="schema")
    run_id: str
    stack: str
    stack_file: str
    report_dir: str
    started: str
    ended: str | None = None
    duration: float | None = None
    host: Host
    result: RunResult | None = None
    services: list[ServiceRecord] = Field(default_factory=list)
    stages: list[StageOutcome] = Field(default_factory=list)
    repeat: int = 1
    flakiness: list[Flakiness] = Field(default_factory=list)
    budgets: list[BudgetResult] = Field(default_factory=list)
    profile: Profile | None = None
    events: list[Event] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def json_schema() -> dict[str, Any]:
    schema = Journal.model_json_schema(by_alias=True)
    schema["title"] = "tempstack journal.json"
    return schema


if __name__ == "__main__":  # python -m tempstack.report.schema > docs/journal.schema.json
    import json

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
