"""``kind = "s3"``: an S3-compatible server (moto), with buckets created before ready."""

from __future__ import annotations

import secrets

from tempstack.services.base import ServicePlan, spec_as
from tempstack.services.server import ServerKind
from tempstack.spec.model import ServiceSpec
from tempstack.spec.outside import S3Service


class S3Kind(ServerKind):
    name = "s3"
    module = "s3"
    requires = ("moto", "flask")

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        names = {"url", "host", "port", "endpoint_url", "region", "access_key", "secret_key"}
        names |= {"aws_endpoint_url", "aws_region", "aws_access_key_id", "aws_secret_access_key"}
        if spec_as(spec, S3Service).buckets:
            names.add("bucket")
        return frozenset(names)

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        s3 = spec_as(spec, S3Service)
        return {
            # AWS-shaped, so clients that check the format accept them
            "access_key": s3.access_key or "AKIA" + secrets.token_hex(8).upper(),
            "secret_key": s3.secret_key or secrets.token_urlsafe(30),
        }

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        s3 = spec_as(plan.spec, S3Service)
        url = f"http://{plan.host}:{plan.port}"
        out = {
            "host": plan.host,
            "port": str(plan.port),
            "url": url,
            "endpoint_url": url,
            "region": s3.region,
            "access_key": plan.secrets["access_key"],
            "secret_key": plan.secrets["secret_key"],
            # <SVC>_AWS_* in the environment, the names the AWS SDKs read
            "aws_endpoint_url": url,
            "aws_region": s3.region,
            "aws_access_key_id": plan.secrets["access_key"],
            "aws_secret_access_key": plan.secrets["secret_key"],
        }
        if s3.buckets:
            out["bucket"] = s3.bucket_specs()[0].name
        return out
