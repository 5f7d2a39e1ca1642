"""The library: ``Stack.load(path)``, ``with stack.up() as run:``, ``stack.run(...)``.

The CLI and the pytest plugin are thin layers over these two classes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tempstack._clock import iso
from tempstack.backends.local import LocalBackend
from tempstack.engine import Engine, EngineOptions
from tempstack.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STAGE_FAILED,
    EXIT_TIMEOUT,
    Interrupted,
    StackTimeout,
    TempstackError,
    UsageError,
)
from tempstack.spec.load import LoadedStack, load
from tempstack.stages import Outcome, Status, run_command_stage, stage_env

DEFAULT_KEEP_TTL = 3600.0


@dataclass
class ServiceInfo:
    """One running service as the caller sees it."""

    name: str
    kind: str
    host: str
    port: int | None
    exports: dict[str, str]
    pid: int | None

    @property
    def url(self) -> str | None:
        return self.exports.get("url")


class Run:
    """A live stack. Attributes are read-only views over the engine's plan."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def id(self) -> str:
        return self._engine.run_id

    @property
    def dir(self) -> Path:
        return self._engine.backend.run_dir

    @property
    def report_dir(self) -> Path:
        return self._engine.report_dir

    @property
    def env(self) -> dict[str, str]:
        """Exports as ``<SERVICE>_<ATTR>`` plus ``TEMPSTACK_RUN_ID`` and ``TEMPSTACK_RUN_DIR``."""
        return dict(self._engine.env)

    @property
    def services(self) -> dict[str, ServiceInfo]:
        e = self._engine
        return {
            n: ServiceInfo(n, p.spec.kind, p.host, p.port, dict(p.exports), e.status[n].pid)
            for n, p in e.plans.items()
        }

    def url(self, name: str) -> str:
        try:
            url = self._engine.exports[name].get("url")
        except KeyError:
            raise UsageError(
                f"no service named {name!r}; services: {', '.join(self._engine.exports)}"
            ) from None
        if url is None:
            raise UsageError(f"service {name!r} has no url (it listens on no port)")
        return url

    def stage_env(self, own: Mapping[str, str] | None = None) -> dict[str, str]:
        return stage_env(self._engine.base_env, self._engine.env, dict(own or {}))


@dataclass
class RunResult:
    run_id: str
    exit_code: int
    outcomes: list[Outcome] = field(default_factory=list)
    error: TempstackError | None = None
    report_dir: Path | None = None
    kept_until: float | None = None


class Stack:
    """A validated stack file, ready to be brought up any number of times."""

    def __init__(self, loaded: LoadedStack) -> None:
        self.loaded = loaded

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Stack:
        return cls(load(path, environ))

    @property
    def name(self) -> str:
        return self.loaded.name

    def engine(self, **options: Any) -> Engine:
        opts = EngineOptions(**options)
        return Engine(self.loaded, LocalBackend(opts.data_dir), opts)

    @contextmanager
    def up(self, **options: Any) -> Iterator[Run]:
        """Start the stack; tear it down when the block exits, whatever happens."""
        engine = self.engine(**options)
        try:
            engine.start()
            yield Run(engine)
        except BaseException as exc:
            _record_failure(engine, exc)
            raise
        finally:
            engine.stop()
            engine.journal.write(engine.report_dir)

    def run(
        self,
        stages: Sequence[str] = (),
        *,
        keep_on_failure: bool = False,
        keep_ttl: float = DEFAULT_KEEP_TTL,
        timeout: float | None = None,
        echo: bool = True,
        **options: Any,
    ) -> RunResult:
        """Up, run the stages in order, tear down; the result carries the exit code."""
        for name in stages:
            if name not in self.loaded.spec.stages:
                raise UsageError(
                    f"{self.loaded.path.name}: stages.{name}: no such stage; stages: "
                    f"{', '.join(self.loaded.spec.stages) or 'none'}"
                )
        chosen = list(stages) or list(self.loaded.spec.stages)
        engine = self.engine(timeout=timeout, **options)
        deadline = None if timeout is None else time.monotonic() + timeout
        result = RunResult(engine.run_id, EXIT_OK, report_dir=engine.report_dir)
        keep_until: float | None = None
        try:
            engine.start()
            for name in chosen:
                outcome = self._stage(engine, name, deadline, echo)
                result.outcomes.append(outcome)
                engine.journal.outcomes.append(outcome.as_dict())
                if outcome.status is Status.TIMEOUT:
                    result.exit_code = EXIT_TIMEOUT
                elif outcome.status is not Status.PASSED and result.exit_code == EXIT_OK:
                    result.exit_code = EXIT_STAGE_FAILED
            if result.exit_code != EXIT_OK:
                failed = [o for o in result.outcomes if o.status is not Status.PASSED]
                _record_failure(
                    engine,
                    TempstackError(
                        "stage(s) failed: "
                        + ", ".join(f"{o.stage} ({o.status.value})" for o in failed)
                    ),
                )
            if deadline is not None and time.monotonic() > deadline:
                raise StackTimeout(
                    f"the run took longer than --timeout {timeout:g}s", timeout=timeout or 0.0
                )
        except TempstackError as exc:
            result.error, result.exit_code = exc, exc.exit_code
            _record_failure(engine, exc)
        except BaseException as exc:
            result.exit_code = EXIT_INTERRUPTED
            _record_failure(engine, exc)
            raise
        finally:
            interrupted = (
                isinstance(result.error, Interrupted) or result.exit_code == EXIT_INTERRUPTED
            )
            keep = keep_on_failure and engine._opened and not interrupted
            if result.exit_code != EXIT_OK and keep:
                keep_until = time.time() + keep_ttl
                engine.backend.record(status="kept", expires=iso(keep_until))
            engine.journal.result = {"exit_code": result.exit_code, "kept_until": iso(keep_until)}
            engine.stop(keep_until=keep_until)
            engine.journal.write(engine.report_dir)
        result.kept_until = keep_until
        return result

    def _stage(self, engine: Engine, name: str, deadline: float | None, echo: bool) -> Outcome:
        spec = self.loaded.spec.stages[name]
        resolved = spec.model_copy(
            update={
                "run": _resolve(engine, spec.run),
                "cwd": None if spec.cwd is None else engine.resolve_text(spec.cwd, None),
                "env": {k: engine.resolve_text(v, None) for k, v in spec.env.items()},
            }
        )
        if deadline is not None:
            left = max(deadline - time.monotonic(), 0.001)
            resolved.timeout = min(resolved.timeout or left, left)
        engine.journal.event("stage.start", name)
        outcome = run_command_stage(
            name,
            resolved,
            env=stage_env(engine.base_env, engine.env, resolved.env),
            stack_dir=self.loaded.root,
            report_dir=engine.report_dir,
            now=engine.journal.now,
            cancel=engine.cancel,
            echo=echo,
        )
        engine.journal.event(
            "stage.end", name, status=outcome.status.value, returncode=outcome.returncode
        )
        return outcome


def _resolve(engine: Engine, run: str | list[str]) -> str | list[str]:
    if isinstance(run, str):
        return engine.resolve_text(run, None)
    return [engine.resolve_text(part, None) for part in run]


def _record_failure(engine: Engine, exc: BaseException) -> None:
    """Failure bundle and state, before teardown removes what explains the failure."""
    if not engine._opened:
        return
    message = str(exc) or type(exc).__name__
    try:
        engine.backend.record(status="failed", error=message.splitlines()[0])
        engine.write_failure_bundle(message)
    except Exception as bundle_error:  # never let the bundle hide the original error
        engine.journal.event("bundle.error", detail=str(bundle_error))
