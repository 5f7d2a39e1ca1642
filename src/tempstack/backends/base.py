"""The backend protocol: where services run. The engine talks only to this.

Nothing here assumes local processes: endpoints, logs and stopping all go through the
backend, so a Kubernetes backend can implement the same calls with a namespace.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from tempstack.services.base import Launch, PrepareContext, ServicePlan


class Handle(Protocol):
    """One started service process (or pod)."""

    name: str

    @property
    def pid(self) -> int | None: ...

    def returncode(self) -> int | None:
        """The exit code if it has exited, else None. Never blocks."""
        ...

    def wait(self, timeout: float | None, cancel: threading.Event | None = None) -> int | None:
        """Wait for exit up to ``timeout``; None if still running (or cancelled)."""
        ...

    def stop(self, signal_name: str, timeout: float, force: threading.Event) -> int | None:
        """Signal, wait up to ``timeout`` (or until ``force`` is set), then kill. Idempotent."""
        ...


class Backend(Protocol):
    name: str
    #: services run where tempstack has neither their files nor their pids (a cluster):
    #: kinds render containers, readiness comes from the backend, exports differ inside
    remote: bool
    #: remote backends keep these credentials out of what they send in plain text
    secret_values: set[str]

    def open(self, run_id: str, stack: str, stack_file: Path, report_dir: Path) -> None:
        """Create the run's home and record it before anything else is created."""
        ...

    def endpoint(self, service: str, needs_port: bool) -> tuple[str, int | None]:
        """Host and port a service will listen on, decided before anything starts."""
        ...

    def workdir(self, service: str) -> Path:
        """A directory for the service's files (created on first call)."""
        ...

    def cache_dir(self) -> Path: ...

    def record_dir(self, path: Path) -> None:
        """Record a directory outside the run dir before it is created (removed at teardown)."""
        ...

    def spawn(self, service: str, launch: Launch) -> Handle:
        """A process of tempstack's own on this machine (the recording proxy)."""
        ...

    def start_service(self, plan: ServicePlan, ctx: PrepareContext) -> Handle:
        """Start one planned service (a process here, a workload in a cluster)."""
        ...

    def service_host(self, service: str) -> str:
        """The host other services reach ``service`` by (remote backends)."""
        ...

    def reach(self) -> list[str]:
        """How to reach a kept run from another shell, beyond ``tempstack env``."""
        ...

    def wait_ready(self, name: str, timeout: float, cancel: threading.Event) -> bool:
        """Remote backends: until the service is ready; False if cancelled; raises why not."""
        ...

    def log_path(self, service: str) -> Path: ...

    def log_tail(self, service: str, lines: int) -> list[str]: ...

    def record(self, **changes: Any) -> None:
        """Merge top-level fields into the run's recorded state."""
        ...

    def record_service(self, service: str, **changes: Any) -> None: ...

    def close(self, *, keep_until: float | None = None) -> None:
        """Remove everything the run created (or hand it to a keeper until ``keep_until``)."""
        ...

    @property
    def run_dir(self) -> Path: ...
