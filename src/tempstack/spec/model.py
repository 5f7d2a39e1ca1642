"""The stack file as typed data (pydantic v2). Unknown keys are errors everywhere."""

from __future__ import annotations

import re
import signal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``2.5``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '500ms', '30s', '5m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(
            f"{value!r} is not a duration; use seconds (30) or '500ms', '30s', '5m', '1h'"
        )
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be greater than zero")
    return seconds


def parse_signal(value: Any) -> str:
    """A signal name normalised to ``SIGTERM`` form; accepts ``TERM``, ``sigterm`` or 15."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value).name
        if isinstance(value, str):
            name = value.upper()
            name = name if name.startswith("SIG") else "SIG" + name
            return signal.Signals[name].name
    except (KeyError, ValueError):
        pass
    raise ValueError(f"{value!r} is not a signal; use a name such as SIGTERM, SIGINT or SIGQUIT")


def _env_value(value: Any) -> Any:
    """Numbers are fine as environment values (``PORT = 8080``); booleans are ambiguous."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
SignalName = Annotated[str, BeforeValidator(parse_signal)]
Command = str | list[str]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


class Condition(StrEnum):
    STARTED = "started"
    READY = "ready"
    COMPLETED = "completed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StackMeta(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=40)]
    description: str | None = None


class ReadySpec(_Strict):
    """How to tell a process is ready: exactly one of http, tcp, command, log."""

    http: str | None = None
    tcp: bool | int | None = None
    command: Command | None = None
    log: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadySpec:
        given = [
            k for k in ("http", "tcp", "command", "log") if getattr(self, k) not in (None, False)
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one probe of http (a path), tcp, command or log (a regex); "
                f"got {', '.join(given) if given else 'none'}"
            )
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http must be a path starting with '/', got {self.http!r}")
        if self.status is not None and self.http is None:
            raise ValueError("status only applies to an http probe")
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as exc:
                raise ValueError(f"log is not a valid regular expression: {exc}") from exc
        if (
            isinstance(self.tcp, int)
            and not isinstance(self.tcp, bool)
            and not 0 < self.tcp < 65536
        ):
            raise ValueError(f"tcp port {self.tcp} is out of range 1-65535")
        return self


DependsOn = dict[str, Condition] | list[str]


class _ServiceBase(_Strict):
    kind: str
    depends_on: DependsOn = Field(default_factory=dict)
    stop_signal: SignalName = "SIGTERM"
    stop_timeout: Duration = 5.0


class _CommandFields(_ServiceBase):
    command: Command
    env: dict[str, EnvValue] = Field(default_factory=dict)
    env_file: str | list[str] | None = None
    cwd: str | None = None

    @field_validator("command")
    @classmethod
    def _non_empty(cls, value: Command) -> Command:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and not value
        ):
            raise ValueError("command must not be empty")
        return value


class ProcessService(_CommandFields):
    kind: Literal["process"] = "process"
    ready: ReadySpec | None = None
    port: bool | None = None

    @model_validator(mode="after")
    def _probe_needs_port(self) -> ProcessService:
        ready = self.ready
        needs_own_port = (
            ready is not None
            and ready.port is None
            and (ready.http is not None or ready.tcp is True)
        )
        if self.port is False and needs_own_port:
            raise ValueError(
                "port = false, but the ready probe needs this service's port; give the "
                "probe a port (ready.port) or drop 'port = false'"
            )
        return self


class JobService(_CommandFields):
    kind: Literal["job"] = "job"
    timeout: Duration | None = None


class PostgresService(_ServiceBase):
    kind: Literal["postgres"] = "postgres"
    stop_signal: SignalName = "SIGINT"  # PostgreSQL's "fast" shutdown; SIGTERM waits for clients
    databases: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]] = (
        Field(default_factory=lambda: ["app"], min_length=1)
    )
    user: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)] | None = None
    password: str | None = None
    version: (
        Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] | None
    ) = None
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    ready_timeout: Duration = 60.0


class RedisService(_ServiceBase):
    kind: Literal["redis"] = "redis"
    password: str | None = None
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    ready_timeout: Duration = 30.0


ServiceSpec = ProcessService | JobService | PostgresService | RedisService

SERVICE_MODELS: dict[str, type[_ServiceBase]] = {
    "process": ProcessService,
    "job": JobService,
    "postgres": PostgresService,
    "redis": RedisService,
}


class StageSpec(_Strict):
    kind: Literal["command"] = "command"
    run: Command
    cwd: str | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    timeout: Duration | None = None


class EnvTable(_Strict):
    env: dict[str, EnvValue] = Field(default_factory=dict)


class StackSpec(_Strict):
    stack: StackMeta
    env: dict[str, EnvValue] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    stages: dict[str, StageSpec] = Field(default_factory=dict)
