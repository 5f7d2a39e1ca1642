"""S3 errors as AWS sends them: an XML ``<Error>`` document (none for HEAD) and a status."""

from __future__ import annotations

import secrets
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response


def request_id() -> str:
    return secrets.token_hex(8).upper()


class S3Error(Exception):
    """An error the gateway answers itself, before or instead of moto."""

    def __init__(self, status: int, code: str, message: str, **fields: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields  # extra elements of <Error>, in AWS's names
        self.headers: dict[str, str] = {}

    def with_headers(self, headers: dict[str, str]) -> S3Error:
        self.headers.update(headers)
        return self

    def response(self) -> Response:
        rid = request_id()
        parts = [f"<Code>{self.code}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.fields.items()]
        parts.append(f"<RequestId>{rid}</RequestId>")
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        # werkzeug drops the body of a response to HEAD, as S3 does
        response = Response(body, status=self.status, content_type="application/xml")
        response.headers["x-amz-request-id"] = rid
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def access_denied(message: str = "Access Denied", **fields: str) -> S3Error:
    return S3Error(403, "AccessDenied", message, **fields)


def malformed(message: str) -> S3Error:
    return S3Error(
        400,
        "AuthorizationHeaderMalformed",
        f"The authorization header is malformed; {message}",
    )


def query_auth_error(message: str) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", message)


def invalid_argument(message: str, name: str, value: str) -> S3Error:
    return S3Error(400, "InvalidArgument", message, ArgumentName=name, ArgumentValue=value)
