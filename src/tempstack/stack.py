"""The library: ``Stack.load(path)``, ``with stack.up() as run:``, ``stack.run(...)``.

The CLI and the pytest plugin are thin layers over these two classes.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from tempstack._bounds import bounded
from tempstack._clock import iso
from tempstack.backends.select import BackendOptions, make_backend
from tempstack.engine import Engine, EngineOptions
from tempstack.errors import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STAGE_FAILED,
    EXIT_TIMEOUT,
    Interrupted,
    SpecErrors,
    StackTimeout,
    TempstackError,
    UsageError,
)
from tempstack.masking import Masker, secrets_in_env
from tempstack.profile.budgets import evaluate, exceeded
from tempstack.report.flaky import flakiness
from tempstack.report.write import ReportPaths, write_reports
from tempstack.service_info import ServiceInfo
from tempstack.spec.budgets import parse_budgets
from tempstack.spec.errors import convert
from tempstack.spec.load import LoadedStack, load
from tempstack.spec.stages import StageSpec
from tempstack.stages import RUNNERS, Outcome, StageContext, Status, stage_env
from tempstack.stages.command import interrupted_outcome

DEFAULT_KEEP_TTL = 3600.0


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
    reach: list[str] = field(default_factory=list)  # a kept run's way in (Kubernetes)
    reports: ReportPaths | None = None
    #: knows the run's secrets: what is shown of this result passes through it
    masker: Masker = field(default_factory=Masker)


_BACKEND_KEYS = ("kubeconfig", "context", "wait", "expiry")


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
        """An engine on the chosen backend: ``backend``, ``kubeconfig``, ``context``, ``wait``
        and ``expiry`` choose and configure it; the rest are ``EngineOptions``."""
        chosen = BackendOptions(**{k: options.pop(k) for k in list(options) if k in _BACKEND_KEYS})
        if "backend" in options:
            chosen.name = options.pop("backend")
        opts = EngineOptions(**options)
        return Engine(self.loaded, make_backend(self.loaded, opts.data_dir, chosen), opts)

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
            engine.journal.finish()
            if not engine.refused:  # a taken run id: that run's reports are not ours
                engine.journal.write()

    def run(
        self,
        stages: Sequence[str] = (),
        *,
        keep_on_failure: bool = False,
        keep_ttl: float = DEFAULT_KEEP_TTL,
        timeout: float | None = None,
        echo: bool = True,
        repeat: int = 1,
        history: Path | Literal[False] | None = None,
        **options: Any,
    ) -> RunResult:
        """Up, run the stages in order (``repeat`` times), write the reports, tear down.

        The result carries the exit code. ``history`` is the history database (default
        ``.tempstack/history.sqlite`` beside the stack file; ``False`` records nothing).
        """
        for name in stages:
            if name not in self.loaded.spec.stages:
                raise UsageError(
                    f"{self.loaded.path.name}: stages.{name}: no such stage; stages: "
                    f"{', '.join(self.loaded.spec.stages) or 'none'}"
                )
        if repeat < 1:
            raise UsageError(f"--repeat must be at least 1, got {repeat}")
        if len(set(stages)) != len(stages):
            raise UsageError(f"a stage is named twice: {' '.join(stages)}; name each once")
        chosen = list(stages) or list(self.loaded.spec.stages)
        engine = self.engine(timeout=timeout, **options)
        _writable(engine.report_dir)
        engine.journal.repeat = repeat
        deadline = None if timeout is None else time.monotonic() + bounded(timeout)
        result = RunResult(
            engine.run_id, EXIT_OK, report_dir=engine.report_dir, masker=engine.journal.masker
        )
        keep_until: float | None = None
        interruption: str | None = None
        try:
            engine.start()
            for attempt in range(1, repeat + 1):
                for name in chosen:
                    if deadline is not None and time.monotonic() >= deadline:
                        outcome = self._skipped(engine, name, attempt, "--timeout expired")
                    else:
                        outcome = self._stage(engine, result, name, deadline, echo, attempt, repeat)
                    _add(engine, result, outcome)
                    if engine.failure is not None:  # a service died: the run ends here
                        raise engine.failure
                    if outcome.status is Status.TIMEOUT:
                        result.exit_code = EXIT_TIMEOUT
                    elif outcome.status in _FAILING and result.exit_code == EXIT_OK:
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
            interruption = str(exc) or type(exc).__name__
            _record_failure(engine, exc)
            raise
        finally:
            result.run_id, result.report_dir = engine.run_id, engine.report_dir  # after a retry
            interrupted = (
                isinstance(result.error, Interrupted) or result.exit_code == EXIT_INTERRUPTED
            )
            keep = keep_on_failure and engine._opened and not interrupted
            if result.exit_code != EXIT_OK and keep:
                keep_until = time.time() + keep_ttl
                engine.backend.record(status="kept", expires=iso(keep_until))
            engine.journal.result = {
                "exit_code": result.exit_code,
                "status": _status_of(result.exit_code),
                "error": interruption if result.error is None else str(result.error),
                "kept_until": iso(keep_until),
            }
            if repeat > 1:
                engine.journal.flakiness = flakiness(result.outcomes)
            engine.stop(keep_until=keep_until)
            if not interrupted:
                self._judge_budgets(engine, result)
            engine.journal.finish()
            if not engine.refused:  # a taken run id: that run's reports are not ours
                result.reports = write_reports(
                    engine.journal,
                    None if history is False else (history or self.history_path),
                )
        result.kept_until = keep_until
        if keep_until is not None:
            result.reach = engine.backend.reach()
        return result

    def _judge_budgets(self, engine: Engine, result: RunResult) -> None:
        """``[budgets]`` against what was measured; exceeded ones fail a passing run (5)."""
        budgets = parse_budgets(self.loaded.spec)
        if not budgets or engine.journal.result is None:
            return
        results = evaluate(budgets, engine.journal.as_dict())
        engine.journal.budgets = results
        if exceeded(results) and result.exit_code == EXIT_OK:
            result.exit_code = EXIT_BUDGET
            over = [r["text"] for r in results if r["status"] == "exceeded"]
            engine.journal.result = {
                **engine.journal.result,
                "exit_code": EXIT_BUDGET,
                "status": _status_of(EXIT_BUDGET),
                "error": "budget exceeded: " + "; ".join(over),
            }

    @property
    def history_path(self) -> Path:
        return self.loaded.root / ".tempstack" / "history.sqlite"

    def _stage(
        self,
        engine: Engine,
        result: RunResult,
        name: str,
        deadline: float | None,
        echo: bool,
        attempt: int = 1,
        repeat: int = 1,
    ) -> Outcome:
        spec = _resolve_stage(engine, self.loaded, name)
        now = engine.journal.now
        stage_deadline = now() + bounded(spec.timeout)
        if deadline is not None:  # --timeout bounds the whole run
            stage_deadline = min(stage_deadline, now() + max(deadline - time.monotonic(), 0.001))
        out_dir = engine.report_dir / "stages" / name
        if repeat > 1:
            out_dir = out_dir / f"attempt-{attempt}"
        shutil.rmtree(out_dir, ignore_errors=True)  # a reused --report-dir never leaks in
        env = stage_env(engine.base_env, engine.env, dict(spec.env))
        engine.journal.masker.add(secrets_in_env(dict(spec.env)))
        runner = None
        if spec.where == "cluster" and engine.backend.remote:
            from tempstack.backends.kubernetes import KubernetesBackend
            from tempstack.backends.kubernetes.stage_job import ClusterStage

            assert isinstance(engine.backend, KubernetesBackend)
            image = spec.image or self.loaded.spec.kubernetes.stage_image
            assert image is not None, "checked by spec.placement"
            env = {"PYTHONUNBUFFERED": "1", **engine.inner_top, **engine.inner_env, **spec.env}
            runner = ClusterStage(engine.backend, image, env)
        ctx = StageContext(
            runner=runner,
            name=name,
            env=env,
            stack_dir=self.loaded.root,
            out_dir=out_dir,
            now=now,
            cancel=engine.cancel,
            echo=echo,
            attempt=attempt,
            deadline=stage_deadline,
            python=str(engine.interpreter.path),
            masker=engine.journal.masker,
        )
        engine.journal.event("stage.start", name, attempt=attempt)
        engine.profiler.stage_started(name)
        try:
            outcome = RUNNERS[spec.kind](ctx, spec)
        except BaseException as exc:  # interrupted: the stage still gets its outcome
            outcome = interrupted_outcome(ctx, spec.kind, str(exc) or type(exc).__name__)
            _add(engine, result, outcome)
            engine.journal.event("stage.end", name, attempt=attempt, status=outcome.status.value)
            raise
        engine.profiler.stage_ended(name)
        if engine.failure is not None and outcome.status is Status.ERROR:
            outcome.reason = f"stopped: {str(engine.failure).splitlines()[0]}"
        engine.journal.event(
            "stage.end",
            name,
            attempt=attempt,
            status=outcome.status.value,
            returncode=outcome.returncode,
        )
        return outcome

    def _skipped(self, engine: Engine, name: str, attempt: int, reason: str) -> Outcome:
        at = engine.journal.now()
        kind = self.loaded.spec.stages[name].kind
        return Outcome(name, kind, Status.SKIPPED, at, at, reason=reason, attempt=attempt)


_FAILING = {Status.FAILED, Status.ERROR, Status.TIMEOUT}


def _add(engine: Engine, result: RunResult, outcome: Outcome) -> None:
    result.outcomes.append(outcome)
    engine.journal.outcomes.append(outcome.as_dict(engine.report_dir))


def _writable(report_dir: Path) -> None:
    """The report dir is checked before anything starts: a run must be able to report."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / ".tempstack-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--report-dir {report_dir}: cannot write there ({exc.strerror or exc}); "
            "give a writable directory"
        ) from None


def _resolve_stage(engine: Engine, loaded: LoadedStack, name: str) -> StageSpec:
    """Every ``${...}`` in the stage filled in from the running stack's exports."""
    spec = loaded.spec.stages[name]
    data = spec.model_dump()
    inner = spec.where == "cluster" and engine.backend.remote  # as the pods see the stack
    try:
        return type(spec).model_validate(engine.resolve_data(data, None, inner=inner))
    except ValidationError as exc:  # valid as written, invalid once ${...} is filled in
        prefix = ".".join(p for p in (loaded.prefix, "stages", name) if p)
        errors = convert(exc, type(spec), loaded.path.name, prefix, "a stage", data)
        for err in errors:
            err.message += " (after interpolation)"
        raise SpecErrors(errors) from None


def _status_of(code: int) -> str:
    return {
        EXIT_OK: "passed",
        EXIT_STAGE_FAILED: "failed",
        EXIT_TIMEOUT: "timeout",
        EXIT_INTERRUPTED: "interrupted",
        EXIT_BUDGET: "budget",
    }.get(code, "error")


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
