"""``kind = "redis"``: a real redis-server, loopback only, no persistence."""

from __future__ import annotations

import socket
from urllib.parse import quote

from tempstack.services import binaries
from tempstack.services.base import KindDefaults, Launch, PrepareContext, ServicePlan, spec_as
from tempstack.spec.model import RedisService, ServiceSpec


class PingProbe:
    """Ready when the server answers PING with PONG (after AUTH when a password is set)."""

    def __init__(self, host: str, port: int, password: str | None) -> None:
        self.host, self.port, self.password = host, port, password
        self.description = f"redis PING {host}:{port}"

    def check(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0) as conn:
            if self.password:
                pw = self.password.encode()
                conn.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw))
                conn.recv(64)
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = conn.recv(64)
        if not reply.startswith(b"+PONG"):
            raise RuntimeError(reply.decode(errors="replace").strip())
        return True


class RedisKind(KindDefaults):
    name = "redis"
    is_job = False

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset({"url", "host", "port", "password"})

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        return True

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        pw = spec_as(spec, RedisService).password
        return {"password": pw} if pw else {}

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        pw = plan.secrets.get("password", "")
        auth = f":{quote(pw, safe='')}@" if pw else ""
        return {
            "host": plan.host,
            "port": str(plan.port),
            "password": pw,
            "url": f"redis://{auth}{plan.host}:{plan.port}/0",
        }

    def check_installed(self, spec: ServiceSpec, name: str) -> None:
        binaries.find("redis-server", "redis-server", name)

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch:
        spec = spec_as(plan.spec, RedisService)
        exe = binaries.find("redis-server", "redis-server", plan.name)
        argv = [
            str(exe),
            "--port",
            str(plan.port),
            "--bind",
            plan.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(ctx.workdir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            # keep the environment (and so TEMPSTACK_RUN_ID) readable in /proc/PID/environ
            "--set-proc-title",
            "no",
        ]
        if pw := plan.secrets.get("password"):
            argv += ["--requirepass", pw]
        for key, value in spec.settings.items():
            text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            argv += [f"--{key}", text]
        return Launch(
            argv=argv,
            env=dict(ctx.base_env),
            cwd=ctx.workdir,
            stop_signal=spec.stop_signal,
            stop_timeout=spec.stop_timeout,
        )

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> PingProbe:
        assert plan.port is not None
        return PingProbe(plan.host, plan.port, plan.secrets.get("password"))

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        return None
