"""Kinds served by one of tempstack's own Python servers (``tempstack.servers.*``).

The kind writes the validated spec, its ports and secrets to ``config.json`` in the
service's directory and runs ``python -m tempstack.servers.<module> config.json``. The
server answers ``GET /__tempstack/health`` with 200 only once it is fully set up (buckets
created, SMTP listening), which is the readiness probe.

On Kubernetes the same server runs in a container: ``config.json`` without the
credentials comes from a ConfigMap (the spec, mock routes included), the credentials and
exports as ``secrets.json`` from a Secret, and tempstack's code from the run itself.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from tempstack.errors import MissingBinaryError
from tempstack.readiness.http import HttpProbe
from tempstack.servers.config import HEALTH_PATH
from tempstack.services.base import (
    CODE_DIR,
    CONFIG_DIR,
    Container,
    KindDefaults,
    Launch,
    PrepareContext,
    ReadyCheck,
    ServicePlan,
)
from tempstack.spec.model import ServiceSpec

WORKDIR = "/tempstack/work"  # the server's scratch directory in its container


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
                    f"which is not installed; reinstall the tool (pip install 'tempstack[tool]')",
                    service=name,
                )

    def config(self, plan: ServicePlan, ctx: PrepareContext) -> dict[str, Any]:
        """The spec as the server reads it; kinds add what the spec alone does not hold."""
        return plan.spec.model_dump(mode="json", by_alias=True)

    def _document(
        self, plan: ServicePlan, ctx: PrepareContext, host: str, workdir: str
    ) -> dict[str, Any]:
        """``config.json``; on a cluster the server listens on the pod's addresses and knows
        itself by the name other pods use."""
        return {
            "service": plan.name,
            "run_id": ctx.run_id,
            "host": host,
            "port": plan.port,
            "ports": plan.ports,
            "secrets": plan.secrets,
            "exports": ctx.inner_exports if ctx.remote else plan.exports,
            "workdir": workdir,
            "spec": self.config(plan, ctx),
        }

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch:
        path = ctx.workdir / "config.json"
        document = self._document(plan, ctx, plan.host, str(ctx.workdir))
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

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        image = ctx.image
        assert image is not None, "checked by spec.placement"
        document = self._document(plan, ctx, "0.0.0.0", WORKDIR)
        private = {k: document.pop(k) for k in ("secrets", "exports")}
        config = {"config.json": json.dumps(document, indent=2)}
        secret = {"secrets.json": json.dumps(private, indent=2)}
        if self.config_is_secret(plan.spec):
            secret, config = {**secret, **config}, {}
        return Container(
            image=image,
            command=[
                "python3",
                "-m",
                f"tempstack.servers.{self.module}",
                f"{CONFIG_DIR}/config.json",
                f"{CONFIG_DIR}/secrets.json",
            ],
            env={"PYTHONPATH": CODE_DIR, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
            workdir=WORKDIR,
            ready=ReadyCheck(http=HEALTH_PATH, port=plan.port),
            data_dir=WORKDIR,
            files=config,
            secret_files=secret,
            ships_code=True,
        )

    def config_is_secret(self, spec: ServiceSpec) -> bool:
        """Whether the spec itself holds credentials that are not among the run's secrets."""
        return False

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> HttpProbe:
        assert plan.port is not None
        return HttpProbe(plan.host, plan.port, HEALTH_PATH, 200)

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        return None
