"""What every service kind provides, and the plan the engine builds from it.

A kind never starts anything itself: it describes the command, files, readiness probe and
exports, and the backend runs them. That keeps the engine ignorant of PostgreSQL and of
where processes run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from tempstack.errors import SpecError
    from tempstack.readiness.base import Probe
    from tempstack.spec.model import ServiceSpec

HOST = "127.0.0.1"
#: where a container for a remote backend finds what the backend mounts for it
CONFIG_DIR = "/tempstack/config"  # ``Container.files`` and ``secret_files``
CODE_DIR = "/tempstack/code"  # tempstack's own package, when ``ships_code``
RUN_ID_VAR = "TEMPSTACK_RUN_ID"
#: Set only on processes tempstack itself starts. ``tempstack env`` exports
#: TEMPSTACK_RUN_ID to harness shells, so that variable alone would make a harness (and the
#: ``tempstack down`` it runs) look like part of the run; teardown sweeps by this one.
OWNER_VAR = "TEMPSTACK_OWNER"

_S = TypeVar("_S")


def spec_as(spec: object, cls: type[_S]) -> _S:
    """A kind's own spec model: the registry only hands a kind specs of its own kind."""
    assert isinstance(spec, cls), f"expected {cls.__name__}, got {type(spec).__name__}"
    return spec


def run_tag(run_id: str) -> dict[str, str]:
    """The environment that marks a process as started by run ``run_id``."""
    return {RUN_ID_VAR: run_id, OWNER_VAR: run_id}


@dataclass
class ServicePlan:
    """A service with everything decided before anything starts: port, secrets, exports."""

    name: str
    spec: ServiceSpec
    kind: ServiceKind
    host: str
    port: int | None
    secrets: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # more ports, named by extra_ports()


@dataclass
class Launch:
    """One process for the backend to run."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 5.0
    run_as: str | None = None  # unprivileged user name when the kind refuses root


@dataclass
class ReadyCheck:
    """A readiness probe run by the cluster itself, equivalent to a kind's local probe."""

    http: str | None = None  # a path, answered with a status below 400
    tcp: int | None = None
    exec: list[str] | None = None  # a command run inside the container
    port: int | None = None  # for http


@dataclass
class Container:
    """One container, for a backend that runs services where tempstack has no files.

    ``args`` without ``command`` keep the image's entrypoint (the official postgres and
    redis images initialise themselves from ``env``); ``secret_env`` goes into a Secret.
    """

    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    ready: ReadyCheck | None = None
    data_dir: str | None = None  # a scratch volume mounted here (the data dies with the run)
    #: name -> text, under CONFIG_DIR: ``files`` from a ConfigMap, ``secret_files`` from a
    #: Secret (the backend moves a file there when a credential turns up in it)
    files: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, str] = field(default_factory=dict)
    #: tempstack's package, the caller's version, unpacked under CODE_DIR, so the image
    #: needs only the dependencies and never disagrees with the caller about a format
    ships_code: bool = False


@dataclass
class PrepareContext:
    """Where a kind may put its files for one run."""

    run_id: str
    workdir: Path  # this service's own directory in the run dir, already created
    stack_dir: Path  # directory holding the stack file (relative paths start here)
    cache_dir: Path  # per-machine cache that outlives runs
    base_env: dict[str, str]  # caller env + [env] + the service's own env, interpolated
    #: record a directory outside ``workdir`` in the run's state before creating it, so
    #: teardown (and the reaper) removes it too
    record_dir: Callable[[Path], None] = lambda path: None
    #: a cached snapshot of this service's data to start from instead of an empty state,
    #: and what ``save_snapshot`` recorded about it
    restore: Path | None = None
    restore_meta: dict[str, Any] = field(default_factory=dict)
    #: the service runs where tempstack has neither its files nor its processes (a
    #: cluster): reach it only through its exports, which point at a forwarded port
    remote: bool = False
    #: the image a remote backend runs the service in: its own ``image``, else
    #: ``[kubernetes] images.<kind>`` (``spec.placement.image_for``); None: the kind's default
    image: str | None = None
    #: the service's exports as the cluster sees them (``http://files:9000``), for a kind
    #: whose server must know its own address there (the OIDC issuer)
    inner_exports: dict[str, str] = field(default_factory=dict)


class ServiceKind(Protocol):
    """One built-in kind. Implementations are stateless; per-run state lives in the plan."""

    name: str
    is_job: bool
    #: keeps data a job can fill: gets ``after_seeded`` and may be snapshotted
    holds_data: bool
    #: exports that name the service rather than say where it is (an OIDC issuer): the
    #: same on this machine as inside a cluster, where addresses differ
    identities: tuple[str, ...]

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        """Names usable as ``${svc.attr}``; checked before anything starts."""
        ...

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool: ...

    def extra_ports(self, spec: ServiceSpec) -> tuple[str, ...]:
        """Names of ports needed besides the main one (``smtp`` for mail)."""
        ...

    def check_files(self, spec: ServiceSpec, key: str, root: Path, file: str) -> list[SpecError]:
        """Problems in files the service names (a routes file), found at ``check`` time."""
        ...

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]: ...

    def exports(self, plan: ServicePlan) -> dict[str, str]: ...

    def check_installed(self, spec: ServiceSpec, name: str) -> None:
        """Raise ``MissingBinaryError`` naming the package when a binary is missing."""
        ...

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch: ...

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        """The service as a container image for a remote backend (Kubernetes)."""
        ...

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> Probe | None: ...

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        """Work that needs the server up (create databases) before dependents may start."""
        ...

    # -- data hooks: only kinds that hold data implement them -----------------------------
    def data_version(self, spec: ServiceSpec, name: str) -> str | None:
        """What identifies this kind's data format (server version); None: holds no data."""
        ...

    def save_snapshot(self, plan: ServicePlan, ctx: PrepareContext, dest: Path) -> dict[str, Any]:
        """Copy the running service's data into ``dest``; returns what a restore needs.

        Called once the snapshotted jobs succeeded and before anything else connects.
        """
        ...

    def after_seeded(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        """Every job that depends on this service has completed (templates are made here)."""
        ...

    def stats_dsn(self, plan: ServicePlan, ctx: PrepareContext) -> str | None:
        """Where ``pg_stat_statements`` can be read, for kinds that keep it; else None."""
        ...


class KindDefaults:
    """What most kinds do for the optional parts of ``ServiceKind``."""

    holds_data = False
    identities: tuple[str, ...] = ()

    def extra_ports(self, spec: ServiceSpec) -> tuple[str, ...]:
        return ()

    def data_version(self, spec: ServiceSpec, name: str) -> str | None:
        return None

    def save_snapshot(self, plan: ServicePlan, ctx: PrepareContext, dest: Path) -> dict[str, Any]:
        raise NotImplementedError(f"{plan.spec.kind} services hold no data to snapshot")

    def after_seeded(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        return None

    def stats_dsn(self, plan: ServicePlan, ctx: PrepareContext) -> str | None:
        return None

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        raise NotImplementedError(f"{plan.spec.kind} services run only on the local backend")

    def check_files(self, spec: ServiceSpec, key: str, root: Path, file: str) -> list[SpecError]:
        return []
