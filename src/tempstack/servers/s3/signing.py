"""Request signatures checked the way S3 checks them.

SigV4 in the ``Authorization`` header (with signed ``aws-chunked`` bodies) and in presigned
URLs, and the legacy SigV2 that boto3 still uses for ``generate_presigned_url`` in
us-east-1. botocore's and moto's signers build the canonical request from the client's
side: botocore leaves out headers it never signs itself (``user-agent``, ``expect``) even
when another client signed them, and takes the query string as it is about to send it.
A server has to rebuild it from what arrived, for any client, so that part follows the
AWS specification; tests/test_s3_signing.py checks it against the examples AWS publishes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote_from_bytes, unquote_to_bytes

from botocore.auth import HmacV1Auth  # type: ignore[import-untyped]
from werkzeug.datastructures import Headers

from tempstack.servers.s3.errors import S3Error, access_denied, malformed, query_auth_error
from tempstack.servers.s3.target import Target, decode, query_pairs

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = (
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
)
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600  # a presigned URL lives at most a week
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
#: the query parameters SigV2 signs (botocore's list, so the two always agree)
_V2_SUBRESOURCES = frozenset(HmacV1Auth.QSAOfInterest)


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class ChunkChain:
    """What a signed ``aws-chunked`` body is checked with: each chunk signs its data and
    the previous signature, the first one the request's own."""

    key: bytes
    timestamp: str
    scope: str
    seed: str

    def sign(self, previous: str, data: bytes) -> str:
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.timestamp,
                self.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        return _hmac(self.key, text).hex()


@dataclass(frozen=True)
class Signed:
    """A request whose signature is right; its body is checked against ``payload``."""

    payload: str  # x-amz-content-sha256: a hex digest, UNSIGNED-PAYLOAD or STREAMING-...
    chain: ChunkChain | None = None


def verify(t: Target, headers: Headers, keys: Keys, now: datetime) -> Signed | None:
    """``None`` for an anonymous request; raises ``S3Error`` as S3 would for a bad one."""
    auth = headers.get("Authorization")
    if auth:
        if auth.startswith(ALGORITHM + " "):
            return _v4_header(t, headers, auth, keys, now)
        if auth.startswith("AWS "):
            return _v2_header(t, headers, auth, keys, now)
        raise S3Error(
            400,
            "InvalidArgument",
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=auth.split(" ", 1)[0],
        )
    if "X-Amz-Algorithm" in t.query or "X-Amz-Signature" in t.query:
        return _v4_query(t, headers, keys, now)
    if "Signature" in t.query or "AWSAccessKeyId" in t.query:
        return _v2_query(t, headers, keys, now)
    return None


# SigV4


