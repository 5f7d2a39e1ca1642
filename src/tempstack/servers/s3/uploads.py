"""Browser uploads by HTML form (``generate_presigned_post``): S3 stores the file only if
the form's policy carries a signature made with the secret, has not expired, and every
condition holds for the fields sent (AWS, "Browser-based uploads using POST" and
"Creating a POST policy"). moto stores any form, so the gateway checks it first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.formparser import parse_form_data

from tempstack.servers.s3.errors import S3Error, access_denied
from tempstack.servers.s3.signing import ALGORITHM, Keys, check_scope, signing_key
from tempstack.servers.s3.target import Target

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

#: fields a policy need not mention
_EXEMPT = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}


def is_form_upload(t: Target, content_type: str) -> bool:
    return (
        t.method == "POST"
        and bool(t.bucket)
        and not t.key
        and not t.query
        and content_type.startswith("multipart/form-data")
    )


def check(t: Target, environ: WSGIEnvironment, body: bytes, keys: Keys, now: datetime) -> bool:
    """True when the form is signed and its policy allows this upload; False when the form
    has no policy at all (an anonymous upload, for the bucket policy to decide). Raises
    the S3 error otherwise."""
    form_environ = {**environ, "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(form_environ)
    fields = {name.lower(): value for name, value in form.items()}
    upload = files.get("file")
    if "policy" not in fields:
        return False
    policy_text = fields["policy"]
    _check_signature(fields, policy_text, keys)
    try:
        policy = json.loads(base64.b64decode(policy_text, validate=True))
        conditions = policy["conditions"]
        expiration = _parse_time(policy["expiration"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if now > expiration:
        raise access_denied("Invalid according to Policy: Policy expired.")
    size = 0
    if upload is not None:
        size = len(upload.read())
        if "${filename}" in fields.get("key", ""):
            fields["key"] = fields["key"].replace("${filename}", upload.filename or "")
    values = {**fields, "bucket": t.bucket}
    covered = {"bucket"}
    for condition in conditions:
        covered |= _check_condition(condition, values, size)
    extra = sorted(
        name
        for name in fields
        if name not in covered | _EXEMPT and not name.startswith("x-ignore-")
    )
    if extra:
        raise access_denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    return True


def _check_signature(fields: Mapping[str, str], policy: str, keys: Keys) -> None:
    if "x-amz-signature" in fields:
        if fields.get("x-amz-algorithm") != ALGORITHM:
            raise S3Error(400, "InvalidArgument", "POST requires x-amz-algorithm AWS4-HMAC-SHA256")
        timestamp = fields.get("x-amz-date", "")
        scope = check_scope(fields.get("x-amz-credential", ""), keys, timestamp, _bad_form)
        key = signing_key(keys.secret_key, scope)
        expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
        provided = fields["x-amz-signature"]
    elif "signature" in fields:
        if fields.get("awsaccesskeyid") != keys.access_key:
            raise S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=fields.get("awsaccesskeyid", ""),
            )
        digest = hmac.new(keys.secret_key.encode(), policy.encode(), hashlib.sha1).digest()
        expected, provided = base64.b64encode(digest).decode(), fields["signature"]
    else:
        raise access_denied("Bucket POST must contain a field named 'x-amz-signature'.")
    if not hmac.compare_digest(expected, provided):
        raise S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )


def _check_condition(condition: Any, values: Mapping[str, str], size: int) -> set[str]:
    """The fields ``condition`` covers, once it holds."""
    failed = access_denied(
        "Invalid according to Policy: Policy Condition failed: " + json.dumps(condition)
    )
    if isinstance(condition, dict):
        for name, expected in condition.items():
            if values.get(name.lower()) != expected:
                raise failed
        return {name.lower() for name in condition}
    if not isinstance(condition, list) or len(condition) != 3:
        raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {json.dumps(condition)}")
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        if not int(condition[1]) <= size <= int(condition[2]):
            raise S3Error(
                400,
                "EntityTooLarge" if size > int(condition[2]) else "EntityTooSmall",
                "Your proposed upload exceeds the maximum allowed size"
                if size > int(condition[2])
                else "Your proposed upload is smaller than the minimum allowed size",
            )
        return set()
    if operator not in ("eq", "starts-with"):
        raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {json.dumps(condition)}")
    name = str(condition[1]).lower().removeprefix("$")
    value = values.get(name, "")
    if (operator == "eq" and value != condition[2]) or (
        operator == "starts-with" and not value.startswith(str(condition[2]))
    ):
        raise failed
    return {name}


def _bad_form(message: str) -> S3Error:
    return S3Error(400, "InvalidArgument", message)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
