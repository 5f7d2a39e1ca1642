"""Settings, read only from the environment (tempstack passes them in the stack file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

REQUIRED = (
    "SHOP_BASE_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "SMTP_HOST",
    "SMTP_PORT",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "PAYMENTS_URL",
    "PAYMENTS_API_KEY",
)


@dataclass(frozen=True)
class Settings:
    base_url: str  # where browsers reach the shop; the OIDC redirect URIs derive from it
    database_url: str
    redis_url: str
    bucket: str  # the S3 endpoint and keys come from the standard AWS_* variables
    smtp_host: str
    smtp_port: int
    mail_from: str
    oidc_issuer: str
    oidc_client_id: str
    oidc_client_secret: str
    payments_url: str
    payments_api_key: str
    #: seconds between the fulfilment steps (paid -> packed -> shipped)
    fulfilment_step: float = 0.3

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise RuntimeError("missing environment variables: " + ", ".join(missing))
        return cls(
            base_url=env["SHOP_BASE_URL"].rstrip("/"),
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            bucket=env["S3_BUCKET"],
            smtp_host=env["SMTP_HOST"],
            smtp_port=int(env["SMTP_PORT"]),
            mail_from=env.get("SHOP_MAIL_FROM", "Tempstack Shop <orders@shop.example>"),
            oidc_issuer=env["OIDC_ISSUER"].rstrip("/"),
            oidc_client_id=env["OIDC_CLIENT_ID"],
            oidc_client_secret=env["OIDC_CLIENT_SECRET"],
            payments_url=env["PAYMENTS_URL"].rstrip("/"),
            payments_api_key=env["PAYMENTS_API_KEY"],
            fulfilment_step=float(env.get("SHOP_FULFILMENT_STEP", "0.3")),
        )

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")
