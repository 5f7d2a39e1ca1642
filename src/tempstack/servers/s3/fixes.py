"""Where moto answers differently from AWS in ways clients notice, the AWS answer.

Each check cites the AWS behaviour it restores; tests/integration/test_s3_conformance.py
holds a test for each. Request checks run before moto sees the request, response fixes
after (reading moto's backend where the answer depends on stored state).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
from datetime import UTC
from email.utils import format_datetime
from urllib.parse import quote
from xml.sax.saxutils import unescape

from moto.s3.models import FakeDeleteMarker
from werkzeug.wrappers import Response

from tempstack.servers.s3 import names
from tempstack.servers.s3.access import allows_anonymous
from tempstack.servers.s3.backend import backend, bucket_or_none, initiated
from tempstack.servers.s3.errors import S3Error, invalid_argument
from tempstack.servers.s3.target import Target

_MAX_INT = 2**31 - 1
_MAX_KEY = 1024


def check_body(body: bytes, content_md5: str | None) -> None:
    """AWS PutObject / UploadPart: a Content-MD5 that is not a base64 MD5 is InvalidDigest,
    one that does not match the body is BadDigest (both 400). moto ignores the header."""
    if content_md5 is None:
        return
    try:
        expected = base64.b64decode(content_md5, validate=True)
    except (binascii.Error, ValueError):
        expected = b""
    if len(expected) != 16:
        raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
    actual = hashlib.md5(body).digest()
    if actual != expected:
        raise S3Error(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
            ExpectedDigest=expected.hex(),
            CalculatedDigest=base64.b64encode(actual).decode(),
        )


def check_request(t: Target, body: bytes) -> None:
    # AWS CreateBucket refuses names outside the naming rules: 400 InvalidBucketName.
    if t.method == "PUT" and t.bucket and not t.key and not t.query and names.problem(t.bucket):
        raise S3Error(
            400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=t.bucket
        )
    if t.bucket and not t.key and "max-keys" in t.query:
        # AWS ListObjects(V2): max-keys outside 0..2^31-1 is 400 InvalidArgument.
        value = t.query["max-keys"]
        if not value.isdigit() or int(value) > _MAX_INT:
            raise invalid_argument(
                "Provided max-keys not an integer or within integer range", "max-keys", value
            )
    # AWS PutObject / CopyObject / CreateMultipartUpload: keys are at most 1024 bytes of
    # UTF-8, else 400 KeyTooLongError (moto stores any length).
    writes = t.method == "PUT" or (t.method == "POST" and "uploads" in t.query)
    if t.is_object and writes and len(t.key.encode()) > _MAX_KEY:
        raise S3Error(
            400,
            "KeyTooLongError",
            "Your key is too long",
            MaxSizeAllowed=str(_MAX_KEY),
            Size=str(len(t.key.encode())),
        )
    if t.is_object and "uploadId" in t.query:
        _check_upload(t, body)


def _check_upload(t: Target, body: bytes) -> None:
    upload_id = t.query["uploadId"]
    bucket = bucket_or_none(t.bucket)
    if bucket is None:
        return  # moto answers NoSuchBucket
    upload = bucket.multiparts.get(upload_id)
    # AWS UploadPart / ListParts / Complete / Abort: an unknown upload id, or one started
    # for another key, is 404 NoSuchUpload (moto fails UploadPart with a 500).
    if upload is None or upload.key_name != t.key:
        raise S3Error(
            404,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload "
            "may have been aborted or completed.",
            UploadId=upload_id,
        )
    if t.method == "POST":
        # AWS CompleteMultipartUpload: parts must be listed in ascending part number order,
        # else 400 InvalidPartOrder (moto reports EntityTooSmall or builds the object).
        numbers = [int(n) for n in re.findall(rb"<PartNumber>\s*(\d+)\s*</PartNumber>", body)]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise S3Error(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part "
                "number.",
                UploadId=upload_id,
            )


def fix_response(
    t: Target, response: Response, body: bytes, *, anonymous: bool, host: str
) -> Response:
    if t.is_object and t.method in ("GET", "HEAD") and response.status_code in (404, 405):
        response = _deleted(t, response)
        if anonymous and response.status_code == 404:
            response = _hide_missing(t, response)
    elif response.status_code == 200 and t.method == "GET" and not t.key and "uploads" in t.query:
        _uploads_initiated(response)
    elif (
        response.status_code == 200
        and t.method == "GET"
        and not t.key
        and "versions" in t.query
        and t.query.get("encoding-type") == "url"
    ):
        _url_encode_versions(response)
    elif response.status_code == 200 and t.method == "POST" and "uploadId" in t.query:
        _complete_location(t, response, host)
    elif (
        response.status_code == 200
        and t.method == "POST"
        and "delete" in t.query
        and re.search(rb"<Quiet>\s*true\s*</Quiet>", body, re.IGNORECASE)
    ):
        _quiet_delete(response)
    return response


def _deleted(t: Target, response: Response) -> Response:
    """AWS GetObject / HeadObject: when the current version is a delete marker the 404
    carries ``x-amz-delete-marker: true`` and its version id; asking for a delete marker by
    version id is 405 MethodNotAllowed with those headers and Last-Modified (moto: GET
    gives a bare 404 NoSuchVersion, HEAD a 405 without Last-Modified)."""
    if bucket_or_none(t.bucket) is None:
        return response
    version_id = t.query.get("versionId")
    found = backend().get_object(t.bucket, t.key, version_id, return_delete_marker=True)
    if not isinstance(found, FakeDeleteMarker):
        return response
    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": found.version_id}
    if version_id is None:
        for name, value in headers.items():
            response.headers[name] = value
        return response
    headers["Last-Modified"] = format_datetime(found.last_modified.replace(tzinfo=UTC), usegmt=True)
    return (
        S3Error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            Method=t.method,
            ResourceType="DeleteMarker",
        )
        .with_headers(headers)
        .response()
    )


def _hide_missing(t: Target, response: Response) -> Response:
    """AWS GetObject: without s3:ListBucket a missing key is 403 AccessDenied, not 404, so
    anonymous readers of a public-read bucket cannot probe which keys exist."""
    bucket = bucket_or_none(t.bucket)
    policy = bucket.policy if bucket else None
    if allows_anonymous(policy, "s3:ListBucket", f"arn:aws:s3:::{t.bucket}"):
        return response
    return S3Error(403, "AccessDenied", "Access Denied").response()


def _uploads_initiated(response: Response) -> None:
    """AWS ListMultipartUploads: ``Initiated`` is when the upload began (moto: 2010)."""

    def fix(block: re.Match[str]) -> str:
        text = block.group(0)
        found = re.search(r"<UploadId>([^<]*)</UploadId>", text)
        when = initiated.get(found.group(1)) if found else None
        if when is None:
            return text
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        return re.sub(r"<Initiated>[^<]*</Initiated>", f"<Initiated>{stamp}</Initiated>", text)

    text = response.get_data(as_text=True)
    response.set_data(re.sub(r"<Upload>.*?</Upload>", fix, text, flags=re.DOTALL))


def _url_encode_versions(response: Response) -> None:
    """AWS ListObjectVersions with ``encoding-type=url`` (which boto3 always asks for):
    keys, prefixes, delimiter and markers come URL-encoded, so keys holding characters XML
    cannot carry (control characters) still list. moto ignores the parameter and writes
    them raw, which no XML parser accepts."""

    def encode(match: re.Match[str]) -> str:
        tag, value = match.group(1), unescape(match.group(2), {"&quot;": '"', "&apos;": "'"})
        return f"<{tag}>{quote(value, safe='/')}</{tag}>"

    text = response.get_data(as_text=True)
    if "<EncodingType>" in text:
        return  # a moto that encodes by itself
    text = re.sub(r"<(Key|Prefix|Delimiter|KeyMarker|NextKeyMarker)>([^<]*)</\1>", encode, text)
    text = text.replace(
        "</ListVersionsResult>", "<EncodingType>url</EncodingType></ListVersionsResult>"
    )
    response.set_data(text)


def _complete_location(t: Target, response: Response, host: str) -> None:
    """AWS/MinIO CompleteMultipartUpload: ``Location`` is the object's URL on the server
    that was asked (moto: ``http://<bucket>.s3.amazonaws.com/<key>``)."""
    text = response.get_data(as_text=True)
    if "<Location>" in text and host:
        location = f"http://{host}/{t.bucket}/{quote(t.key, safe='/~')}"
        text = re.sub(r"<Location>[^<]*</Location>", f"<Location>{location}</Location>", text)
        response.set_data(text)


def _quiet_delete(response: Response) -> None:
    """AWS DeleteObjects with ``<Quiet>true</Quiet>``: only errors are listed (moto also
    lists every deleted key)."""
    text = response.get_data(as_text=True)
    response.set_data(re.sub(r"<Deleted>.*?</Deleted>", "", text, flags=re.DOTALL))
