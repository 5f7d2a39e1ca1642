"""Kinds served by one of tempstack's own Python servers (``tempstack.servers.*``).

The kind writes the validated spec, its ports and secrets to ``config.json`` in the
service's directory and runs ``python -m tempstack.servers.<module> config.json``. The
server answers ``GET /__tempstack/health`` with 200 only once it is fully set up (buckets
created, SMTP listening), which is the readiness probe.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from tempstack.errors import MissingBinaryError
from tempstack.readiness.http import HttpProbe
from tempstack.servers.config import HEALTH_PATH
from tempstack.services.base import KindDefaults, Launch, PrepareContext, ServicePlan
from tempstack.spec.model import ServiceSpec


class ServerKind(KindDefaults):
    name: str
    module: str  # run as ``python -m tempstack.servers.<module>``
    requires: tuple[str, ...] = ()  # importable modules the server needs
    is_job = False

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        return True

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        return {}

    def check_installed(self, spec: ServiceSpec, name: str) -> None:
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingBinaryError(
                    f"{name}: the {self.name} service needs the Python package {module!r}, "
                    f"which is not installed; reinstall tempstack (pip install tempstack)",
                    service=name,
                )

    def config(self, plan: ServicePlan, ctx: PrepareContext) -> dict[str, Any]:
        """The spec as the server reads it; kinds add what the spec alone does not hold."""
        return plan.spec.model_dump(mode="json", by_alias=True)

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch:
        path = ctx.workdir / "config.json"
        document = {
            "service": plan.name,
            "run_id": ctx.run_id,
            "host": plan.host,
            "port": plan.port,
            "ports": plan.ports,
            "secrets": plan.secrets,
            "exports": plan.exports,
            "workdir": str(ctx.workdir),
            "spec": self.config(plan, ctx),
        }
        path.write_text(json.dumps(document, indent=2))
        path.chmod(0o600)  # it holds the generated secrets
        spec = plan.spec
        return Launch(
            argv=[sys.executable, "-m", f"tempstack.servers.{self.module}", str(path)],
            env={**ctx.base_env, "PYTHONUNBUFFERED": "1"},
            cwd=ctx.workdir,
            stop_signal=spec.stop_signal,
            stop_timeout=spec.stop_timeout,
        )

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> HttpProbe:
        assert plan.port is not None
        return HttpProbe(plan.host, plan.port, HEALTH_PATH, 200)

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        return None
