"""``kind = "mail"``: an SMTP catcher with a Mailpit-compatible HTTP API (``/api/v1``)."""

from __future__ import annotations

from tempstack.services.base import ServicePlan
from tempstack.services.server import ServerKind
from tempstack.spec.model import ServiceSpec


class MailKind(ServerKind):
    name = "mail"
    module = "mail"
    requires = ("aiosmtpd", "aiohttp")

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset({"url", "host", "port", "api_url", "smtp_host", "smtp_port", "smtp_url"})

    def extra_ports(self, spec: ServiceSpec) -> tuple[str, ...]:
        return ("smtp",)

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        url = f"http://{plan.host}:{plan.port}"
        smtp = plan.ports.get("smtp")
        return {
            "host": plan.host,
            "port": str(plan.port),
            "url": url,
            "api_url": f"{url}/api/v1",
            "smtp_host": plan.host,
            "smtp_port": str(smtp),
            "smtp_url": f"smtp://{plan.host}:{smtp}",
        }
