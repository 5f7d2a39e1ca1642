"""``kind = "redis"``: a real redis-server, loopback only, no persistence.

A random password per run unless ``password`` is given (``password = ""`` turns it off):
any local user can reach 127.0.0.1. It is in a 0600 config file, never on the command
line, where ``ps`` shows it to everyone.

Its data hooks: a snapshot is the ``dump.rdb`` that ``SAVE`` writes; a restore puts that
file in the service's directory before the server starts, which loads it.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tempstack.services import binaries
from tempstack.services.base import (
    Container,
    KindDefaults,
    Launch,
    PrepareContext,
    ReadyCheck,
    ServicePlan,
    spec_as,
)
from tempstack.spec.model import RedisService, ServiceSpec

DUMP = "dump.rdb"


def _resp(*args: str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def command(host: str, port: int, password: str | None, *args: str, timeout: float = 1.0) -> str:
    """One command's simple reply (``+PONG``, ``+OK``), after AUTH when a password is set."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        if password:
            conn.sendall(_resp("AUTH", password))
            conn.recv(64)
        conn.sendall(_resp(*args))
        reply = conn.recv(256).decode(errors="replace").strip()
    if not reply.startswith("+"):
        raise RuntimeError(reply)
    return reply[1:]


def _quoted(value: str) -> str:
    """A redis.conf string: double quotes, with backslashes and quotes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@functools.lru_cache(maxsize=4)
def _version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or exe


class PingProbe:
    """Ready when the server answers PING with PONG (after AUTH when a password is set)."""

    def __init__(self, host: str, port: int, password: str | None) -> None:
        self.host, self.port, self.password = host, port, password
        self.description = f"redis PING {host}:{port}"

    def check(self) -> bool:
        return command(self.host, self.port, self.password, "PING") == "PONG"


DEFAULT_IMAGE = "redis:7"


class RedisKind(KindDefaults):
    name = "redis"
    is_job = False
    holds_data = True

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset({"url", "host", "port", "password"})

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        return True

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        pw = spec_as(spec, RedisService).password
        if pw is None:
            pw = secrets.token_urlsafe(18)
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
        config = ctx.workdir / "redis.conf"
        pw = plan.secrets.get("password")
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"requirepass {_quoted(pw)}\n" if pw else "")
        argv = [
            str(exe),
            str(config),
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
        if ctx.restore is not None:
            shutil.copyfile(ctx.restore / DUMP, ctx.workdir / DUMP)
            argv += ["--dbfilename", DUMP]
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

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        spec = spec_as(plan.spec, RedisService)
        args = ["redis-server", "--port", str(plan.port), "--save", "", "--appendonly", "no"]
        secret = {}
        ping = f"redis-cli -p {plan.port} ping"
        if pw := plan.secrets.get("password"):
            secret["REDIS_PASSWORD"] = pw
            args += ["--requirepass", "$(REDIS_PASSWORD)"]  # expanded by the kubelet
            ping = f'REDISCLI_AUTH="$REDIS_PASSWORD" {ping}'
        for key, value in spec.settings.items():
            args += [
                f"--{key}",
                ("yes" if value else "no") if isinstance(value, bool) else str(value),
            ]
        return Container(
            image=ctx.image or DEFAULT_IMAGE,
            args=args,
            secret_env=secret,
            ready=ReadyCheck(exec=["sh", "-c", f"{ping} | grep -q PONG"]),
        )

    def data_version(self, spec: ServiceSpec, name: str) -> str | None:
        return _version(str(binaries.find("redis-server", "redis-server", name)))

    def save_snapshot(self, plan: ServicePlan, ctx: PrepareContext, dest: Path) -> dict[str, Any]:
        assert plan.port is not None
        command(plan.host, plan.port, plan.secrets.get("password"), "SAVE", timeout=60.0)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ctx.workdir / DUMP, dest / DUMP)
        return {}
