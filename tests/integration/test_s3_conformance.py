"""The s3 kind answers like AWS S3 where clients rely on the details.

Each test names the AWS documentation it follows ("AWS: ..." is the S3 User Guide or API
Reference page). Tests marked "moto differs" cover a difference the server corrects; the
rest pin behaviour moto already shares with AWS, so a moto upgrade cannot silently change
it. Everything runs with boto3 against the real server started by the real engine.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import tempstack

STACK = """
[stack]
name = "s3conformance"

[services.files]
kind = "s3"
buckets = ["plain", { name = "versioned", versioning = true }]
"""

MB = 1024 * 1024


class S3:
    """A boto3 client for the stack's s3 service, plus what tests need around it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.client = self.make()

    def make(self, **overrides: Any) -> Any:
        options = {
            "endpoint_url": self.env["FILES_URL"],
            "aws_access_key_id": self.env["FILES_ACCESS_KEY"],
            "aws_secret_access_key": self.env["FILES_SECRET_KEY"],
            "region_name": self.env["FILES_REGION"],
            **overrides,
        }
        return boto3.client("s3", **options)

    def raw(self, operation: str, **params: Any) -> httpx.Response:
        """The HTTP response itself, for details boto3 parses away."""
        url = self.make(config=Config(signature_version="s3v4")).generate_presigned_url(
            operation, Params=params
        )
        return httpx.get(url)


@pytest.fixture
def s3(write_stack) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(STACK))
    with stack.up() as run:
        yield S3(run.env)


