"""The pytest plugin (entry point ``pytest11``): a stack for the session, fixtures, measurements.

It is loaded into every pytest run on the machine, so it stays inert and cheap unless asked:
this module imports only pytest and the standard library; tempstack itself is imported
when a stack is wanted or a fixture is used.

Where the stack comes from, first match wins:

* an xdist worker of a controller that holds a stack: the controller's run;
* ``--tempstack-run ID``: attach to a run started by ``tempstack up``; never torn down;
* ``--tempstack [FILE]``: start the stack once for the session (``tempstack.toml`` in the
  current directory by default) and tear it down at the end, whatever happens. With xdist,
  the controller starts one stack that every worker shares, or with
  ``--tempstack-per-worker`` each worker starts its own;
* inside a ``tempstack run`` pytest stage (``TEMPSTACK_RUN_DIR`` is set): that run.

When the plugin starts or attaches to a run, the run's env (``<SERVICE>_<ATTR>``,
``TEMPSTACK_RUN_ID``, ``TEMPSTACK_RUN_DIR``) is put into ``os.environ`` for the session,
so tests written for a stage, which read the exports from the environment, run unchanged.

Per-test measurements, when the run has a profile file: SQL statements
(``pg_stat_statements``) and HTTP requests through the recording proxy during the test
function's body, the ``call`` phase. Fixture setup and teardown are not counted: seeding
a fresh database or logging in is not what the test measures. With several xdist workers
on one shared stack, a test's figures include whatever other workers did meanwhile; use
``--tempstack-per-worker`` when exact per-test figures matter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from tempstack.profile.per_test import PerTestProfiler
    from tempstack.stack import Stack
    from tempstack.testing import DatabaseClones, StackRun

T = TypeVar("T")
_KEY = pytest.StashKey["_Session"]()
_RUN_DIR_INPUT = "tempstack_run_dir"  # what an xdist controller hands its workers
_LIVE = ("ready", "kept")
_START_ERROR = "tempstack_start_error"  # an xdist worker's own stack did not start


# -- options and the session's stack -----------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tempstack", "tempstack: a throwaway stack for the test session")
    group.addoption(
        "--tempstack",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="Start the stack of FILE (default: tempstack.toml, or pyproject.toml with "
        "[tool.tempstack], here) for the session and tear it down at the end. Write "
        "--tempstack=FILE when test paths follow.",
    )
    group.addoption(
        "--tempstack-run",
        default=None,
        metavar="ID",
        help="Use the run ID started by 'tempstack up' (a unique prefix will do); it is "
        "left running.",
    )
    group.addoption(
        "--tempstack-per-worker",
        action="store_true",
        default=False,
        help="With pytest-xdist: each worker starts its own stack instead of sharing one.",
    )


@pytest.hookimpl(trylast=True)  # after the terminal reporter exists, to say which run
def pytest_configure(config: pytest.Config) -> None:
    session = _Session(config)
    config.stash[_KEY] = session
    config.add_cleanup(session.close)
    session.open()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker which run to attach to (shared-stack mode)."""
    session = node.config.stash.get(_KEY, None)
    if session is not None and session.shared_dir is not None:
        node.workerinput[_RUN_DIR_INPUT] = str(session.shared_dir)


