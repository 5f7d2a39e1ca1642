"""Run the dependency graph: plan everything, start services concurrently, tear down.

Each service gets a thread that waits only for its own dependencies, prepares, spawns,
and waits for readiness (or, for a job, completion). The main thread waits on one
condition variable, so it sees the first failure, a deadline or a signal at once.
Teardown is in reverse dependency order, one wave at a time, each wave in parallel; it is
idempotent, shielded from a second signal (which forces SIGKILL instead), and one service
failing to stop never stops the others.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tempstack._bounds import MAX_STOP_GRACE, bounded
from tempstack._files import write_json
from tempstack.backends.base import Backend, Handle
from tempstack.engine import records, runid
from tempstack.engine import snapshot as snapshots
from tempstack.engine.interpreter import find_interpreter
from tempstack.engine.journal import Journal
from tempstack.engine.records import LOG_TAIL_LINES
from tempstack.engine.watch import ServiceWatch
from tempstack.errors import SpecErrors, StackTimeout, StartError, TempstackError
from tempstack.masking import secrets_in_env
from tempstack.plugins import CLUSTER_HOSTS_VAR
from tempstack.profile.profiler import PROFILE_VAR, Profiler
from tempstack.readiness.base import ProbeFailed, ProbeHistory, wait_until
from tempstack.readiness.listening import NoticeListening
from tempstack.readiness.tcp import TcpProbe
from tempstack.services.base import (
    RUN_ID_VAR,
    Launch,
    PrepareContext,
    ServicePlan,
    run_tag,
)
from tempstack.services.kinds import KINDS
from tempstack.services.postgres import STAT_STATEMENTS_VAR
from tempstack.spec.errors import convert
from tempstack.spec.graph import teardown_waves
from tempstack.spec.interpolate import resolver, substitute
from tempstack.spec.load import LoadedStack, read_env_files
from tempstack.spec.model import (
    Condition,
    JobService,
    ProcessService,
    ServiceSpec,
)
from tempstack.spec.placement import image_for

PROXY = "_proxy"  # the recording proxy's directory and log name (not a valid service name)
PROXY_START_TIMEOUT = 10.0


class State(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    STARTED = "started"
    READY = "ready"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPING = "stopping"
    STOPPED = "stopped"


_SATISFIES = {
    Condition.STARTED: {State.STARTED, State.READY, State.COMPLETED},
    Condition.READY: {State.READY},
    Condition.COMPLETED: {State.COMPLETED},
}
_DONE = {State.READY, State.COMPLETED}


@dataclass
class ServiceStatus:
    """What a person (or ``ps``) sees of one service."""

    name: str
    kind: str
    state: State = State.PENDING
    since: float = 0.0  # seconds into the run when the state was entered
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None  # "restored" / "saved"


@dataclass
class EngineOptions:
    data_dir: Path | None = None
    report_dir: Path | None = None
    timeout: float | None = None  # bounds the start
    environ: Mapping[str, str] | None = None
    on_change: Callable[[ServiceStatus], None] | None = None
    run_id: str | None = None
    use_cache: bool = True  # False (--no-cache): neither restore nor save seeded snapshots
    #: told at once when a service dies while the stack is up (the CLI prints it)
    on_failure: Callable[[TempstackError], None] | None = None


def env_name(service: str, attr: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", f"{service}_{attr}").upper()


class Engine:
    def __init__(self, loaded: LoadedStack, backend: Backend, options: EngineOptions) -> None:
        self.loaded = loaded
        self.backend = backend
        self.options = options
        self.environ = dict(os.environ if options.environ is None else options.environ)
        #: the project's Python, which stages run with (found once, before anything starts)
        self.interpreter = find_interpreter(loaded.root, loaded.spec.stack.python, self.environ)
        self.run_id = options.run_id or runid.make_run_id(loaded.name)
        self.report_dir = (
            options.report_dir.absolute()
            if options.report_dir
            else runid.default_report_dir(loaded.root, self.run_id)
        )
        self.journal = Journal(self.run_id, loaded.name, loaded.path, self.report_dir)
        self.plans: dict[str, ServicePlan] = {}
        self.contexts: dict[str, PrepareContext] = {}
        self.handles: dict[str, Handle] = {}
        self.probes: dict[str, ProbeHistory] = {}
        self.status = {n: ServiceStatus(n, s.kind) for n, s in loaded.spec.services.items()}
        self.exports: dict[str, dict[str, str]] = {}
        self.env: dict[str, str] = {}  # the exports as environment variables
        self.inner_env: dict[str, str] = {}  # ... as the services (and in-cluster stages) see them
        self.inner_top: dict[str, str] = {}  # ``[env]`` as the services see it
        self.base_env: dict[str, str] = {}  # caller env + [env], for stages
        self.failure: TempstackError | None = None
        self.cancel = threading.Event()
        self.force = threading.Event()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._opened = False
        self._stopped = False
        self.refused = False  # the run id was taken: nothing of this run may be written
        self.snapshot: snapshots.SnapshotPlan | None = None
        self._seed_lock = threading.Lock()
        self._unseeded: dict[str, set[str]] = {}  # data service -> jobs still to complete
        self._group_left: set[str] = set()  # snapshot jobs still to complete (saving)
        self._snapshot_done = threading.Event()
        self._held: set[str] = set()  # services that wait for the snapshot to be taken
        self.own_exports: dict[str, dict[str, str]] = {}  # what a proxied service sees of itself
        #: the exports as the services see each other: the same as ``exports`` locally; in a
        #: cluster, services' own names and ports instead of this machine's forwards
        self.inner_exports: dict[str, dict[str, str]] = {}
        self.proxied: dict[str, tuple[int, int]] = {}  # service -> (proxy port, own port)
        self.proxy: Handle | None = None
        self.profiler = Profiler(loaded.spec.profile, self._pids, self.journal.event)
        self.watch = ServiceWatch(self, options.on_failure, LOG_TAIL_LINES)

    # -- start -----------------------------------------------------------------------------
    def start(self) -> None:
        """Bring every service up; raises on the first failure or the ``timeout``."""
        timeout = self.options.timeout
        deadline = None if timeout is None else time.monotonic() + bounded(timeout)
        self.journal.event("run.start")
        if not self.backend.remote:  # a cluster brings its own servers, in images
            for name, svc in self.loaded.spec.services.items():
                KINDS[svc.kind].check_installed(svc, name)
        runid.open_backend(self)
        self._opened = True
        self._plan()
        self._plan_data()
        self.profiler.start()
        self._start_proxy(deadline)
        for name in self.loaded.order:
            thread = threading.Thread(
                target=self._bring_up, args=(name,), name=f"ts-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._wait_all(deadline)
        for name, plan in self.plans.items():
            if dsn := plan.kind.stats_dsn(plan, self.contexts[name]):
                self.profiler.dsns[name] = dsn
        self.profiler.stack_ready(self.journal.now())
        self.profiler.write_file(Path(self.env[PROFILE_VAR]))
        self.backend.record(status="ready", exports=self.exports, env=self.env)
        self.journal.event("run.ready")
        if not self.backend.remote:  # a cluster restarts its pods; it reports its own failures
            self.watch.start()

    def fail(self, error: TempstackError) -> bool:
        """Record the run's first failure and cancel what runs; False if one came first."""
        with self._cv:
            if self.failure is not None or self._stopped:
                return False
            self.failure = error
            self.cancel.set()
            self._cv.notify_all()
        return True

    def mark_failed(self, name: str, error: str) -> None:
        self._set(name, State.FAILED, error=error)

    def _pids(self) -> dict[str, int]:
        return {n: h.pid for n, h in list(self.handles.items()) if h.pid and h.returncode() is None}

    def _start_proxy(self, deadline: float | None) -> None:
        if not self.proxied:
            return
        workdir = self.backend.workdir(PROXY)
        records = workdir / "records.tsv"
        config = workdir / "config.json"
        host = next(iter(self.plans.values())).host
        write_json(
            config,
            {
                "host": host,
                "records": str(records),
                "routes": [
                    {"service": n, "listen": public, "target": own}
                    for n, (public, own) in self.proxied.items()
                ],
            },
        )
        launch = Launch(
            argv=[sys.executable, "-m", "tempstack.profile.proxy", str(config)],
            env={**self.base_env, **run_tag(self.run_id)},
            cwd=workdir,
            stop_timeout=2.0,
        )
        self.proxy = self.backend.spawn(PROXY, launch)
        self.profiler.records = records
        limit = time.monotonic() + PROXY_START_TIMEOUT
        for public, _ in self.proxied.values():
            try:
                wait_until(
                    TcpProbe(host, public),
                    deadline=limit if deadline is None else min(limit, deadline),
                    exited=self.proxy.returncode,
                    cancel=self.cancel,
                )
            except ProbeFailed as failed:
                raise StartError(
                    f"the recording proxy did not start ({failed.reason}); "
                    "set [profile] proxy = false to run without it",
                    log_tail=self.backend.log_tail(PROXY, LOG_TAIL_LINES),
                ) from None

    def _plan(self) -> None:
        """Ports, secrets and exports for every service, then resolve every ``${...}``."""
        for name in self.loaded.order:
            spec = self.loaded.spec.services[name]
            kind = KINDS[spec.kind]
            host, port = self.backend.endpoint(
                name, kind.needs_port(spec, name in self.loaded.referenced)
            )
            plan = ServicePlan(name, spec, kind, host, port, kind.make_secrets(spec))
            for extra in kind.extra_ports(spec):
                _, extra_port = self.backend.endpoint(f"{name}.{extra}", True)
                assert extra_port is not None
                plan.ports[extra] = extra_port
            plan.exports = kind.exports(plan)
            if port is not None and self.loaded.spec.proxied(name):
                _, public = self.backend.endpoint(f"{name}.proxy", True)
                assert public is not None
                plan.ports["proxy"] = public
                self.proxied[name] = (public, port)
                # the service itself listens on its own port; everyone else, and its
                # own links (``${self.url}``), go through the proxy
                plan.exports = {
                    **plan.exports,
                    "port": str(public),
                    "url": f"http://{host}:{public}",
                    "direct_url": f"http://{host}:{port}",
                }
                self.own_exports[name] = {**plan.exports, "port": str(port)}
            self.plans[name] = plan
            self.exports[name] = plan.exports
            inner = plan
            if self.backend.remote:
                inner = replace(plan, host=self.backend.service_host(name))
            self.inner_exports[name] = plan.kind.exports(inner)
            for key in plan.kind.identities:
                plan.exports[key] = self.inner_exports[name][key]
            self.status[name].port = port
            self.status[name].url = plan.exports.get("url")
        self.env = {
            env_name(svc, attr): value
            for svc, attrs in self.exports.items()
            for attr, value in attrs.items()
        }
        self.env["TEMPSTACK_RUN_ID"] = self.run_id
        self.inner_env = {
            env_name(svc, attr): value
            for svc, attrs in self.inner_exports.items()
            for attr, value in attrs.items()
        }
        self.inner_env["TEMPSTACK_RUN_ID"] = self.run_id
        self.env["TEMPSTACK_RUN_DIR"] = str(self.backend.run_dir)
        if self.backend.remote:
            # links that services hand out (a redirect to http://auth:PORT/authorize) use
            # their cluster names; each is forwarded to the same port on 127.0.0.1 here,
            # so a browser that maps these names to 127.0.0.1 follows them
            self.env[CLUSTER_HOSTS_VAR] = ",".join(
                self.backend.service_host(n) for n, p in self.plans.items() if p.port
            )
        self.env[PROFILE_VAR] = str(self.backend.run_dir / "profile.json")
        top = {k: self.resolve_text(v, None) for k, v in self.loaded.spec.env.items()}
        environ = self.environ
        if not self.backend.remote:  # a pod's Python is its image's
            environ = self.interpreter.activate(environ)
        self.base_env = {**environ, **top}
        remote = self.backend.remote
        if remote:  # a pod gets the stack's environment, never this machine's
            top = {
                k: self.resolve_text(v, None, inner=True) for k, v in self.loaded.spec.env.items()
            }
        self.inner_top = top
        for name, plan in self.plans.items():
            plan.spec = self._resolve_spec(plan.spec, name)
            own: dict[str, str] = {}
            if isinstance(plan.spec, ProcessService | JobService):
                own = {**read_env_files(plan.spec.env_file, self.loaded.root), **plan.spec.env}
            if not self.loaded.spec.profile.queries:
                own = {STAT_STATEMENTS_VAR: "0", **own}
            self.contexts[name] = PrepareContext(
                run_id=self.run_id,
                workdir=self.backend.workdir(name),
                stack_dir=self.loaded.root,
                cache_dir=self.backend.cache_dir(),
                # not OWNER_VAR: a pod is the cluster's to stop, and on a single-node
                # cluster its processes share this machine's process table
                base_env={**top, RUN_ID_VAR: self.run_id, **own}
                if remote
                else {**self.base_env, **own},
                record_dir=self.backend.record_dir,
                remote=remote,
                image=image_for(self.loaded.spec, plan.spec),
                inner_exports=self.inner_exports[name],
            )
        secret_values = {v for p in self.plans.values() for v in p.secrets.values() if v}
        self.journal.masker.add(secret_values)
        self.journal.masker.add(secrets_in_env(self.base_env))
        for context in self.contexts.values():
            self.journal.masker.add(secrets_in_env(context.base_env))
        if self.backend.remote:
            self.backend.secret_values.update(secret_values)
        self.backend.record(
            ports={
                **{n: p.port for n, p in self.plans.items()},
                **{f"{n}.{x}": port for n, p in self.plans.items() for x, port in p.ports.items()},
            },
            services={
                n: {
                    "kind": p.spec.kind,
                    "port": self.proxied.get(n, (p.port, 0))[0],  # what users should reach
                    "url": p.exports.get("url"),
                    "status": State.PENDING.value,
                }
                for n, p in self.plans.items()
            },
        )

    def _plan_data(self) -> None:
        """Seeding bookkeeping, and whether the seeded snapshot is restored or saved."""
        spec = self.loaded.spec
        jobs = [n for n, s in spec.services.items() if isinstance(s, JobService)]
        for name, svc in spec.services.items():
            if KINDS[svc.kind].holds_data:
                self._unseeded[name] = {
                    j for j in jobs if name in snapshots.transitive_deps(self.loaded.deps, j)
                }

        def version_of(name: str) -> str | None:
            return KINDS[spec.services[name].kind].data_version(spec.services[name], name)

        if self.backend.remote:  # the data lives in the cluster: nothing to copy here
            if any(isinstance(s, JobService) and s.snapshot for s in spec.services.values()):
                self.journal.event(
                    "snapshot.unsupported",
                    error=f"seeded snapshots are not used on the {self.backend.name} backend "
                    "(the data lives there); the jobs run",
                )
            self._snapshot_done.set()
            return
        plan = snapshots.plan_snapshot(
            self.loaded,
            version_of,
            self.backend.cache_dir(),
            environ=self.environ,
            use_cache=self.options.use_cache,
        )
        self.snapshot = plan
        if plan is None:
            self._snapshot_done.set()
            return
        if plan.hit:
            self.journal.event("snapshot.restore", key=plan.key, services=plan.services)
            for name in plan.services:
                ctx = self.contexts[name]
                ctx.restore = plan.service_dir(name)
                ctx.restore_meta = dict(plan.meta.get("services", {}).get(name) or {})
                self.status[name].snapshot = "restored"
            self._snapshot_done.set()
            return
        if not self.options.use_cache:
            self.journal.event("snapshot.bypassed", key=plan.key)
            self._snapshot_done.set()
            return
        self.journal.event("snapshot.miss", key=plan.key, services=plan.services)
        self._group_left = set(plan.jobs)
        needed = set(plan.jobs).union(*(snapshots.used_services(self.loaded, j) for j in plan.jobs))
        for name, deps in self.loaded.deps.items():
            if name not in needed and any(d in plan.services for d in deps):
                self._held.add(name)  # nothing else connects while the data is copied

    def _restored_job(self, name: str) -> bool:
        plan = self.snapshot
        return plan is not None and plan.hit and name in plan.jobs

    def _job_done(self, name: str) -> None:
        """A job succeeded (or was restored): take the snapshot, make templates, as due."""
        with self._seed_lock:
            if name in self._group_left:
                self._group_left.discard(name)
                if not self._group_left:
                    try:
                        self._save_snapshot()
                    finally:
                        self._snapshot_done.set()
                        with self._cv:
                            self._cv.notify_all()
            seeded = []
            for service, left in self._unseeded.items():
                if name in left:
                    left.discard(name)
                    if not left:
                        seeded.append(service)
            for service in seeded:
                self._seeded(service)

    def _seeded(self, name: str) -> None:
        plan, ctx = self.plans[name], self.contexts[name]
        try:
            plan.kind.after_seeded(plan, ctx)
            self.journal.event("service.seeded", name)
        except Exception as exc:  # per-test templates missing: the run itself can go on
            self.journal.event("service.seed_error", name, error=str(exc))

    def _save_snapshot(self) -> None:
        plan = self.snapshot
        assert plan is not None
        started = time.monotonic()
        built = snapshots.building_dir(plan)
        self.backend.record_dir(built)  # interrupted half-way: teardown removes it
        try:
            meta = {
                n: self.plans[n].kind.save_snapshot(self.plans[n], self.contexts[n], built / n)
                for n in plan.services
            }
            saved = snapshots.commit(plan, built, self.loaded.name, meta)
            if saved:
                for n in plan.services:
                    self.status[n].snapshot = "saved"
            self.journal.event(
                "snapshot.saved" if saved else "snapshot.discarded",  # another run was first
                key=plan.key,
                services=plan.services,
                seconds=round(time.monotonic() - started, 3),
            )
        except Exception as exc:  # a failed snapshot costs the next run time, not this run
            shutil.rmtree(built, ignore_errors=True)
            self.journal.event("snapshot.error", key=plan.key, error=f"{type(exc).__name__}: {exc}")

    def resolve_text(self, text: str, self_name: str | None, *, inner: bool = False) -> str:
        """``${...}`` filled in as this machine sees the stack, or (``inner``) as services do."""
        exports = self.inner_exports if inner else self.exports
        if inner:
            return substitute(text, resolver(exports, self.environ, self_name))
        if self_name in self.own_exports:
            exports = {**exports, self_name: self.own_exports[self_name]}
        return substitute(text, resolver(exports, self.environ, self_name))

    def resolve_data(self, value: Any, self_name: str | None, *, inner: bool = False) -> Any:
        """Every ``${...}`` in the strings of nested dicts and lists filled in."""
        if isinstance(value, str):
            return self.resolve_text(value, self_name, inner=inner)
        if isinstance(value, dict):
            return {k: self.resolve_data(v, self_name, inner=inner) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_data(v, self_name, inner=inner) for v in value]
        return value

    def _resolve_spec(self, spec: ServiceSpec, name: str) -> ServiceSpec:
        data = spec.model_dump()
        try:
            resolved = self.resolve_data(data, name, inner=self.backend.remote)
            return type(spec).model_validate(resolved)
        except ValidationError as exc:  # valid as written, invalid once ${...} is filled in
            prefix = ".".join(p for p in (self.loaded.prefix, "services", name) if p)
            errors = convert(exc, type(spec), self.loaded.path.name, prefix, "a service", data)
            for err in errors:
                err.message += " (after interpolation)"
            raise SpecErrors(errors) from None

    def _wait_all(self, deadline: float | None) -> None:
        with self._cv:
            while True:
                if self.failure is not None:
                    raise self.failure
                if all(s.state in _DONE for s in self.status.values()):
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    waiting = [n for n, s in self.status.items() if s.state not in _DONE]
                    raise StackTimeout(
                        f"the stack was not ready within --timeout {self.options.timeout:g}s; "
                        f"still waiting for: {', '.join(waiting)}",
                        timeout=self.options.timeout or 0.0,
                    )
                self._cv.wait(0.5 if remaining is None else min(remaining, 0.5))

    def _set(self, name: str, state: State, **extra: Any) -> None:
        with self._cv:
            status = self.status[name]
            status.state = state
            status.since = self.journal.now()
            status.timings[state.value] = status.since
            for key, value in extra.items():
                setattr(status, key, value)
            self._cv.notify_all()
        self.journal.event(
            f"service.{state.value}", name, **{k: v for k, v in extra.items() if v is not None}
        )
        self.backend.record_service(
            name, status=state.value, **{k: v for k, v in extra.items() if k in ("pid", "error")}
        )
        if self.options.on_change is not None:
            self.options.on_change(status)

    def _mark(self, name: str, moment: str = "listening") -> None:
        """A timing that is not a state: recorded for the waterfall, nothing waits on it."""
        at = self.journal.now()
        with self._cv:
            self.status[name].timings[moment] = at
        self.journal.event(f"service.{moment}", name)

    def _wait_deps(self, name: str) -> bool:
        deps = self.loaded.deps.get(name, {})
        with self._cv:
            while True:
                if self.cancel.is_set():
                    return False
                blocked = [d for d, c in deps.items() if self.status[d].state not in _SATISFIES[c]]
                if not blocked and (name not in self._held or self._snapshot_done.is_set()):
                    return True
                if any(self.status[d].state in (State.FAILED, State.SKIPPED) for d in blocked):
                    return False
                self._cv.wait(0.5)

    def _bring_up(self, name: str) -> None:
        try:
            if not self._wait_deps(name):
                self._set(name, State.SKIPPED)
                return
            self._start_one(name)
        except Exception as exc:
            if self.cancel.is_set():
                return  # fallout of a teardown (or another failure) already under way
            error = (
                exc
                if isinstance(exc, TempstackError)
                else StartError(f"{name}: {type(exc).__name__}: {exc}", service=name)
            )
            with self._cv:  # first the failure, so the waiter sees it whatever happens next
                if self.failure is None:
                    self.failure = error
                self._cv.notify_all()
            self.cancel.set()
            with contextlib.suppress(Exception):
                self._set(name, State.FAILED, error=str(error).splitlines()[0])

    def _start_one(self, name: str) -> None:
        plan, ctx = self.plans[name], self.contexts[name]
        kind = plan.kind
        if self._restored_job(name):
            self._job_done(name)
            self._set(name, State.COMPLETED, snapshot="restored")
            return
        self._set(name, State.STARTING)
        if self.backend.remote:
            # API calls take a while: not under the lock every thread waits on; an object
            # made while teardown runs is deleted with the namespace
            if self.cancel.is_set():
                return
            handle = self.backend.start_service(plan, ctx)
            with self._cv:
                self.handles[name] = handle
        else:
            with self._cv:  # never spawn after teardown has looked at the handles
                if self.cancel.is_set():
                    return
                handle = self.backend.start_service(plan, ctx)
                self.handles[name] = handle
        self._set(name, State.STARTED, pid=handle.pid)
        if kind.is_job:
            assert isinstance(plan.spec, JobService)
            self._finish_job(name, handle, plan.spec.timeout)
            return
        if self.backend.remote:  # the cluster runs the probe; its watch tells us
            if not self.backend.wait_ready(name, _ready_timeout(plan.spec), self.cancel):
                return
            self._mark(name)
            probe = None
        else:
            probe = kind.probe(plan, ctx)
        if probe is not None and plan.port is not None:
            probe = NoticeListening(probe, plan.host, plan.port, lambda: self._mark(name))
        if probe is not None:
            timeout = _ready_timeout(plan.spec)
            history = self.probes[name] = ProbeHistory(probe.description)
            try:
                wait_until(
                    probe,
                    deadline=time.monotonic() + timeout,
                    exited=handle.returncode,
                    cancel=self.cancel,
                    history=history,
                )
            except ProbeFailed as failed:
                if failed.reason == "cancelled":
                    return
                tail = self.backend.log_tail(name, LOG_TAIL_LINES)
                if failed.reason == "exited":
                    raise StartError(
                        f"{name} exited with code {failed.returncode} while waiting for "
                        f"{probe.description}",
                        service=name,
                        returncode=failed.returncode,
                        log_tail=tail,
                    ) from None
                last = f" (last error: {history.last_error})" if history.last_error else ""
                raise StartError(
                    f"{name} was not ready within {timeout:g}s: {probe.description}{last}",
                    service=name,
                    log_tail=tail,
                ) from None
        kind.after_ready(plan, ctx)
        if name in self._unseeded and not self._unseeded[name]:
            self._seeded(name)  # no job fills it: it is as seeded as it gets
        self._set(name, State.READY)

    def _finish_job(self, name: str, handle: Handle, timeout: float | None) -> None:
        timeout = bounded(timeout)
        code = handle.wait(timeout, cancel=self.cancel)
        if code is None:
            if self.cancel.is_set():
                return
            raise StartError(
                f"job {name} did not finish within {timeout:g}s",
                service=name,
                log_tail=self.backend.log_tail(name, LOG_TAIL_LINES),
            )
        if code != 0:
            raise StartError(
                f"job {name} failed with exit code {code}",
                service=name,
                returncode=code,
                log_tail=self.backend.log_tail(name, LOG_TAIL_LINES),
            )
        self._job_done(name)
        self._set(name, State.COMPLETED)

    # -- stop ------------------------------------------------------------------------------
    def write_failure_bundle(self, error: str) -> Path:
        return records.failure_bundle(self, error)

    def stop(self, *, keep_until: float | None = None) -> None:
        """Tear everything down (idempotent). A signal during teardown forces SIGKILL."""
        if self._stopped:
            return
        with self._cv:
            self._stopped = True
            self.cancel.set()
            self._cv.notify_all()
        self.watch.stop()
        with self._shielded():
            self.journal.event("run.stopping")
            self.profiler.stop_sampling()
            if self.profiler.ready is not None:
                self.journal.profile = self.profiler.result(self.journal.outcomes)
            if keep_until is None:
                self.backend.record(status="stopping")
                try:
                    self._stop_services()
                finally:
                    self._stop_proxy()
            self.journal.services = records.collect_services(self)
            if self._opened:
                try:
                    self.backend.close(keep_until=keep_until)
                except Exception as exc:  # the sweep must not hide the run's own outcome
                    self.journal.event("teardown.error", detail=str(exc))
            self.journal.event("run.stopped" if keep_until is None else "run.kept")

    def _stop_proxy(self) -> None:
        if self.proxy is None:
            return
        try:
            self.proxy.stop("SIGTERM", 2.0, self.force)
        except Exception as exc:  # the backend's sweep still ends it
            self.journal.event("teardown.error", PROXY, error=f"{type(exc).__name__}: {exc}")

    def _stop_services(self) -> None:
        names = [n for n in self.loaded.order if n in self.handles]
        for wave in teardown_waves(self.loaded.deps, names):
            threads = [
                threading.Thread(target=self._stop_one, args=(n,), daemon=True) for n in wave
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

    def _stop_one(self, name: str) -> None:
        handle = self.handles[name]
        launch_signal = self.plans[name].spec.stop_signal
        timeout = bounded(self.plans[name].spec.stop_timeout, MAX_STOP_GRACE)
        state = self.status[name].state
        was_up = state is State.READY and not self.plans[name].kind.is_job
        died = handle.returncode() if was_up else None  # exited before we asked it to
        try:
            if state is State.FAILED:  # the watch saw it die: it stays failed
                code = handle.stop(launch_signal, timeout, self.force)
                self.journal.event("service.exit", name, returncode=code)
                return
            self._set(name, State.STOPPING)
            code = handle.stop(launch_signal, timeout, self.force)
            if died is not None:
                self._set(
                    name, State.FAILED, error=f"exited with code {died} while the stack was up"
                )
            else:
                self._set(name, State.STOPPED)
            self.journal.event("service.exit", name, returncode=code)
        except Exception as exc:  # one failure to stop never stops the others
            self.journal.event("teardown.error", name, error=f"{type(exc).__name__}: {exc}")

    @contextmanager
    def _shielded(self) -> Iterator[None]:
        """While tearing down, SIGINT/SIGTERM force a kill instead of interrupting teardown."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def force(signum: int, frame: object) -> None:
            self.force.set()

        previous = {s: signal.signal(s, force) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _ready_timeout(spec: ServiceSpec) -> float:
    if isinstance(spec, ProcessService) and spec.ready is not None:
        return bounded(spec.ready.timeout)
    timeout = getattr(spec, "ready_timeout", None)
    return bounded(float(timeout)) if timeout is not None else 60.0
