"""Bucket CORS as S3 applies it: the first rule matching origin, method and requested
headers answers; preflights are never signed; no rule, no CORS headers.

moto's own CORS merges every rule into one answer and refuses a non-matching origin on
plain GETs, so the gateway answers CORS itself from the rules moto stores (which keeps
``PutBucketCors`` at runtime working).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tempstack.servers.s3.errors import S3Error

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@dataclass(frozen=True)
class Rule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: str | None = None

    def allows(self, origin: str, method: str, headers: Iterable[str] = ()) -> bool:
        return (
            any(_glob(o, origin, fold=False) for o in self.origins)
            and method in self.methods
            and all(any(_glob(a, h, fold=True) for a in self.headers) for h in headers)
        )

    def answer(self, origin: str) -> dict[str, str]:
        wildcard = "*" in self.origins
        out = {
            "Access-Control-Allow-Origin": "*" if wildcard else origin,
            "Access-Control-Allow-Methods": ", ".join(self.methods),
            "Vary": VARY,
        }
        if not wildcard:
            out["Access-Control-Allow-Credentials"] = "true"
        if self.expose:
            out["Access-Control-Expose-Headers"] = ", ".join(self.expose)
        if self.max_age is not None:
            out["Access-Control-Max-Age"] = self.max_age
        return out


def spec_rules(cors: bool | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spec's ``cors`` (``true`` or a list of rules) in the shape moto's
    ``put_bucket_cors`` takes (the parsed XML of PutBucketCors)."""
    if cors is True:
        cors = [{}]
    elif not cors:
        return []
    rules = []
    for rule in cors:
        shaped: dict[str, Any] = {
            "AllowedOrigin": list(rule.get("allowed_origins", ["*"])),
            "AllowedMethod": list(
                rule.get("allowed_methods", ["GET", "PUT", "POST", "DELETE", "HEAD"])
            ),
            "AllowedHeader": list(rule.get("allowed_headers", ["*"])),
            "ExposeHeader": list(rule.get("expose_headers", ["ETag"])),
        }
        max_age = rule.get("max_age", 3000)
        if max_age is not None:
            shaped["MaxAgeSeconds"] = str(max_age)
        rules.append(shaped)
    return rules


def rules_of(moto_rules: Iterable[Any]) -> list[Rule]:
    """Rules from moto's ``FakeBucket.cors`` (``CorsRule`` objects)."""
    return [
        Rule(
            origins=tuple(r.allowed_origins or ()),
            methods=tuple(r.allowed_methods or ()),
            headers=tuple(r.allowed_headers or ()),
            expose=tuple(r.exposed_headers or ()),
            max_age=None if r.max_age_seconds is None else str(r.max_age_seconds),
        )
        for r in moto_rules
    ]


def preflight(
    rules: Sequence[Rule], origin: str | None, method: str | None, headers: str
) -> dict[str, str]:
    """The headers of a successful preflight, or the S3 error for a refused one."""
    if not origin:
        raise S3Error(400, "BadRequest", "Insufficient information. Origin request header needed.")
    if not method:
        raise S3Error(
            400,
            "BadRequest",
            "Invalid Access-Control-Request-Method: null",
        )
    if not rules:
        raise _forbidden("CORSResponse: CORS is not enabled for this bucket.", method)
    requested = [h.strip().lower() for h in headers.split(",") if h.strip()]
    for rule in rules:
        if rule.allows(origin, method, requested):
            out = rule.answer(origin)
            if requested:
                out["Access-Control-Allow-Headers"] = ", ".join(requested)
            return out
    raise _forbidden(
        "CORSResponse: This CORS request is not allowed. This is usually because the "
        "evalution of Origin, request method / Access-Control-Request-Method or "
        "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        method,
    )


def actual(rules: Sequence[Rule], origin: str, method: str) -> dict[str, str]:
    """CORS headers for a real (non-preflight) request from ``origin``; none if no rule
    allows it: the request itself is still served, the browser then hides the answer."""
    for rule in rules:
        if rule.allows(origin, method):
            return rule.answer(origin)
    return {"Vary": VARY} if rules else {}


def _forbidden(message: str, method: str) -> S3Error:
    return S3Error(403, "AccessForbidden", message, Method=method, ResourceType="OBJECT")


def _glob(pattern: str, value: str, fold: bool) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None