def error_of(call: Any, **params: Any) -> tuple[int, str, dict[str, Any]]:
    """Status, error code and headers of the ClientError that ``call(**params)`` raises."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], headers


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def upload_parts(c: Any, key: str, upload: str, parts: list[bytes]) -> list[dict[str, Any]]:
    return [
        {
            "PartNumber": number,
            "ETag": c.upload_part(
                Bucket="plain", Key=key, UploadId=upload, PartNumber=number, Body=data
            )["ETag"],
        }
        for number, data in enumerate(parts, start=1)
    ]


# versions


def test_version_ids_are_opaque_strings_and_unversioned_objects_are_null(s3: S3) -> None:
    """AWS "Retaining multiple versions of objects with S3 Versioning": objects stored
    while versioning was never enabled have the version ID ``null`` (and PutObject returns
    none); each PUT in a versioning-enabled bucket gets a new opaque version ID, and the
    ``null`` version of an object stored before versioning was enabled is kept."""
    c = s3.client
    assert "VersionId" not in c.put_object(Bucket="plain", Key="k", Body=b"before")
    (only,) = c.list_object_versions(Bucket="plain")["Versions"]
    assert (only["Key"], only["VersionId"], only["IsLatest"]) == ("k", "null", True)
    assert c.get_object(Bucket="plain", Key="k", VersionId="null")["Body"].read() == b"before"

    c.put_bucket_versioning(Bucket="plain", VersioningConfiguration={"Status": "Enabled"})
    ids = [c.put_object(Bucket="plain", Key="k", Body=b"v%d" % i)["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3
    assert all(isinstance(v, str) and v and v != "null" for v in ids)
    assert c.head_object(Bucket="plain", Key="k")["VersionId"] == ids[-1]
    for i, version_id in enumerate(ids):
        body = c.get_object(Bucket="plain", Key="k", VersionId=version_id)["Body"].read()
        assert body == b"v%d" % i
    listed = [v["VersionId"] for v in c.list_object_versions(Bucket="plain")["Versions"]]
    assert listed == [*reversed(ids), "null"]
    assert c.get_object(Bucket="plain", Key="k", VersionId="null")["Body"].read() == b"before"


def test_list_object_versions_newest_first_with_delete_markers(s3: S3) -> None:
    """AWS ListObjectVersions: versions sorted by key, then newest first within a key;
    exactly one entry per key has IsLatest; a DELETE without a version ID adds a delete
    marker that becomes the latest, hides the key from ListObjects and makes GetObject a
    404 NoSuchKey carrying ``x-amz-delete-marker: true``; deleting the marker restores the
    previous version. Pagination (KeyMarker/VersionIdMarker) yields the same order."""
    c = s3.client
    ids = {
        key: [
            c.put_object(Bucket="versioned", Key=key, Body=b"%d" % i)["VersionId"] for i in range(3)
        ]
        for key in ("a", "b")
    }
    marker = c.delete_object(Bucket="versioned", Key="a")
    assert marker["DeleteMarker"] is True and marker["VersionId"] not in ids["a"]

    listing = c.list_object_versions(Bucket="versioned")
    versions = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listing["Versions"]]
    assert versions == [
        *[("a", v, False) for v in reversed(ids["a"])],
        *[("b", v, i == 0) for i, v in enumerate(reversed(ids["b"]))],
    ]
    markers = [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]]
    assert markers == [("a", marker["VersionId"], True)]

    paged: list[tuple[str, str]] = []
    params: dict[str, str] = {}
    while True:
        page = c.list_object_versions(Bucket="versioned", MaxKeys=2, **params)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        paged += [(v["Key"], v["VersionId"]) for v in entries]
        if not page["IsTruncated"]:
            break
        params = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    everything = [(k, v) for k, v, _ in versions] + [(k, v) for k, v, _ in markers]
    assert sorted(paged) == sorted(everything) and len(paged) == len(everything)

    assert [o["Key"] for o in c.list_objects_v2(Bucket="versioned")["Contents"]] == ["b"]
    status, code, headers = error_of(lambda: c.get_object(Bucket="versioned", Key="a"))
    assert (status, code) == (404, "NoSuchKey")
    assert headers["x-amz-delete-marker"] == "true"
    assert headers["x-amz-version-id"] == marker["VersionId"]
    status, code, headers = error_of(lambda: c.head_object(Bucket="versioned", Key="a"))
    assert (status, headers["x-amz-delete-marker"]) == (404, "true")

    c.delete_object(Bucket="versioned", Key="a", VersionId=marker["VersionId"])
    restored = c.get_object(Bucket="versioned", Key="a")
    assert (restored["VersionId"], restored["Body"].read()) == (ids["a"][-1], b"2")


def test_get_of_a_delete_marker_by_version_is_405(s3: S3) -> None:
    """AWS GetObject: "If the specified version is a delete marker, the response returns a
    405 Method Not Allowed error and the Last-Modified: timestamp response header" (with
    ``x-amz-delete-marker: true``). moto differs: a 404 NoSuchVersion for GET."""
    c = s3.client
    c.put_object(Bucket="versioned", Key="gone", Body=b"x")
    marker = c.delete_object(Bucket="versioned", Key="gone")["VersionId"]
    for call in (c.get_object, c.head_object):
        status, code, headers = error_of(
            lambda call=call: call(Bucket="versioned", Key="gone", VersionId=marker)
        )
        assert status == 405 and code in ("MethodNotAllowed", "405")
        assert headers["x-amz-delete-marker"] == "true"
        assert headers["x-amz-version-id"] == marker
        assert "last-modified" in headers


def test_delete_in_a_versioned_bucket_always_adds_a_marker(s3: S3) -> None:
    """AWS "Deleting object versions from a versioning-enabled bucket": a simple DELETE
    inserts a delete marker, also for a key that has no version at all. moto differs: it
    adds nothing for a missing key."""
    c = s3.client
    deleted = c.delete_object(Bucket="versioned", Key="never-written")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"]
    (marker,) = c.list_object_versions(Bucket="versioned")["DeleteMarkers"]
    assert (marker["Key"], marker["VersionId"]) == ("never-written", deleted["VersionId"])
    assert "Versions" not in c.list_object_versions(Bucket="versioned")


def test_suspended_versioning_replaces_only_the_null_version(s3: S3) -> None:
    """AWS "Working with objects in a versioning-suspended bucket": a PUT stores the object
    as the ``null`` version, replacing only an existing ``null`` version; a simple DELETE
    puts a delete marker with version ID ``null`` in its place; earlier versions remain.
    moto differs: both drop every version of the key."""
    c = s3.client
    kept = [
        c.put_object(Bucket="versioned", Key="k", Body=b"v%d" % i)["VersionId"] for i in range(2)
    ]
    c.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Suspended"})
    c.put_object(Bucket="versioned", Key="k", Body=b"null-1")
    c.put_object(Bucket="versioned", Key="k", Body=b"null-2")
    versions = c.list_object_versions(Bucket="versioned")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [
        ("null", True),
        (kept[1], False),
        (kept[0], False),
    ]
    assert c.get_object(Bucket="versioned", Key="k")["Body"].read() == b"null-2"
    assert c.get_object(Bucket="versioned", Key="k", VersionId=kept[0])["Body"].read() == b"v0"

    deleted = c.delete_object(Bucket="versioned", Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    listing = c.list_object_versions(Bucket="versioned")
    assert [v["VersionId"] for v in listing["Versions"]] == [kept[1], kept[0]]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [("null", True)]
    # a DELETE naming a version removes that version only
    c.delete_object(Bucket="versioned", Key="k", VersionId=kept[0])
    assert [v["VersionId"] for v in c.list_object_versions(Bucket="versioned")["Versions"]] == [
        kept[1]
    ]
    copy = c.copy_object(
        Bucket="plain",
        Key="copy",
        CopySource={"Bucket": "versioned", "Key": "k", "VersionId": kept[1]},
    )
    assert copy["CopyObjectResult"]["ETag"] == f'"{md5(b"v1")}"'


# keys


def test_keys_are_kept_byte_exact(s3: S3) -> None:
    """AWS "Naming Amazon S3 objects": a key is any sequence of Unicode characters whose
    UTF-8 encoding is at most 1024 bytes, and S3 stores it as given: no path normalisation
    (``a//b``, ``./x``, ``x/../y`` are distinct keys), no trimming, no Unicode
    normalisation (NFC and NFD spellings are two keys). Longer keys are 400
    KeyTooLongError (moto differs: it stores them)."""
    keys = [
        "a//b",
        "./x",
        "x/../y",
        "x/./z",
        "../up",
        "/lead",
        "trailing ",
        " leading",
        "dir/",
        "p+q",
        "pct%41",
        "%2F",
        "q?x=1&y=2",
        "h#f",
        "tab\tx",
        "sp ace",
        "~t",
        "uni/é/日本/🙂",
        unicodedata.normalize("NFC", "café"),
        unicodedata.normalize("NFD", "café"),
        "ctl\x01",
        "long/" + "é" * 500,  # 1005 bytes
    ]
    c = s3.client
    for key in keys:
        c.put_object(Bucket="plain", Key=key, Body=key.encode())
    assert sorted(o["Key"] for o in c.list_objects_v2(Bucket="plain")["Contents"]) == sorted(keys)
    assert sorted(o["Key"] for o in c.list_objects(Bucket="plain")["Contents"]) == sorted(keys)
    listed = c.list_object_versions(Bucket="plain")["Versions"]
    assert sorted(v["Key"] for v in listed) == sorted(keys)
    for key in keys:
        assert c.get_object(Bucket="plain", Key=key)["Body"].read() == key.encode(), key
        c.copy_object(Bucket="versioned", Key=key, CopySource={"Bucket": "plain", "Key": key})
        assert c.head_object(Bucket="versioned", Key=key)["ContentLength"] == len(key.encode())
        c.delete_object(Bucket="plain", Key=key)
    assert "Contents" not in c.list_objects_v2(Bucket="plain")
    copies = sorted(o["Key"] for o in c.list_objects_v2(Bucket="versioned")["Contents"])
    assert copies == sorted(keys)

    too_long = "k" * 1025
    status, code, _ = error_of(lambda: c.put_object(Bucket="plain", Key=too_long, Body=b"x"))
    assert (status, code) == (400, "KeyTooLongError")
    status, code, _ = error_of(lambda: c.put_object(Bucket="plain", Key="é" * 513, Body=b"x"))
    assert (status, code) == (400, "KeyTooLongError")


# timestamps and ETags


def test_last_modified_has_second_precision_everywhere(s3: S3) -> None:
    """AWS: HeadObject's Last-Modified is an HTTP date (whole seconds) and listings give
    LastModified as ISO 8601 with ``.000Z``: the two are the same instant, so a client can
    compare them, and If-Modified-Since with that value is 304 Not Modified."""
    c = s3.client
    c.put_object(Bucket="versioned", Key="t", Body=b"x")
    head = c.head_object(Bucket="versioned", Key="t")["LastModified"]
    listed = c.list_objects_v2(Bucket="versioned")["Contents"][0]["LastModified"]
    version = c.list_object_versions(Bucket="versioned")["Versions"][0]["LastModified"]
    assert head == listed == version and head.microsecond == 0
    for operation in ("list_objects_v2", "list_objects", "list_object_versions"):
        xml = s3.raw(operation, Bucket="versioned").text
        stamps = re.findall(r"<LastModified>([^<]*)</LastModified>", xml)
        assert stamps and all(
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", s) for s in stamps
        )

    status, code, _ = error_of(
        lambda: c.get_object(Bucket="versioned", Key="t", IfModifiedSince=head)
    )
    assert (status, code) == (304, "304")
    assert c.get_object(Bucket="versioned", Key="t", IfUnmodifiedSince=head)["Body"].read() == b"x"

    copied = c.copy_object(Bucket="plain", Key="c", CopySource={"Bucket": "versioned", "Key": "t"})
    stamp = copied["CopyObjectResult"]["LastModified"]
    assert stamp.microsecond == 0
    assert stamp == c.head_object(Bucket="plain", Key="c")["LastModified"]


def test_etags_are_md5_or_md5_of_parts_with_count(s3: S3) -> None:
    """AWS "Checking object integrity": the ETag of an object uploaded by PutObject is the
    MD5 of its data, in double quotes; of a multipart upload, the MD5 of the concatenated
    binary MD5s of its parts followed by ``-`` and the number of parts."""
    c = s3.client
    assert c.put_object(Bucket="plain", Key="one", Body=b"hello")["ETag"] == f'"{md5(b"hello")}"'
    assert c.put_object(Bucket="plain", Key="empty", Body=b"")["ETag"] == f'"{md5(b"")}"'

    parts_data = [b"a" * (5 * MB), b"b" * (5 * MB), b"c" * 10]
    upload = c.create_multipart_upload(Bucket="plain", Key="multi")["UploadId"]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        etag = c.upload_part(
            Bucket="plain", Key="multi", UploadId=upload, PartNumber=number, Body=data
        )["ETag"]
        assert etag == f'"{md5(data)}"'
        parts.append({"PartNumber": number, "ETag": etag})
    done = c.complete_multipart_upload(
        Bucket="plain", Key="multi", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    expected = (
        f'"{hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest()}-3"'
    )
    assert done["ETag"] == expected
    assert c.head_object(Bucket="plain", Key="multi")["ETag"] == expected
    listed = {o["Key"]: o["ETag"] for o in c.list_objects_v2(Bucket="plain")["Contents"]}
    assert listed == {"one": f'"{md5(b"hello")}"', "empty": f'"{md5(b"")}"', "multi": expected}
    copied = c.copy_object(
        Bucket="plain", Key="one-copy", CopySource={"Bucket": "plain", "Key": "one"}
    )
    assert copied["CopyObjectResult"]["ETag"] == f'"{md5(b"hello")}"'


# errors


def test_error_codes_and_statuses(s3: S3) -> None:
    """AWS "Error responses" (List of error codes) and the operations' pages: the codes and
    statuses clients branch on."""
    c = s3.client
    c.put_object(Bucket="plain", Key="k", Body=b"0123456789")
    etag = c.head_object(Bucket="plain", Key="k")["ETag"]
    expectations = [
        (lambda: c.get_object(Bucket="plain", Key="missing"), 404, "NoSuchKey"),
        (lambda: c.head_object(Bucket="plain", Key="missing"), 404, "404"),  # HEAD: no body
        (lambda: c.get_object(Bucket="nope-bucket", Key="k"), 404, "NoSuchBucket"),
        (lambda: c.list_objects_v2(Bucket="nope-bucket"), 404, "NoSuchBucket"),
        (lambda: c.put_object(Bucket="nope-bucket", Key="k", Body=b""), 404, "NoSuchBucket"),
        (lambda: c.delete_bucket(Bucket="plain"), 409, "BucketNotEmpty"),
        (lambda: c.get_object(Bucket="plain", Key="k", Range="bytes=20-30"), 416, "InvalidRange"),
        (
            lambda: c.get_object(Bucket="plain", Key="k", IfMatch='"0000"'),
            412,
            "PreconditionFailed",
        ),
        (lambda: c.get_object(Bucket="plain", Key="k", IfNoneMatch=etag), 304, "304"),
        (
            lambda: c.put_object(Bucket="plain", Key="k", Body=b"new", IfNoneMatch="*"),
            412,
            "PreconditionFailed",
        ),
        (
            lambda: c.get_object(Bucket="plain", Key="k", VersionId=str(uuid.uuid4())),
            404,
            "NoSuchVersion",
        ),
    ]
    for call, status, code in expectations:
        assert error_of(call)[:2] == (status, code)
    part = c.get_object(Bucket="plain", Key="k", Range="bytes=2-4")
    assert (part["ContentRange"], part["Body"].read()) == ("bytes 2-4/10", b"234")

    # versions count: a bucket holding only old versions and markers is not empty
    c.put_object(Bucket="versioned", Key="v", Body=b"x")
    c.delete_object(Bucket="versioned", Key="v")
    assert error_of(lambda: c.delete_bucket(Bucket="versioned"))[:2] == (409, "BucketNotEmpty")

    # AWS CompleteMultipartUpload: every part but the last must be at least 5 MiB
    upload = c.create_multipart_upload(Bucket="plain", Key="small")["UploadId"]
    parts = upload_parts(c, "small", upload, [b"x" * 100, b"y" * 100])
    completed = error_of(
        c.complete_multipart_upload,
        Bucket="plain",
        Key="small",
        UploadId=upload,
        MultipartUpload={"Parts": parts},
    )
    assert completed[:2] == (400, "EntityTooSmall")


def test_error_codes_moto_gets_wrong(s3: S3) -> None:
    """moto differs on each of these; the AWS answers (API Reference of each operation):
    UploadPart to an unknown upload is 404 NoSuchUpload (moto: 500); Complete with parts
    out of order is 400 InvalidPartOrder; a Content-MD5 that does not match is 400
    BadDigest, one that is not an MD5 400 InvalidDigest (moto ignores it); a body that does
    not match the signed x-amz-content-sha256 is 400 XAmzContentSHA256Mismatch; max-keys
    outside 0..2^31-1 is 400 InvalidArgument."""
    c = s3.client
    part = {"Bucket": "plain", "PartNumber": 1, "Body": b"x"}
    assert error_of(c.upload_part, Key="k", UploadId="no-such-upload", **part)[:2] == (
        404,
        "NoSuchUpload",
    )
    upload = c.create_multipart_upload(Bucket="plain", Key="k")["UploadId"]
    assert error_of(c.upload_part, Key="other", UploadId=upload, **part)[:2] == (
        404,
        "NoSuchUpload",
    )
    parts = upload_parts(c, "k", upload, [b"x" * (5 * MB), b"y" * (5 * MB)])
    reordered = error_of(
        c.complete_multipart_upload,
        Bucket="plain",
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": parts[::-1]},
    )
    assert reordered[:2] == (400, "InvalidPartOrder")

    put = {"Bucket": "plain", "Key": "m", "Body": b"data"}
    wrong = "AAAAAAAAAAAAAAAAAAAAAA=="
    assert error_of(c.put_object, ContentMD5=wrong, **put)[:2] == (400, "BadDigest")
    assert error_of(c.put_object, ContentMD5="xx", **put)[:2] == (400, "InvalidDigest")
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert c.put_object(Bucket="plain", Key="m", Body=b"data", ContentMD5=good)["ETag"]

    # signed for one body, sent with another
    url = f"{s3.env['FILES_URL']}/plain/swapped"
    request = AWSRequest(method="PUT", url=url, data=b"what was signed")
    credentials = Credentials(s3.env["FILES_ACCESS_KEY"], s3.env["FILES_SECRET_KEY"])
    botocore.auth.S3SigV4Auth(credentials, "s3", s3.env["FILES_REGION"]).add_auth(request)
    r = httpx.put(url, headers=dict(request.headers.items()), content=b"what was sent")
    assert r.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in r.text
    r = httpx.put(url, headers=dict(request.headers.items()), content=b"what was signed")
    assert r.status_code == 200

    r = s3.raw("list_objects_v2", Bucket="plain", MaxKeys=-1)
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text


# buckets


def test_creating_buckets(s3: S3) -> None:
    """AWS CreateBucket: names must follow the bucket naming rules, else 400
    InvalidBucketName (moto differs: it accepts upper case, underscores, ``..``, IP
    addresses, reserved prefixes and suffixes). Re-creating a bucket you own is 409
    BucketAlreadyOwnedByYou in every region except us-east-1, where AWS answers 200 OK for
    compatibility; this server follows AWS there (MinIO always answers 409)."""
    c = s3.client
    for name in [
        "UPPER",
        "under_score",
        "-dash",
        "a..b",
        "a.-b",
        "192.168.1.1",
        "xn--abc",
        "b-s3alias",
    ]:
        status, code, _ = error_of(lambda name=name: c.create_bucket(Bucket=name))
        assert (status, code) == (400, "InvalidBucketName"), name
    assert not {b["Name"] for b in c.list_buckets()["Buckets"]} - {"plain", "versioned"}

    assert c.create_bucket(Bucket="plain")["ResponseMetadata"]["HTTPStatusCode"] == 200
    eu = s3.make(region_name="eu-west-1")
    config = {"LocationConstraint": "eu-west-1"}
    eu.create_bucket(Bucket="in-ireland", CreateBucketConfiguration=config)
    assert eu.get_bucket_location(Bucket="in-ireland")["LocationConstraint"] == "eu-west-1"
    again = error_of(eu.create_bucket, Bucket="in-ireland", CreateBucketConfiguration=config)
    assert again[:2] == (409, "BucketAlreadyOwnedByYou")


def test_multipart_listings_and_quiet_deletes(s3: S3) -> None:
    """AWS ListMultipartUploads: Initiated is when the upload started (moto differs: a
    fixed 2010 date). AWS CompleteMultipartUpload: Location is the new object's URL (moto:
    an amazonaws.com URL). AWS DeleteObjects in quiet mode lists only errors (moto lists
    every deleted key)."""
    c = s3.client
    before = datetime.now(UTC).replace(microsecond=0)
    upload = c.create_multipart_upload(Bucket="plain", Key="dir/up")["UploadId"]
    (listed,) = c.list_multipart_uploads(Bucket="plain")["Uploads"]
    assert listed["UploadId"] == upload and listed["Key"] == "dir/up"
    assert before <= listed["Initiated"] <= datetime.now(UTC)

    parts = upload_parts(c, "dir/up", upload, [b"x"])
    done = c.complete_multipart_upload(
        Bucket="plain", Key="dir/up", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["Location"] == f"{s3.env['FILES_URL']}/plain/dir/up"
    assert "Uploads" not in c.list_multipart_uploads(Bucket="plain")

    for key in ("a", "b"):
        c.put_object(Bucket="plain", Key=key, Body=b"x")
    objects = [{"Key": "a"}, {"Key": "b"}]
    quiet = c.delete_objects(Bucket="plain", Delete={"Objects": objects, "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    c.put_object(Bucket="plain", Key="a", Body=b"x")
    loud = c.delete_objects(Bucket="plain", Delete={"Objects": [{"Key": "a"}]})
    assert [d["Key"] for d in loud["Deleted"]] == ["a"]
    assert [o["Key"] for o in c.list_objects_v2(Bucket="plain")["Contents"]] == ["dir/up"]