class _Session:
    """The stack of one pytest process: started, attached to, or none (the plugin is inert)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.worker = str(self.workerinput["workerid"]) if self.workerinput is not None else "main"
        self.shared_dir: Path | None = None  # handed to xdist workers
        self.shared_by_workers = False  # other xdist workers use this same run
        self.profiler: PerTestProfiler | None = None
        self.admin_dsns: dict[str, str] = {}  # postgres service -> admin DSN (profile file)
        self._run: StackRun | None = None
        self._stage_dir: Path | None = None
        self._clones: dict[str, DatabaseClones] = {}
        self._redis_checked: set[str] = set()
        self._exit = contextlib.ExitStack()

    # -- opening -------------------------------------------------------------------------

    def open(self) -> None:
        option = self.config.option
        file: str | None = option.tempstack
        run_id: str | None = option.tempstack_run
        per_worker: bool = option.tempstack_per_worker
        if file is not None and run_id is not None:
            raise pytest.UsageError("--tempstack and --tempstack-run exclude each other")
        if per_worker and file is None:
            raise pytest.UsageError("--tempstack-per-worker needs --tempstack [FILE]")
        if self.workerinput is not None and _RUN_DIR_INPUT in self.workerinput:
            self.shared_by_workers = True
            self._attach_dir(Path(self.workerinput[_RUN_DIR_INPUT]))
        elif run_id is not None:
            if self._inspecting():
                return
            self.shared_by_workers = self.workerinput is not None
            self._attach_id(run_id)
            self.shared_dir = self._run.dir if self._run else None
        elif file is not None:
            if self._inspecting():
                return
            if self._has_workers() and per_worker:  # each worker starts its own
                _load(file or None)  # a bad stack file is said once, here
                self.config.pluginmanager.register(_WorkerStarts(), "tempstack-worker-starts")
                return
            self._start(file or None)
            if self._has_workers():
                assert self._run is not None
                self.shared_dir = self._run.dir
        elif os.environ.get("TEMPSTACK_RUN_DIR"):
            # inside a ``tempstack run`` stage: attach when a fixture first asks
            self._stage_dir = Path(os.environ["TEMPSTACK_RUN_DIR"])
            self.shared_by_workers = self.workerinput is not None
            profile = os.environ.get("TEMPSTACK_PROFILE")
            self._profile(Path(profile) if profile else None)

    def _inspecting(self) -> bool:
        """Help, collection only, fixture or marker listings: no test runs, no stack."""
        option = self.config.option
        return any(
            getattr(option, name, False)
            for name in ("help", "collectonly", "showfixtures", "show_fixtures_per_test")
        ) or bool(getattr(option, "markers", False))

    def _has_workers(self) -> bool:
        """This process is an xdist controller: its tests run in workers."""
        return self.workerinput is None and getattr(self.config.option, "dist", "no") != "no"

    def _start(self, file: str | None) -> None:
        from tempstack.errors import TempstackError
        from tempstack.testing import StackRun

        stack = _load(file)
        self._exit.enter_context(_signals_raise())
        began = time.monotonic()
        try:
            run = self._exit.enter_context(stack.up())
        except TempstackError as exc:
            message = f"tempstack: {stack.name}: the stack failed to start: {exc}"
            if self.workerinput is None:
                # Exit code 3 is tempstack's own "the stack failed to start", as from
                # ``tempstack up``/``run``; pytest's 4 (usage error) would blame the
                # command line.
                pytest.exit(message, returncode=3)
            self.config.workeroutput[_START_ERROR] = message  # type: ignore[attr-defined]
            self.config.pluginmanager.register(_StartFailed(message), "tempstack-start-failed")
            return
        self._run = StackRun.from_run(run)
        self._exit.callback(self._run.close)
        self._export_env()
        _say(
            self.config,
            f"tempstack: run {run.id} ready in {time.monotonic() - began:.1f}s "
            f"({', '.join(run.services)}); journal: {run.report_dir}",
            worker=self.workerinput is not None,
        )
        self._profile(run.dir / "profile.json")

    def _attach_id(self, run_id: str) -> None:
        from tempstack.backends.local.runs import find_run
        from tempstack.errors import UsageError

        try:
            record = find_run(run_id)
        except UsageError as exc:
            raise pytest.UsageError(f"--tempstack-run: {exc}") from None
        if record.status not in _LIVE:
            raise pytest.UsageError(
                f"--tempstack-run: run {record.id} is {record.status}, not ready"
            )
        self._attach_state(record.run_dir, record.state)
        _say(self.config, f"tempstack: attached to run {record.id}", worker=False)

    def _attach_dir(self, run_dir: Path) -> None:
        from tempstack.backends.local.state import load_state

        state = load_state(run_dir)
        if state is None:
            raise pytest.UsageError(f"tempstack: {run_dir} is not a tempstack run (no state)")
        self._attach_state(run_dir, state)

    def _attach_state(self, run_dir: Path, state: dict[str, Any]) -> None:
        from tempstack.errors import UsageError
        from tempstack.testing import StackRun

        try:
            self._run = StackRun.from_state(run_dir, state)
        except UsageError as exc:
            raise pytest.UsageError(f"tempstack: {exc}") from None
        self._exit.enter_context(_signals_raise())  # test databases are dropped on SIGTERM
        self._exit.callback(self._run.close)
        self._export_env()
        self._profile(run_dir / "profile.json")

    def _export_env(self) -> None:
        assert self._run is not None
        env = self._run.env
        previous = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        self._exit.callback(_restore_env, previous)

    def _profile(self, path: Path | None) -> None:
        """Measure each test if the run has a profile file; otherwise cost nothing."""
        if path is None or self._has_workers() or not path.is_file():
            return  # (an xdist controller runs no test)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            _warn(self.config, f"cannot read the profile file {path}: {exc}")
            return
        self.admin_dsns = dict(data.get("postgres") or {})
        if self.shared_by_workers:
            # several workers' statements and requests would mix on one stack, and a test
            # would be blamed (even by a budget) for another's; say so once, measure nothing
            if self.worker == "gw0":
                _warn(
                    self.config,
                    "per-test SQL and HTTP figures are off: xdist workers share one stack "
                    "(pytest --tempstack --tempstack-per-worker, or no -n, measures each test)",
                )
            return
        from tempstack.profile.per_test import PerTestProfiler

        self.profiler = PerTestProfiler(
            data,
            f"_{self.worker}_p{os.getpid()}_",
            lambda message, nodeid: _warn(self.config, message, nodeid),
        )
        self.config.pluginmanager.register(self.profiler, "tempstack-profiler")

    # -- what fixtures use -----------------------------------------------------------------

    def run(self) -> StackRun:
        if self._run is None and self._stage_dir is not None:
            from tempstack.backends.local.state import load_state
            from tempstack.testing import StackRun

            state = load_state(self._stage_dir)
            if state is None:
                pytest.fail(
                    f"tempstack: TEMPSTACK_RUN_DIR={self._stage_dir} is not a tempstack run",
                    pytrace=False,
                )
            self._run = _checked(StackRun.from_state, self._stage_dir, state)
            self._exit.callback(self._run.close)
        if self._run is None:
            pytest.fail(
                "tempstack: no stack in this session; run pytest with --tempstack [FILE] or "
                "--tempstack-run ID, or inside a 'tempstack run' pytest stage",
                pytrace=False,
            )
        return self._run

    def clones(self, service: str | None) -> DatabaseClones:
        """The per-test database maker of a postgres service (default: the first)."""
        from tempstack.testing import DatabaseClones

        run = self.run()
        name = service or _first(run, "postgres", "fresh_db")
        if name not in self._clones:
            svc = _checked(run.service, name, "postgres")
            template = svc.exports.get("template")
            if not template:
                pytest.fail(
                    f"tempstack: postgres service {name!r} exports no 'template' database "
                    "to clone per test",
                    pytrace=False,
                )
            base = svc.exports.get("database", name)[:24]  # the names' ends must stay whole
            prefix = f"{base}_{self.worker}_p{os.getpid()}"
            clones = DatabaseClones(
                svc.exports["url"], template, prefix, admin_dsn=self.admin_dsns.get(name)
            )
            self._clones[name] = clones
            self._exit.callback(_quietly, clones.close, f"dropping the test databases of {name}")
        return self._clones[name]

    def redis_url(self, service: str | None) -> str:
        """The service's URL on this worker's own logical database."""
        from tempstack.testing import redis_databases, redis_index, redis_url

        run = self.run()
        name = service or _first(run, "redis", "fresh_redis")
        url = _checked(run.service, name, "redis").exports["url"]
        index = redis_index(url)
        if self.shared_by_workers and self.worker.startswith("gw"):
            index += int(self.worker[2:])
        if name not in self._redis_checked:
            available = redis_databases(url)
            if index >= available:
                pytest.fail(
                    f"tempstack: redis service {name!r} has {available} databases; worker "
                    f"{self.worker} would need database {index} (fewer workers, "
                    "--tempstack-per-worker, or settings = { databases = N })",
                    pytrace=False,
                )
            self._redis_checked.add(name)
        return redis_url(url, index)

    def close(self) -> None:
        """Drop leftover databases, close clients, tear down a stack this process started."""
        if self.profiler is not None:
            with contextlib.suppress(ValueError):
                self.config.pluginmanager.unregister(self.profiler)
            self.profiler.close()
        self._exit.close()


def _checked(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, its tempstack errors (a service that is not there) as test failures."""
    from tempstack.errors import TempstackError

    try:
        return call(*args)
    except TempstackError as exc:
        pytest.fail(f"tempstack: {exc}", pytrace=False)