def _v4_header(t: Target, headers: Headers, auth: str, keys: Keys, now: datetime) -> Signed:
    fields = {}
    for item in auth[len(ALGORITHM) :].split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise malformed(f"it has no {missing[0]}")
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        raise S3Error(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if payload not in (UNSIGNED, STREAMING_UNSIGNED, *STREAMING_SIGNED) and not (
        _SHA256_HEX.match(payload)
    ):
        raise S3Error(
            400,
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.",
            ArgumentName="x-amz-content-sha256",
            ArgumentValue=payload,
        )
    timestamp = headers.get("x-amz-date") or _v4_timestamp_from_http(headers.get("Date"))
    when = _parse_timestamp(timestamp)
    scope = check_scope(fields["Credential"], keys, timestamp, malformed)
    _check_skew(when, now)
    canonical = canonical_request(t, headers, fields["SignedHeaders"], payload)
    key = signing_key(keys.secret_key, scope)
    _check_v4(fields["Signature"], key, timestamp, scope, canonical, keys)
    chain = ChunkChain(key, timestamp, scope, fields["Signature"])
    return Signed(payload, chain if payload in STREAMING_SIGNED else None)


def _v4_query(t: Target, headers: Headers, keys: Keys, now: datetime) -> Signed:
    p = t.query
    if p.get("X-Amz-Algorithm") != ALGORITHM:
        raise query_auth_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    needed = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
    if any(n not in p for n in (*needed, "X-Amz-Signature")):
        raise query_auth_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    timestamp = p["X-Amz-Date"]
    when = _parse_timestamp(timestamp)
    if not p["X-Amz-Expires"].isdigit():
        raise query_auth_error("X-Amz-Expires should be a number")
    expires = int(p["X-Amz-Expires"])
    if expires > MAX_EXPIRES:
        raise query_auth_error(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
        )
    scope = check_scope(p["X-Amz-Credential"], keys, timestamp, query_auth_error)
    if now > when + timedelta(seconds=expires):
        raise access_denied(
            "Request has expired",
            **{
                "X-Amz-Expires": str(expires),
                "Expires": _iso(when + timedelta(seconds=expires)),
                "ServerTime": _iso(now),
            },
        )
    if when - now > MAX_SKEW:
        raise access_denied("Request is not valid yet")
    # A presigned URL cannot know its body: AWS signs the constant UNSIGNED-PAYLOAD.
    payload = p.get("X-Amz-Content-Sha256", UNSIGNED)
    canonical = canonical_request(
        t, headers, p["X-Amz-SignedHeaders"], payload, drop="X-Amz-Signature"
    )
    key = signing_key(keys.secret_key, scope)
    _check_v4(p["X-Amz-Signature"], key, timestamp, scope, canonical, keys)
    return Signed(UNSIGNED)


def canonical_request(
    t: Target, headers: Headers, signed_headers: str, payload: str, drop: str | None = None
) -> str:
    """AWS's CanonicalRequest for S3: the path is URI-encoded once and not normalised (S3
    keys are byte-exact); query names and values are re-encoded and sorted."""
    path = quote_from_bytes(unquote_to_bytes(_raw_bytes(t.raw_path)), safe="/~")
    pairs = []
    for part in t.raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name_bytes = unquote_to_bytes(_raw_bytes(name))
        if drop is not None and name_bytes == drop.encode():
            continue
        pairs.append(
            (
                quote_from_bytes(name_bytes, safe="~"),
                quote_from_bytes(unquote_to_bytes(_raw_bytes(value)), safe="~"),
            )
        )
    query = "&".join(f"{n}={v}" for n, v in sorted(pairs))
    lines = []
    for name in signed_headers.split(";"):
        value = headers.get(name) or ""
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "\n".join([t.method, path, query, "".join(lines), signed_headers, payload])


def signing_key(secret_key: str, scope: str) -> bytes:
    date, region, service, terminator = scope.split("/")
    key = _hmac(("AWS4" + secret_key).encode(), date)
    for part in (region, service, terminator):
        key = _hmac(key, part)
    return key


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _check_v4(
    provided: str, key: bytes, timestamp: str, scope: str, canonical: str, keys: Keys
) -> None:
    text = string_to_sign(timestamp, scope, canonical)
    expected = _hmac(key, text).hex()
    if not hmac.compare_digest(expected, provided):
        raise _mismatch(keys, text, provided, CanonicalRequest=canonical)


def check_scope(credential: str, keys: Keys, timestamp: str, bad: Callable[[str], S3Error]) -> str:
    """The credential scope (``date/region/s3/aws4_request``), once its parts check out.
    Any region is accepted: the client signed with the one it was configured with."""
    access_key, _, scope = credential.partition("/")
    if access_key != keys.access_key:
        raise _unknown_key(access_key)
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aws4_request":
        raise bad(
            f"the Credential {credential!r} is not <access key>/<YYYYMMDD>/<region>/s3/aws4_request"
        )
    if parts[0] != timestamp[:8]:
        raise bad("Invalid credential date. Date is not the same as X-Amz-Date.")
    if parts[2] != "s3":
        raise bad(f"incorrect service {parts[2]!r}; expecting 's3'")
    return scope


# SigV2


def _v2_header(t: Target, headers: Headers, auth: str, keys: Keys, now: datetime) -> Signed:
    access_key, sep, provided = auth[len("AWS ") :].strip().rpartition(":")
    if not sep:
        raise S3Error(
            400,
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=auth,
        )
    if access_key != keys.access_key:
        raise _unknown_key(access_key)
    amz_date = headers.get("x-amz-date")
    date = amz_date or headers.get("Date")
    if not date:
        raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise access_denied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    _check_skew(when if when.tzinfo else when.replace(tzinfo=UTC), now)
    # with x-amz-date, the Date line is empty and x-amz-date is signed as an x-amz- header
    text = _v2_string_to_sign(t, headers, "" if amz_date else date, [])
    _check_v2(provided, text, keys)
    return Signed(UNSIGNED)


def _v2_query(t: Target, headers: Headers, keys: Keys, now: datetime) -> Signed:
    p = t.query
    if any(n not in p for n in ("AWSAccessKeyId", "Signature", "Expires")):
        raise access_denied(
            "Query-string authentication requires the Signature, Expires and "
            "AWSAccessKeyId parameters"
        )
    if p["AWSAccessKeyId"] != keys.access_key:
        raise _unknown_key(p["AWSAccessKeyId"])
    if not p["Expires"].isdigit():
        raise access_denied("Invalid date (should be seconds since epoch): " + p["Expires"])
    expires = datetime.fromtimestamp(int(p["Expires"]), UTC)
    if now > expires:
        raise access_denied("Request has expired", Expires=_iso(expires), ServerTime=_iso(now))
    # botocore moves the x-amz- headers it signed into the query string
    amz = [(n.lower(), v) for n, v in query_pairs(t.raw_query) if n.lower().startswith("x-amz-")]
    text = _v2_string_to_sign(t, headers, p["Expires"], amz)
    _check_v2(p["Signature"], text, keys)
    return Signed(UNSIGNED)


def _v2_string_to_sign(
    t: Target, headers: Headers, date: str, extra_amz: list[tuple[str, str]]
) -> str:
    amz: dict[str, list[str]] = {}
    for name, value in [*headers.items(), *extra_amz]:
        lname = name.lower()
        if lname.startswith("x-amz-"):
            amz.setdefault(lname, []).append(value.strip())
    amz_lines = "".join(f"{n}:{','.join(v)}\n" for n, v in sorted(amz.items()))
    # the path as sent, then the sub-resources in name order with their decoded values
    subresources = []
    for part in t.raw_query.split("&"):
        name, sep, value = part.partition("=")
        if name in _V2_SUBRESOURCES:
            subresources.append((name, name + sep + decode(value)))
    resource = t.raw_path
    if subresources:
        resource += "?" + "&".join(text for _, text in sorted(subresources, key=_first))
    md5, ctype = headers.get("Content-MD5", ""), headers.get("Content-Type", "")
    return f"{t.method}\n{md5}\n{ctype}\n{date}\n{amz_lines}{resource}"


def _first(pair: tuple[str, str]) -> str:
    return pair[0]


def _check_v2(provided: str, text: str, keys: Keys) -> None:
    digest = hmac.new(keys.secret_key.encode(), text.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, provided):
        raise _mismatch(keys, text, provided)


# aws-chunked bodies


def decode_chunks(body: bytes, chain: ChunkChain | None) -> bytes:
    """The data of an ``aws-chunked`` body. With a chain, every chunk's signature is
    checked. Trailing headers (checksums) after the last chunk are left to moto."""
    out = bytearray()
    pos = 0
    previous = chain.seed if chain else ""
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise _incomplete()
        size_text, _, extension = body[pos:end].decode("latin-1").partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _incomplete() from None
        data = body[end + 2 : end + 2 + size]
        if len(data) != size:
            raise _incomplete()
        pos = end + 2 + size
        if chain is not None:
            provided = extension.strip().removeprefix("chunk-signature=")
            expected = chain.sign(previous, data)
            if not hmac.compare_digest(expected, provided):
                raise S3Error(403, "SignatureDoesNotMatch", _MISMATCH)
            previous = expected
        if size == 0:
            return bytes(out)
        out += data
        if body[pos : pos + 2] != b"\r\n":
            raise _incomplete()
        pos += 2


# shared


_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


def _mismatch(keys: Keys, text: str, provided: str, **more: str) -> S3Error:
    return S3Error(
        403,
        "SignatureDoesNotMatch",
        _MISMATCH,
        AWSAccessKeyId=keys.access_key,
        StringToSign=text,
        SignatureProvided=provided,
        **more,
    )


def _unknown_key(access_key: str) -> S3Error:
    return S3Error(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        AWSAccessKeyId=access_key,
    )


def _incomplete() -> S3Error:
    return S3Error(400, "IncompleteBody", "The request body terminated unexpectedly")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _raw_bytes(text: str) -> bytes:
    # WSGI carries the request line as latin-1 text; this gives back its bytes
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def _parse_timestamp(timestamp: str) -> datetime:
    try:
        return datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise access_denied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None


def _v4_timestamp_from_http(date: str | None) -> str:
    if not date:
        return ""
    try:
        return parsedate_to_datetime(date).astimezone(UTC).strftime(_TIMESTAMP)
    except (TypeError, ValueError):
        return ""


def _check_skew(when: datetime, now: datetime) -> None:
    if abs(now - when) > MAX_SKEW:
        raise S3Error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            RequestTime=_iso(when),
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
