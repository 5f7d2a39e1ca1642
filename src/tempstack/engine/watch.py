"""Watch the services of a ready stack: one that exits while the stack is up fails the run.

A long-running service (not a job: a job's exit is its purpose) that exits between
``run.ready`` and teardown is a broken stack: the stages running against it would fail
in confusing ways, or pass against half a stack. The watch polls each service's process
every ``INTERVAL``, and on the first exit records a :class:`ServiceDied` as the engine's
failure, marks the service failed, journals ``service.died``, tells the caller
(``on_failure``: the CLI prints it at once, with the log tail) and sets the engine's
cancel event, which stops a running stage at once (it ends ``error``, "stopped: ...").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tempstack.errors import StartError, TempstackError

if TYPE_CHECKING:
    from tempstack.engine.runner import Engine

INTERVAL = 0.1  # seconds between looks; a death is seen within this


class ServiceDied(StartError):
    """A service exited while the stack was up (exit code 3, like a failed start)."""


class ServiceWatch:
    """A daemon thread over the engine's handles; :meth:`stop` before teardown starts."""

    def __init__(
        self,
        engine: Engine,
        on_failure: Callable[[TempstackError], None] | None = None,
        log_lines: int = 30,
    ) -> None:
        self.engine = engine
        self.on_failure = on_failure
        self.log_lines = log_lines
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ts-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No more looks: teardown's own stops are not deaths."""
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _first_exit(self) -> tuple[str, int] | None:
        """(name, exit code) of a long-running service that has exited, if any has."""
        for name, handle in list(self.engine.handles.items()):
            if self.engine.plans[name].kind.is_job:
                continue  # a job's exit is its purpose
            if (code := handle.returncode()) is not None:
                return name, code
        return None

    def _run(self) -> None:
        while not self._done.wait(INTERVAL):
            exited = self._first_exit()
            if exited and not self._done.is_set():
                self._died(*exited)
                return

    def _died(self, name: str, code: int) -> None:
        engine = self.engine
        error = ServiceDied(
            f"service {name} exited with code {code} while the stack was up",
            service=name,
            returncode=code,
            log_tail=engine.backend.log_tail(name, self.log_lines),
        )
        if not engine.fail(error):
            return  # another failure (or teardown) came first
        engine.journal.event("service.died", name, returncode=code)
        engine.mark_failed(name, f"exited with code {code} while the stack was up")
        if self.on_failure is not None:
            self.on_failure(error)
