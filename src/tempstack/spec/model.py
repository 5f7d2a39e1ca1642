"""The stack file as typed data (pydantic v2). Unknown keys are errors everywhere."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from tempstack.spec.fields import (
    NAME_PATTERN,
    Command,
    Condition,
    Duration,
    EnvMap,
    NonEmptyCommand,
    ProcessString,
    ServiceBase,
    SignalName,
    Strict,
    parse_duration,
    parse_signal,
)
from tempstack.spec.outside import HttpMockService, MailService, OidcService, S3Service
from tempstack.spec.paths import inside_project
from tempstack.spec.settings import PgSettingName, SettingName, SettingValue, non_empty_password
from tempstack.spec.stages import StageSpec

__all__ = ["Condition", "Duration", "StageSpec", "parse_duration", "parse_signal"]


class StackMeta(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=40)]
    description: str | None = None
    #: where services run; ``--backend`` overrides it
    backend: Literal["local", "kubernetes"] = "local"
    #: Kubernetes: a kept run's process services get an Ingress at ``<svc>.<run>.<host>``
    preview_host: (
        Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", max_length=200)] | None
    ) = None
    #: the project's Python (relative to the stack file): pytest, playwright and locust
    #: stages run with it, and its bin directory is first on every process's PATH; default
    #: VIRTUAL_ENV, then .venv/, then Poetry's environment, then tempstack's own
    python: Annotated[str, Field(min_length=1)] | None = None


ImageKey = Literal[
    "postgres", "redis", "process", "job", "s3", "mail", "http-mock", "oidc", "servers"
]


class KubernetesSpec(Strict):
    """``[kubernetes]``: what only the Kubernetes backend reads."""

    #: image per built-in kind; ``servers`` is the one for every kind served by tempstack's
    #: own servers (s3, mail, http-mock, oidc) that has none of its own. A service's own
    #: ``image`` wins
    images: dict[ImageKey, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    #: the image in-cluster stages run in when they name none
    stage_image: str | None = None


class ReadySpec(Strict):
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


class _CommandFields(ServiceBase):
    command: NonEmptyCommand
    env: EnvMap = Field(default_factory=dict)
    env_file: str | list[str] | None = None
    cwd: ProcessString | None = None  # relative to the stack file; checked by spec.paths
    #: Kubernetes only: the container image the command runs in
    image: Annotated[str, Field(min_length=1)] | None = None


class ProcessService(_CommandFields):
    kind: Literal["process"] = "process"
    ready: ReadySpec | None = None
    port: bool | None = None
    #: a recording proxy in front of the service (latency per route); on by default when
    #: the service has an http ready probe on its own port
    proxy: bool | None = None

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


class SnapshotSpec(Strict):
    """What a job's result depends on: glob patterns relative to the stack file's directory."""

    inputs: list[Annotated[str, Field(min_length=1), AfterValidator(inside_project)]] = Field(
        min_length=1
    )


class JobService(_CommandFields):
    kind: Literal["job"] = "job"
    timeout: Duration | None = None
    #: the job's effect on the data services is snapshotted once and restored while the
    #: inputs, the commands and the versions are unchanged; the job is then skipped
    snapshot: SnapshotSpec | None = None


class PostgresService(ServiceBase):
    kind: Literal["postgres"] = "postgres"
    image: Annotated[str, Field(min_length=1)] | None = None  # Kubernetes only
    stop_signal: SignalName = "SIGINT"  # PostgreSQL's "fast" shutdown; SIGTERM waits for clients
    databases: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]] = (
        Field(default_factory=lambda: ["app"], min_length=1)
    )
    user: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)] | None = None
    password: Annotated[ProcessString, AfterValidator(non_empty_password)] | None = None
    version: (
        Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] | None
    ) = None
    settings: dict[PgSettingName, SettingValue] = Field(default_factory=dict)
    ready_timeout: Duration = 60.0


class RedisService(ServiceBase):
    kind: Literal["redis"] = "redis"
    image: Annotated[str, Field(min_length=1)] | None = None  # Kubernetes only
    password: str | None = None  # random per run when unset; "" for none
    settings: dict[SettingName, SettingValue] = Field(default_factory=dict)
    ready_timeout: Duration = 30.0


ServiceSpec = (
    ProcessService
    | JobService
    | PostgresService
    | RedisService
    | S3Service
    | MailService
    | HttpMockService
    | OidcService
)

SERVICE_MODELS: dict[str, type[ServiceBase]] = {
    "process": ProcessService,
    "job": JobService,
    "postgres": PostgresService,
    "redis": RedisService,
    "s3": S3Service,
    "mail": MailService,
    "http-mock": HttpMockService,
    "oidc": OidcService,
}


class EnvTable(Strict):
    env: EnvMap = Field(default_factory=dict)


class ProfileSpec(Strict):
    """``[profile]``: what is measured while the stack is tested."""

    slow: Duration = 0.5  # a route whose p95 is above this is flagged slow
    n_plus_one: Annotated[int, Field(ge=2)] = 10  # one statement this often in one test
    memory_interval: Annotated[float, Field(ge=0.05)] = 0.25  # seconds between RSS samples
    proxy: bool = True  # False: no recording proxy for any service
    queries: bool = True  # pg_stat_statements on the built-in postgres


class StackSpec(Strict):
    stack: StackMeta
    env: EnvMap = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    stages: dict[str, StageSpec] = Field(default_factory=dict)
    profile: ProfileSpec = Field(default_factory=ProfileSpec)
    #: ``"api GET /orders/{id} p95" = "200ms"``; checked by tempstack.spec.budgets
    budgets: dict[str, str | int | float] = Field(default_factory=dict)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)

    def proxied(self, name: str) -> bool:
        """Whether a service's HTTP latency is measured: a process behind the recording proxy.

        The proxy is on by default for a process whose ready probe is ``http`` on its own
        port; ``proxy = true``/``false`` on the service decides otherwise, and ``[profile]
        proxy = false`` turns it off for all.
        """
        svc = self.services.get(name)
        if not isinstance(svc, ProcessService) or not self.profile.proxy or svc.port is False:
            return False
        if svc.proxy is not None:
            return svc.proxy
        return svc.ready is not None and svc.ready.http is not None and svc.ready.port is None