def _load(file: str | None) -> Stack:
    """The stack file, validated; its problems as pytest usage errors."""
    from tempstack.errors import SpecErrors, UsageError
    from tempstack.launch import missing_tool_modules

    missing = missing_tool_modules()
    if missing:  # this is a project's environment with tempstack's core only
        raise pytest.UsageError(
            "--tempstack starts the stack in this interpreter, whose environment has "
            f"tempstack's core only (no {', '.join(missing)}): start it with the tool "
            "(tempstack up --detach) and pass --tempstack-run ID, or let `tempstack run` "
            "run these tests as a stage"
        )
    from tempstack.stack import Stack

    try:
        return Stack.load(file)
    except (UsageError, SpecErrors) as exc:
        raise pytest.UsageError("--tempstack: " + "\n  ".join(str(exc).splitlines())) from None
    except IsADirectoryError:
        raise pytest.UsageError(
            f"--tempstack: {file} is a directory, not a stack file; write "
            "--tempstack=FILE, or put test paths before --tempstack"
        ) from None


class _StartFailed:
    """An xdist worker whose own stack did not start: its first test fails saying why, and
    the worker stops. (Exiting from ``pytest_configure``, as without xdist, would make xdist
    start a replacement worker, again and again.)"""

    def __init__(self, message: str) -> None:
        self.message = message

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.session.shouldfail = self.message
        pytest.fail(self.message, pytrace=False)


