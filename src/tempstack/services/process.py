"""``kind = "process"`` (any long-running command) and ``kind = "job"`` (a one-shot)."""

from __future__ import annotations

import shlex
from pathlib import Path

from tempstack.readiness.base import Probe
from tempstack.readiness.command import CommandProbe
from tempstack.readiness.http import HttpProbe
from tempstack.readiness.log import LogProbe
from tempstack.readiness.tcp import TcpProbe
from tempstack.services.base import (
    Container,
    KindDefaults,
    Launch,
    PrepareContext,
    ReadyCheck,
    ServicePlan,
    run_tag,
)
from tempstack.spec.fields import Command
from tempstack.spec.model import JobService, ProcessService, ServiceSpec


def argv_of(command: Command) -> list[str]:
    """A list runs as is; a string runs through ``/bin/sh -c`` (so pipes and && work)."""
    return list(command) if isinstance(command, list) else ["/bin/sh", "-c", command]


def describe(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def cwd_of(cwd: str | None, stack_dir: Path) -> Path:
    return (stack_dir / cwd) if cwd else stack_dir


def _ready_check(spec: ProcessService, port: int | None) -> ReadyCheck | None:
    """The local probe as the cluster runs it (a log probe is refused at check time)."""
    ready = spec.ready
    if ready is None:
        return None
    own = ready.port or port
    if ready.http is not None:
        return ReadyCheck(http=ready.http, port=own)
    if ready.tcp is not None and ready.tcp is not False:
        return ReadyCheck(tcp=own if ready.tcp is True else int(ready.tcp))
    if ready.command is not None:
        return ReadyCheck(exec=argv_of(ready.command))
    return None


class ProcessKind(KindDefaults):
    name = "process"
    is_job = False

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        if isinstance(spec, ProcessService) and spec.port is False:
            return frozenset()  # `port = false`: listens on nothing we know of
        return frozenset({"url", "host", "port", "direct_url"})

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        assert isinstance(spec, ProcessService)
        if spec.port is not None:
            return spec.port
        ready = spec.ready
        own_port_probe = (
            ready is not None
            and ready.port is None
            and (ready.http is not None or ready.tcp is True)
        )
        return referenced or own_port_probe

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        return {}

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        if plan.port is None:
            return {}
        url = f"http://{plan.host}:{plan.port}"
        # ``direct_url`` bypasses the recording proxy when the engine puts one in front
        return {"host": plan.host, "port": str(plan.port), "url": url, "direct_url": url}

    def check_installed(self, spec: ServiceSpec, name: str) -> None:
        return None

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch:
        spec = plan.spec
        assert isinstance(spec, ProcessService | JobService)
        env = dict(ctx.base_env)
        if plan.port is not None:
            env["PORT"] = str(plan.port)
        return Launch(
            argv=argv_of(spec.command),
            env=env,
            cwd=cwd_of(spec.cwd, ctx.stack_dir),
            stop_signal=spec.stop_signal,
            stop_timeout=spec.stop_timeout,
        )

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        spec = plan.spec
        assert isinstance(spec, ProcessService | JobService)
        image = ctx.image
        assert image is not None, "checked by spec.placement"
        return Container(
            image=image,
            command=[a.replace("$(", "$$(") for a in argv_of(spec.command)],  # literal
            env={} if plan.port is None else {"PORT": str(plan.port)},
            secret_env=dict(ctx.base_env),  # may hold credentials through ${db.url}
            workdir=spec.cwd,
            ready=_ready_check(spec, plan.port) if isinstance(spec, ProcessService) else None,
        )

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> Probe | None:
        spec = plan.spec
        if not isinstance(spec, ProcessService) or spec.ready is None:
            return None
        ready = spec.ready
        port = ready.port or plan.port
        if ready.http is not None:
            assert port is not None
            return HttpProbe(plan.host, port, ready.http, ready.status)
        if ready.tcp is not None and ready.tcp is not False:
            tcp_port = port if ready.tcp is True else int(ready.tcp)
            assert tcp_port is not None
            return TcpProbe(plan.host, tcp_port)
        if ready.command is not None:
            env = {**ctx.base_env, **run_tag(ctx.run_id)}
            if plan.port is not None:
                env["PORT"] = str(plan.port)
            return CommandProbe(
                argv_of(ready.command), env, cwd_of(spec.cwd, ctx.stack_dir), ready.timeout
            )
        assert ready.log is not None
        return LogProbe(ctx.workdir / "output.log", ready.log)

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        return None


class JobKind(ProcessKind):
    name = "job"
    is_job = True

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset()

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        return False

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> Probe | None:
        return None
