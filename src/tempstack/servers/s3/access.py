"""Who may do what without signing: a bucket policy's statements for everyone (``"*"``).

moto's own policy check treats any statement without a plain ``"*"`` principal string as
applying to everyone and ignores conditions, so anonymous access is decided here instead.
Statements with conditions never grant anonymous access (they would need request context
such as the source IP); a Deny for everyone always wins, as in IAM.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tempstack.servers.s3.target import Target


def public_read_policy(bucket: str) -> str:
    """The policy behind ``public = true``: anyone may GET (and HEAD) objects, nothing else
    (no listing), as in AWS's own public-read example."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


def action_of(t: Target) -> tuple[str, str] | None:
    """The IAM action and resource an anonymous request needs, for the ones a policy can
    grant to everyone; None for the rest (bucket configuration, multipart, listing all)."""
    if not t.bucket:
        return None
    if not t.key:
        listing = t.method in ("GET", "HEAD") and not (set(t.query) - _LIST_PARAMS)
        return ("s3:ListBucket", f"arn:aws:s3:::{t.bucket}") if listing else None
    resource = f"arn:aws:s3:::{t.bucket}/{t.key}"
    if set(t.query) - _OBJECT_PARAMS:
        return None  # ?acl, ?tagging, ?uploadId, ...: not plain object reads and writes
    action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject"}.get(
        t.method, "s3:DeleteObject" if t.method == "DELETE" else None
    )
    return (action, resource) if action else None


def allows_anonymous(policy: bytes | str | None, action: str, resource: str) -> bool:
    if not policy:
        return False
    try:
        document = json.loads(policy)
        statements = document["Statement"]
    except (ValueError, KeyError, TypeError):
        return False
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not _for_everyone(statement.get("Principal")):
            continue
        if "Condition" in statement:
            continue
        if not _matches(statement, "Action", action, fold=True):
            continue
        if not _matches(statement, "Resource", resource, fold=False):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


_LIST_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
}
_OBJECT_PARAMS = {
    "versionId",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "partNumber",
}


def _for_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def _matches(statement: dict[str, Any], element: str, value: str, fold: bool) -> bool:
    patterns = statement.get(element, [])
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(_glob(p, value, fold) for p in patterns if isinstance(p, str))


def _glob(pattern: str, value: str, fold: bool) -> bool:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None