class _WorkerStarts:
    """The xdist controller of per-worker stacks: exit 3 if a worker's stack did not start."""

    def __init__(self) -> None:
        self.failed = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        if getattr(node, "workeroutput", {}).get(_START_ERROR):
            self.failed = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.failed:
            session.exitstatus = 3


def _first(run: StackRun, kind: str, fixture: str) -> str:
    for name, svc in run.services.items():
        if svc.kind == kind:
            return name
    pytest.fail(f"tempstack: {fixture}: the stack has no {kind} service", pytrace=False)


def _quietly(close: Callable[[], None], what: str) -> None:
    """Session cleanup that must not stop the rest of it (the stack still has to go)."""
    try:
        close()
    except Exception as exc:
        print(f"tempstack: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _restore_env(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class _Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP: pytest stops as on Ctrl-C, and the stack is torn down."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise _Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an interruption, unless someone else handles them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(config: pytest.Config, line: str, *, worker: bool) -> None:
    if worker:
        return  # an xdist worker's output is not shown anyway
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line, file=sys.stderr)


def _warn(config: pytest.Config, message: str, nodeid: str = "") -> None:
    """A warning in pytest's summary that never fails the run.

    Recorded directly rather than through ``warnings.warn``: a project's
    ``filterwarnings = error`` must not turn a measuring problem into a failed test.
    """
    warning = pytest.PytestWarning(f"tempstack: {message}")
    record = warnings.WarningMessage(warning, pytest.PytestWarning, __file__, 0)
    config.hook.pytest_warning_recorded.call_historic(
        kwargs={"warning_message": record, "when": "runtest", "nodeid": nodeid, "location": None}
    )


def _session(config: pytest.Config) -> _Session:
    return config.stash[_KEY]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tempstack_run(request: pytest.FixtureRequest) -> StackRun:
    """The session's run: ``id``, ``env``, ``services``, ``url(name)``, ``mock(name)``,
    ``mail(name)``."""
    return _session(request.config).run()


@pytest.fixture
def stack_env(tempstack_run: StackRun) -> dict[str, str]:
    """The env a test hands to what it starts: every export as ``<SERVICE>_<ATTR>``, plus
    ``TEMPSTACK_RUN_ID`` and ``TEMPSTACK_RUN_DIR`` (a fresh copy per test)."""
    return tempstack_run.env


@pytest.fixture
def fresh_db_factory(
    request: pytest.FixtureRequest, tempstack_run: StackRun
) -> Generator[Callable[..., str]]:
    """``make(service=None) -> url``: a new database cloned from a postgres service's
    template (the state after the stack's jobs ran); dropped after the test."""
    session = _session(request.config)
    made: list[tuple[DatabaseClones, str]] = []

    def make(service: str | None = None) -> str:
        clones = session.clones(service)
        url = clones.create()
        made.append((clones, url))
        return url

    yield make
    for clones, url in reversed(made):
        clones.drop(url)


@pytest.fixture
def fresh_db(fresh_db_factory: Callable[..., str]) -> str:
    """A per-test database URL of the first postgres service, cloned from its template.

    Its name holds the xdist worker id, so no two workers ever share a database.
    """
    return fresh_db_factory()


@pytest.fixture
def fresh_redis(request: pytest.FixtureRequest, tempstack_run: StackRun) -> str:
    """The first redis service's URL on this worker's own logical database, flushed."""
    from tempstack.testing import flush_redis

    url = _session(request.config).redis_url(None)
    flush_redis(url)
    return url
