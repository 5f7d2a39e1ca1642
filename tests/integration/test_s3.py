"""The s3 kind through the real engine: boto3 and the minio client, unmodified, against the
exports; buckets with their options at ready; presigned URLs; credentials enforced."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.auth
import httpx
import minio
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from minio.error import S3Error as MinioError

import tempstack

STACK = """
[stack]
name = "s3"

[services.files]
kind = "s3"
region = "eu-central-1"

[[services.files.buckets]]
name = "uploads"

[[services.files.buckets]]
name = "history"
versioning = true

[[services.files.buckets]]
name = "assets"
public = true
cors = true

[[services.files.buckets]]
name = "spa"

[[services.files.buckets.cors]]
allowed_origins = ["http://app.test"]
allowed_methods = ["GET", "PUT"]
allowed_headers = ["content-type"]
max_age = 60
"""

MB = 1024 * 1024


@dataclass
class Files:
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.env["FILES_URL"]

    def boto3(self, **overrides: Any) -> Any:
        options = {
            "endpoint_url": self.env["FILES_AWS_ENDPOINT_URL"],
            "aws_access_key_id": self.env["FILES_AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.env["FILES_AWS_SECRET_ACCESS_KEY"],
            "region_name": self.env["FILES_AWS_REGION"],
            **overrides,
        }
        return boto3.client("s3", **options)

    def minio(self, secret_key: str | None = None) -> minio.Minio:
        return minio.Minio(
            self.env["FILES_HOST"] + ":" + self.env["FILES_PORT"],
            access_key=self.env["FILES_ACCESS_KEY"],
            secret_key=secret_key or self.env["FILES_SECRET_KEY"],
            region=self.env["FILES_REGION"],
            secure=False,
        )


@pytest.fixture
def files(write_stack) -> Iterator[Files]:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(STACK))
    with stack.up() as run:
        yield Files(run.env)


def error_of(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_exports_and_buckets_exist_at_ready_with_their_options(files: Files) -> None:
    env = files.env
    assert env["FILES_URL"] == env["FILES_AWS_ENDPOINT_URL"] == env["FILES_ENDPOINT_URL"]
    assert env["FILES_URL"] == f"http://127.0.0.1:{env['FILES_PORT']}"
    assert env["FILES_ACCESS_KEY"] == env["FILES_AWS_ACCESS_KEY_ID"]
    assert env["FILES_SECRET_KEY"] == env["FILES_AWS_SECRET_ACCESS_KEY"]
    assert env["FILES_REGION"] == env["FILES_AWS_REGION"] == "eu-central-1"
    assert env["FILES_BUCKET"] == "uploads"

    s3 = files.boto3()
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names == {"uploads", "history", "assets", "spa"}
    assert s3.get_bucket_location(Bucket="uploads")["LocationConstraint"] == "eu-central-1"
    assert s3.get_bucket_versioning(Bucket="history")["Status"] == "Enabled"
    assert "Status" not in s3.get_bucket_versioning(Bucket="uploads")

    # public = true: a bucket policy letting anyone GET objects, so plain httpx reads them
    policy = json.loads(s3.get_bucket_policy(Bucket="assets")["Policy"])
    assert policy["Statement"][0]["Action"] == ["s3:GetObject"]
    s3.put_object(Bucket="assets", Key="css/site.css", Body=b"body{}", ContentType="text/css")
    r = httpx.get(f"{files.url}/assets/css/site.css")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"body{}", "text/css")
    assert httpx.head(f"{files.url}/assets/css/site.css").status_code == 200
    assert error_of(lambda: s3.get_bucket_policy(Bucket="uploads")) == (404, "NoSuchBucketPolicy")

    # cors = true: any origin; the spa bucket: only its own rule
    preflight = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }
    r = httpx.options(f"{files.url}/assets/x", headers={"Origin": "http://a.test", **preflight})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "PUT" in r.headers["access-control-allow-methods"]
    r = httpx.options(f"{files.url}/spa/x", headers={"Origin": "http://app.test", **preflight})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://app.test"
    assert r.headers["access-control-allow-headers"] == "content-type"
    assert r.headers["access-control-max-age"] == "60"
    r = httpx.options(f"{files.url}/spa/x", headers={"Origin": "http://evil.test", **preflight})
    assert r.status_code == 403 and "<Code>AccessForbidden</Code>" in r.text
    r = httpx.options(f"{files.url}/uploads/x", headers={"Origin": "http://a.test", **preflight})
    assert r.status_code == 403 and "CORS is not enabled" in r.text
    # a real cross-origin GET carries the headers too
    r = httpx.get(f"{files.url}/assets/css/site.css", headers={"Origin": "http://a.test"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-expose-headers"] == "ETag"
    assert s3.get_bucket_cors(Bucket="spa")["CORSRules"][0]["AllowedOrigins"] == ["http://app.test"]


def test_boto3_objects_and_multipart_uploads(files: Files) -> None:
    s3 = files.boto3()
    s3.put_object(Bucket="uploads", Key="docs/a.txt", Body=b"alpha", Metadata={"owner": "ann"})
    head = s3.head_object(Bucket="uploads", Key="docs/a.txt")
    assert head["ContentLength"] == 5 and head["Metadata"] == {"owner": "ann"}
    assert s3.get_object(Bucket="uploads", Key="docs/a.txt")["Body"].read() == b"alpha"
    listed = s3.list_objects_v2(Bucket="uploads", Prefix="docs/")
    assert [o["Key"] for o in listed["Contents"]] == ["docs/a.txt"]

    # an explicit multipart upload: a 5 MiB part and a last, smaller one
    first, last = os.urandom(5 * MB), os.urandom(MB)
    upload = s3.create_multipart_upload(Bucket="uploads", Key="big.bin")["UploadId"]
    parts = []
    for number, data in enumerate([first, last], start=1):
        part = s3.upload_part(
            Bucket="uploads", Key="big.bin", UploadId=upload, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket="uploads", Key="big.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"].endswith('-2"')
    assert done["Location"] == f"{files.url}/uploads/big.bin"
    body = s3.get_object(Bucket="uploads", Key="big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(first + last).digest()

    # the transfer manager splits a 12 MiB file by itself
    data = os.urandom(12 * MB)
    s3.upload_fileobj(io.BytesIO(data), "uploads", "managed.bin")
    head = s3.head_object(Bucket="uploads", Key="managed.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-2"')
    out = io.BytesIO()
    s3.download_fileobj("uploads", "managed.bin", out)
    assert out.getvalue() == data

    s3.delete_object(Bucket="uploads", Key="docs/a.txt")
    assert error_of(lambda: s3.head_object(Bucket="uploads", Key="docs/a.txt")) == (404, "404")


def test_minio_client(files: Files) -> None:
    client = files.minio()
    assert {b.name for b in client.list_buckets()} >= {"uploads", "history"}
    client.make_bucket("made-by-minio")
    client.put_object("made-by-minio", "notes/one two.txt", io.BytesIO(b"hello"), 5)
    assert client.get_object("made-by-minio", "notes/one two.txt").read() == b"hello"
    assert client.stat_object("made-by-minio", "notes/one two.txt").size == 5
    # unknown length: minio streams it as a multipart upload of 5 MiB parts
    data = os.urandom(11 * MB)
    client.put_object("made-by-minio", "big.bin", io.BytesIO(data), -1, part_size=5 * MB)
    assert client.stat_object("made-by-minio", "big.bin").etag.endswith("-3")
    assert client.get_object("made-by-minio", "big.bin").read() == data
    names = [o.object_name for o in client.list_objects("made-by-minio", recursive=True)]
    assert names == ["big.bin", "notes/one two.txt"]
    url = client.presigned_get_object("made-by-minio", "notes/one two.txt")
    assert httpx.get(url).content == b"hello"
    client.remove_object("made-by-minio", "notes/one two.txt")
    assert [o.object_name for o in client.list_objects("made-by-minio")] == ["big.bin"]

    with pytest.raises(MinioError) as caught:
        files.minio(secret_key="not-the-secret").get_object("made-by-minio", "big.bin")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_presigned_urls_with_plain_httpx(files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    for signature_version in (None, "s3v4"):  # boto3's default (SigV2 here) and SigV4
        config = Config(signature_version=signature_version) if signature_version else None
        s3 = files.boto3(config=config)
        key = f"shared/{signature_version} report+final %.txt"
        put = s3.generate_presigned_url("put_object", Params={"Bucket": "uploads", "Key": key})
        assert httpx.put(put, content=b"uploaded via URL").status_code == 200
        get = s3.generate_presigned_url("get_object", Params={"Bucket": "uploads", "Key": key})
        r = httpx.get(get)
        assert (r.status_code, r.content) == (200, b"uploaded via URL")
        # the URL signs method, key and time: none can be changed
        assert httpx.delete(get).status_code == 403
        assert httpx.get(get.replace("report", "rep0rt")).status_code == 403

    # a URL signed an hour ago for one minute has expired
    hour_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: hour_ago)
    old = files.boto3(config=Config(signature_version="s3v4")).generate_presigned_url(
        "get_object", Params={"Bucket": "uploads", "Key": "x"}, ExpiresIn=60
    )
    r = httpx.get(old)
    assert r.status_code == 403 and "Request has expired" in r.text


def test_wrong_credentials_are_rejected(files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong_secret = files.boto3(aws_secret_access_key="not-the-secret")
    assert error_of(wrong_secret.list_buckets) == (403, "SignatureDoesNotMatch")
    assert error_of(lambda: wrong_secret.put_object(Bucket="uploads", Key="k", Body=b"x")) == (
        403,
        "SignatureDoesNotMatch",
    )
    unknown_key = files.boto3(aws_access_key_id="AKIAUNKNOWN000000000")
    assert error_of(unknown_key.list_buckets) == (403, "InvalidAccessKeyId")
    url = wrong_secret.generate_presigned_url(
        "get_object", Params={"Bucket": "uploads", "Key": "k"}
    )
    assert httpx.get(url).status_code == 403
    # a right signature from an hour ago
    hour_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: hour_ago)
    assert error_of(files.boto3().list_buckets) == (403, "RequestTimeTooSkewed")


def test_anonymous_access_only_where_the_bucket_is_public(files: Files) -> None:
    s3 = files.boto3()
    s3.put_object(Bucket="uploads", Key="private.txt", Body=b"secret")
    s3.put_object(Bucket="assets", Key="logo.svg", Body=b"<svg/>")
    denied = [
        httpx.get(f"{files.url}/uploads/private.txt"),
        httpx.head(f"{files.url}/uploads/private.txt"),
        httpx.get(f"{files.url}/uploads"),
        httpx.put(f"{files.url}/uploads/new.txt", content=b"x"),
        httpx.delete(f"{files.url}/uploads/private.txt"),
        httpx.get(f"{files.url}/"),
        # public-read is GET of objects only: no listing, no writes, no deletes
        httpx.get(f"{files.url}/assets"),
        httpx.put(f"{files.url}/assets/new.txt", content=b"x"),
        httpx.delete(f"{files.url}/assets/logo.svg"),
        httpx.get(f"{files.url}/assets/logo.svg?acl"),
        # without s3:ListBucket a missing key is 403, not 404: keys cannot be probed
        httpx.get(f"{files.url}/assets/missing.svg"),
    ]
    for r in denied:
        assert r.status_code == 403, r.request
        if r.request.method != "HEAD":
            assert "<Code>AccessDenied</Code>" in r.text
    assert httpx.get(f"{files.url}/assets/logo.svg").content == b"<svg/>"
    assert s3.get_object(Bucket="uploads", Key="private.txt")["Body"].read() == b"secret"


def test_signed_streaming_upload(files: Files) -> None:
    """aws-chunked with a signature per chunk, as the Java SDK v1 and minio-go send over
    plain HTTP: the seed is signed by botocore, each chunk chained to the previous one."""
    env = files.env
    data = [b"a" * 70000, b"b" * 1000, b""]
    credentials = Credentials(env["FILES_ACCESS_KEY"], env["FILES_SECRET_KEY"])

    def body(tamper: bool) -> tuple[dict[str, str], bytes]:
        encoded_length = sum(len(f"{len(d):x};chunk-signature=") + 64 + 4 + len(d) for d in data)
        request = AWSRequest(
            method="PUT",
            url=f"{files.url}/uploads/streamed.bin",
            headers={
                "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                "Content-Encoding": "aws-chunked",
                "x-amz-decoded-content-length": str(sum(len(d) for d in data)),
                "Content-Length": str(encoded_length),
            },
        )
        # the generic signer keeps the x-amz-content-sha256 given (S3's would hash the body)
        botocore.auth.SigV4Auth(credentials, "s3", env["FILES_REGION"]).add_auth(request)
        auth = request.headers["Authorization"]
        previous = auth.rsplit("Signature=", 1)[1]
        timestamp = request.headers["X-Amz-Date"]
        scope = f"{timestamp[:8]}/{env['FILES_REGION']}/s3/aws4_request"
        key = ("AWS4" + env["FILES_SECRET_KEY"]).encode()
        for part in (timestamp[:8], env["FILES_REGION"], "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        out = b""
        for chunk in data:
            text = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    timestamp,
                    scope,
                    previous,
                    hashlib.sha256(b"").hexdigest(),
                    hashlib.sha256(chunk).hexdigest(),
                ]
            )
            previous = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
            sent = chunk.replace(b"b", b"c") if tamper else chunk
            out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
        return dict(request.headers.items()), out

    headers, content = body(tamper=False)
    r = httpx.put(f"{files.url}/uploads/streamed.bin", headers=headers, content=content)
    assert r.status_code == 200, r.text
    stored = files.boto3().get_object(Bucket="uploads", Key="streamed.bin")["Body"].read()
    assert stored == b"".join(data)

    headers, content = body(tamper=True)
    r = httpx.put(f"{files.url}/uploads/streamed.bin", headers=headers, content=content)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text


def send(url: str, fields: dict[str, str], data: bytes = b"tiny png") -> httpx.Response:
    """A browser's form POST: the policy's fields, then the file."""
    upload = {"file": ("me.png", data, "image/png")}
    return httpx.post(url, data=fields, files=upload, headers={"Origin": "http://app.test"})


def test_browser_form_uploads_with_a_post_policy(files: Files) -> None:
    """generate_presigned_post: the form's policy is signed with the secret and its
    conditions are enforced before anything is stored."""
    for signature_version in (None, "s3v4"):  # boto3's default (SigV2 here) and SigV4
        config = Config(signature_version=signature_version) if signature_version else None
        s3 = files.boto3(config=config)
        post = s3.generate_presigned_post(
            "uploads",
            "avatars/${filename}",
            Conditions=[["content-length-range", 1, 64]],
        )
        r = send(post["url"], post["fields"])
        assert r.status_code == 204, r.text
        stored = s3.get_object(Bucket="uploads", Key="avatars/me.png")
        assert stored["Body"].read() == b"tiny png"

        too_big = send(post["url"], post["fields"], b"x" * 65)
        assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
        extra = send(post["url"], {**post["fields"], "x-amz-meta-owner": "mallory"})
        assert extra.status_code == 403 and "Extra input fields: x-amz-meta-owner" in extra.text
        policy = json.loads(base64.b64decode(post["fields"]["policy"]))
        policy["conditions"][0] = ["content-length-range", 1, 10**9]
        forged = base64.b64encode(json.dumps(policy).encode()).decode()
        r = send(post["url"], {**post["fields"], "policy": forged}, b"x" * 1000)
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text

    expired = files.boto3().generate_presigned_post("uploads", "late.txt", ExpiresIn=-60)
    r = httpx.post(expired["url"], data=expired["fields"], files={"file": ("a", b"x")})
    assert r.status_code == 403 and "Policy expired" in r.text
    # a bucket without a policy for everyone takes no unsigned form
    r = httpx.post(f"{files.url}/uploads", data={"key": "k"}, files={"file": ("a", b"x")})
    assert r.status_code == 403
    listed = files.boto3().list_objects_v2(Bucket="uploads")["Contents"]
    assert [o["Key"] for o in listed] == ["avatars/me.png"]
