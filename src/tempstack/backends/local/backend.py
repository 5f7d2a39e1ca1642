"""The local backend: services as process groups on this machine, in a run directory.

Order of creation, so that nothing exists before it is recorded: the run directory, then
``state.json``, then the reaper (which can clean up from then on), then ports, files and
processes, each recorded before it is made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from tempstack._clock import now_iso
from tempstack._files import mark, tail
from tempstack.backends.base import Handle
from tempstack.backends.local import cleanup, paths, ports
from tempstack.backends.local.process import LocalProcess
from tempstack.backends.local.state import StateFile, process_ref
from tempstack.errors import RunIdTaken, StartError
from tempstack.services.base import (
    HOST,
    OWNER_VAR,
    RUN_ID_VAR,
    Launch,
    PrepareContext,
    ServicePlan,
)


class LocalBackend:
    name = "local"
    remote = False

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.state: StateFile | None = None
        self._run_dir: Path | None = None
        self._run_id = ""
        self._reaper: subprocess.Popen[bytes] | None = None
        self._reaper_pipe: IO[bytes] | None = None
        self._closing = threading.Event()
        self._spawn_lock = threading.Lock()
        self._handles: dict[str, LocalProcess] = {}
        self.secret_values: set[str] = set()  # nothing here is sent anywhere in plain text

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        assert self._run_dir is not None, "backend not opened"
        return self._run_dir

    def open(self, run_id: str, stack: str, stack_file: Path, report_dir: Path) -> None:
        self._run_id = run_id
        link = paths.runs_dir() / run_id
        mode = paths.private_mode()  # state.json and the logs hold the run's secrets
        # exclusively (no exist_ok): two runs never share a directory, whatever their ids
        try:
            if self.data_dir is not None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                run_dir = self.data_dir.resolve() / run_id
                run_dir.mkdir(mode=mode)
                try:
                    link.symlink_to(run_dir)
                except FileExistsError:
                    run_dir.rmdir()  # ours, and still empty
                    raise
            else:
                run_dir = link
                run_dir.mkdir(mode=mode)
        except FileExistsError:
            raise RunIdTaken(run_id) from None
        run_dir.chmod(mode)
        mark(run_dir, run_id)  # before anything else: gc removes no directory without it
        self._run_dir = run_dir
        self.state = StateFile(
            run_dir / "state.json",
            {
                "run_id": run_id,
                "stack": stack,
                "stack_file": str(stack_file),
                "backend": self.name,
                "status": "starting",
                "created": now_iso(),
                "created_ts": time.time(),
                "expires": None,
                "run_dir": str(run_dir),
                "report_dir": str(report_dir),
                "supervisor": process_ref(os.getpid()),
                "ports": [],
                "dirs": [],
                "services": {},
            },
        )
        self._start_reaper()

    def _start_reaper(self) -> None:
        assert self.state is not None
        log = (self.run_dir / "reaper.log").open("ab")
        try:
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "tempstack.backends.local.reaper", str(self.run_dir)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if k not in (RUN_ID_VAR, OWNER_VAR)},
            )
        finally:
            log.close()
        self._reaper_pipe = self._reaper.stdin
        self.state.update(reaper=process_ref(self._reaper.pid))

    def _tell_reaper(self, word: str) -> None:
        if self._reaper_pipe is None or self._reaper is None:
            return
        try:
            self._reaper_pipe.write(word.encode() + b"\n")
            self._reaper_pipe.flush()
            self._reaper_pipe.close()
        except (BrokenPipeError, ValueError):
            pass
        self._reaper_pipe = None
        # The reaper exits on its own; collect its exit status off the caller's path.
        threading.Thread(target=self._reaper.wait, name="ts-reaper-wait", daemon=True).start()

    def close(self, *, keep_until: float | None = None) -> None:
        """Final sweep and removal; with ``keep_until`` the reaper keeps the run instead."""
        self._closing.set()
        if self._run_dir is None or self.state is None:
            return
        if keep_until is not None:
            self._tell_reaper(f"keep {keep_until}")
            return
        cleanup.destroy(self.run_dir, grace=1.0)
        self._tell_reaper("done")

    # -- resources -------------------------------------------------------------------------
    def endpoint(self, service: str, needs_port: bool) -> tuple[str, int | None]:
        if not needs_port:
            return HOST, None
        assert self.state is not None
        # recorded (as a lease naming this run) in the same step that reserves it
        (port,) = ports.allocate(self._run_id, 1)
        with self.state._lock:
            self.state.data["ports"].append(port)
            self.state.save()
        return HOST, port

    def record_dir(self, path: Path) -> None:
        assert self.state is not None
        with self.state._lock:
            self.state.data["dirs"].append(str(path))
            self.state.save()

    def workdir(self, service: str) -> Path:
        path = self.run_dir / service
        path.mkdir(exist_ok=True, mode=0o700)  # a server running as another user owns its own
        return path

    def cache_dir(self) -> Path:
        return paths.cache_dir()

    def log_path(self, service: str) -> Path:
        return self.workdir(service) / "output.log"

    def log_tail(self, service: str, lines: int) -> list[str]:
        return tail(self.run_dir / service / "output.log", lines)

    def spawn(self, service: str, launch: Launch) -> LocalProcess:
        assert self.state is not None
        with self._spawn_lock:
            if self._closing.is_set():
                raise StartError(
                    f"{service}: not started, the run is being torn down", service=service
                )
            self.state.update_service(
                service,
                status="spawning",
                log=str(self.log_path(service)),
                stop_signal=launch.stop_signal,
                command=launch.argv,
            )
            handle = LocalProcess(service, launch, self.log_path(service), self._run_id)
            self._handles[service] = handle
            self.state.update_service(
                service,
                status="started",
                pid=handle.pid,
                pgid=handle.pgid,
                process=process_ref(handle.popen.pid),
            )
        return handle

    def start_service(self, plan: ServicePlan, ctx: PrepareContext) -> Handle:
        return self.spawn(plan.name, plan.kind.prepare(plan, ctx))

    def service_host(self, service: str) -> str:
        return HOST

    def reach(self) -> list[str]:
        """How to reach a kept run from another shell, beyond ``tempstack env``."""
        return []

    def wait_ready(self, name: str, timeout: float, cancel: threading.Event) -> bool:
        raise NotImplementedError("local services are probed by the engine")

    def record(self, **changes: Any) -> None:
        if self.state is not None:
            self.state.update(**changes)

    def record_service(self, service: str, **changes: Any) -> None:
        if self.state is not None:
            self.state.update_service(service, **changes)
