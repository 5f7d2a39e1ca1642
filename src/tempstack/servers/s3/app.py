"""The gateway in front of moto: health, CORS, signatures and anonymous access, request
bodies checked against what was signed, and the AWS corrections of ``fixes``.

One line per request goes to stdout (the service log).
"""

from __future__ import annotations

import hashlib
import io
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from tempstack.servers.config import HEALTH_PATH
from tempstack.servers.s3 import cors, fixes, uploads
from tempstack.servers.s3.access import action_of, allows_anonymous
from tempstack.servers.s3.backend import bucket_or_none
from tempstack.servers.s3.errors import S3Error, access_denied, request_id
from tempstack.servers.s3.signing import (
    STREAMING_SIGNED,
    STREAMING_UNSIGNED,
    UNSIGNED,
    Keys,
    Signed,
    decode_chunks,
    verify,
)
from tempstack.servers.s3.target import Target, target

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Gateway:
    def __init__(
        self,
        keys: Keys,
        inner: WSGIApplication | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.keys = keys
        self.inner: WSGIApplication = inner or create_backend_app("s3")
        self.log = log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        t = target(environ)
        request = Request(environ)
        try:
            response = self.handle(t, request, environ)
        except S3Error as error:
            response = error.response()
        except Exception:
            self.log(traceback.format_exc().rstrip())
            response = S3Error(
                500, "InternalError", "We encountered an internal error. Please try again."
            ).response()
        if t.method != "OPTIONS" and (origin := request.headers.get("Origin")):
            self._cors_headers(t, origin, response)
        if "x-amz-request-id" not in response.headers:
            response.headers["x-amz-request-id"] = (
                response.headers.get("x-amzn-requestid") or request_id()
            )
        elapsed = (time.perf_counter() - started) * 1000
        target_text = t.raw_path + ("?" + t.raw_query if t.raw_query else "")
        self.log(f"{t.method} {target_text} {response.status_code} {elapsed:.0f}ms")
        return response(environ, start_response)

    def warm(self) -> None:
        """moto imports much of itself (IAM, STS, cryptography) on its first request: a
        ListBuckets straight to moto does that now instead of in a client's first call."""
        from werkzeug.test import Client

        Client(self.inner).get("/", headers={"Authorization": _WARM_AUTH})

    def handle(self, t: Target, request: Request, environ: WSGIEnvironment) -> Response:
        if t.raw_path == HEALTH_PATH:
            return Response("ok\n", content_type="text/plain")
        # moto would take the account from this header; clients get the one account
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        if t.method == "OPTIONS":
            return self._preflight(t, request)
        now = datetime.now(UTC)
        signed = verify(t, request.headers, self.keys, now)
        body = _take_body(environ) if t.method in ("PUT", "POST") else b""
        if signed is None:
            form = uploads.is_form_upload(t, request.headers.get("Content-Type", ""))
            if not (form and uploads.check(t, environ, body, self.keys, now)):
                self._check_anonymous(t, environ)
        data = _check_payload(body, signed or Signed(UNSIGNED))
        fixes.check_body(data, request.headers.get("Content-MD5"))
        fixes.check_request(t, body)
        response = Response.from_app(self.inner, environ)
        return fixes.fix_response(t, response, body, anonymous=signed is None, host=request.host)

    def _check_anonymous(self, t: Target, environ: WSGIEnvironment) -> None:
        """Unsigned requests get only what the bucket policy grants to everyone
        (``public = true`` grants GET and HEAD of objects); else 403 AccessDenied."""
        needed = action_of(t)
        bucket = bucket_or_none(t.bucket) if t.bucket else None
        if needed is None or bucket is None or not allows_anonymous(bucket.policy, *needed):
            raise access_denied()
        # Allowed. moto would decide again for unsigned requests, and refuse a HEAD (it
        # asks the policy for "s3:HeadObject", which IAM does not have: AWS checks
        # s3:GetObject), so it is told the request is signed, in the bucket's region.
        environ["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential=anonymous/20000101/{bucket.region_name}/s3/"
            "aws4_request, SignedHeaders=host, Signature=-"
        )

    def _preflight(self, t: Target, request: Request) -> Response:
        bucket = bucket_or_none(t.bucket) if t.bucket else None
        method = request.headers.get("Access-Control-Request-Method")
        if bucket is None:
            raise S3Error(
                403, "AccessForbidden", "CORSResponse: Bucket not found", Method=method or ""
            )
        headers = cors.preflight(
            cors.rules_of(bucket.cors),
            request.headers.get("Origin"),
            method,
            request.headers.get("Access-Control-Request-Headers", ""),
        )
        return Response(b"", status=200, headers=headers)

    def _cors_headers(self, t: Target, origin: str, response: Response) -> None:
        for name in [
            n for n, _ in response.headers.items() if n.lower().startswith("access-control-")
        ]:
            del response.headers[name]
        bucket = bucket_or_none(t.bucket) if t.bucket else None
        if bucket is not None:
            response.headers.update(cors.actual(cors.rules_of(bucket.cors), origin, t.method))


_WARM_AUTH = "AWS4-HMAC-SHA256 Credential=warm/20000101/us-east-1/s3/aws4_request, Signature=0"


def _take_body(environ: WSGIEnvironment) -> bytes:
    """Reads the whole request body and puts it back for moto to read again."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False
    return body


def _check_payload(body: bytes, signed: Signed) -> bytes:
    """The object data in the body, once it matches what the signature covered: the
    body's SHA-256 (AWS: 400 XAmzContentSHA256Mismatch) or each signed chunk's."""
    payload = signed.payload
    if payload in STREAMING_SIGNED:
        return decode_chunks(body, signed.chain)
    if payload == STREAMING_UNSIGNED:
        return decode_chunks(body, None)
    if payload != UNSIGNED:
        actual = hashlib.sha256(body).hexdigest()
        if actual != payload:
            raise S3Error(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=payload,
                S3ComputedContentSHA256=actual,
            )
    return body
