"""The s3 server's signature checks against the examples AWS publishes (credentials
AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY), so a pass means the
server computes what AWS computes, not merely what its own code signs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from tempstack.servers.s3.errors import S3Error
from tempstack.servers.s3.signing import Keys, decode_chunks, verify
from tempstack.servers.s3.target import Target, target

KEYS = Keys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
V4_TIME = datetime(2013, 5, 24, tzinfo=UTC)
EMPTY = hashlib.sha256(b"").hexdigest()
SCOPE = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def request(method: str, uri: str) -> Target:
    return target({"REQUEST_METHOD": method, "RAW_URI": uri})


def v4_auth(signed_headers: str, signature: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders={signed_headers},Signature={signature}"
    )


def get_object_example(signature: str) -> Headers:
    # "Example: GET Object" in "Signature Calculations for the Authorization Header"
    return Headers(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "Range": "bytes=0-9",
            "x-amz-content-sha256": EMPTY,
            "x-amz-date": "20130524T000000Z",
            "Authorization": v4_auth("host;range;x-amz-content-sha256;x-amz-date", signature),
        }
    )


def test_v4_header_examples_from_aws_verify() -> None:
    good = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    signed = verify(request("GET", "/test.txt"), get_object_example(good), KEYS, V4_TIME)
    assert signed is not None and signed.payload == EMPTY and signed.chain is None

    # "Example: PUT Object": '$' is sent as is and must be encoded as %24 when signing
    payload = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    headers = Headers(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": payload,
            "Authorization": v4_auth(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        }
    )
    signed = verify(request("PUT", "/test$file.text"), headers, KEYS, V4_TIME)
    assert signed is not None and signed.payload == payload

    # "Example: GET Bucket (List Objects)": the query is sorted before signing
    headers = Headers(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "x-amz-content-sha256": EMPTY,
            "x-amz-date": "20130524T000000Z",
            "Authorization": v4_auth(
                "host;x-amz-content-sha256;x-amz-date",
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        }
    )
    assert verify(request("GET", "/?max-keys=2&prefix=J"), headers, KEYS, V4_TIME) is not None


def test_v4_header_refusals() -> None:
    good = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    wrong = good[:-1] + "0"
    with pytest.raises(S3Error) as caught:
        verify(request("GET", "/test.txt"), get_object_example(wrong), KEYS, V4_TIME)
    assert (caught.value.status, caught.value.code) == (403, "SignatureDoesNotMatch")
    assert caught.value.fields["CanonicalRequest"].startswith("GET\n/test.txt\n\nhost:")

    # the same signature for another path, another secret, another key id
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        verify(request("GET", "/test.txT"), get_object_example(good), KEYS, V4_TIME)
    other_secret = Keys(KEYS.access_key, "not-the-secret")
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        verify(request("GET", "/test.txt"), get_object_example(good), other_secret, V4_TIME)
    with pytest.raises(S3Error) as caught:
        verify(
            request("GET", "/test.txt"), get_object_example(good), Keys("AKIAOTHER", "x"), V4_TIME
        )
    assert (caught.value.status, caught.value.code) == (403, "InvalidAccessKeyId")

    # a right signature from 16 minutes ago is refused as too skewed
    with pytest.raises(S3Error) as caught:
        later = V4_TIME + timedelta(minutes=16)
        verify(request("GET", "/test.txt"), get_object_example(good), KEYS, later)
    assert (caught.value.status, caught.value.code) == (403, "RequestTimeTooSkewed")

    headers = get_object_example(good)
    del headers["x-amz-content-sha256"]
    with pytest.raises(S3Error) as caught:
        verify(request("GET", "/test.txt"), headers, KEYS, V4_TIME)
    assert (caught.value.status, caught.value.code) == (400, "InvalidRequest")


PRESIGNED = (
    "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def test_v4_presigned_example_from_aws_verifies_until_it_expires() -> None:
    host = Headers({"Host": "examplebucket.s3.amazonaws.com"})
    signed = verify(request("GET", PRESIGNED), host, KEYS, V4_TIME + timedelta(hours=23))
    assert signed is not None and signed.payload == "UNSIGNED-PAYLOAD"

    with pytest.raises(S3Error) as caught:
        verify(request("GET", PRESIGNED), host, KEYS, V4_TIME + timedelta(hours=24, seconds=1))
    assert (caught.value.status, caught.value.code) == (403, "AccessDenied")
    assert caught.value.message == "Request has expired"

    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        verify(request("PUT", PRESIGNED), host, KEYS, V4_TIME)
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        other_host = Headers({"Host": "otherbucket.s3.amazonaws.com"})
        verify(request("GET", PRESIGNED), other_host, KEYS, V4_TIME)


def test_v2_examples_from_aws_verify() -> None:
    # "Signing and Authenticating REST Requests" (Signature Version 2), path-style
    cases = [
        ("GET", "/johnsmith/photos/puppy.jpg", "Tue, 27 Mar 2007 19:36:42 +0000", {},
         "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
        ("PUT", "/johnsmith/photos/puppy.jpg", "Tue, 27 Mar 2007 21:15:45 +0000",
         {"Content-Type": "image/jpeg", "Content-Length": "94328"},
         "MyyxeRY7whkBe+bq8fHCL/2kKUg="),
        ("GET", "/johnsmith/?acl", "Tue, 27 Mar 2007 19:44:46 +0000", {},
         "c2WLPFtWHVgbEmeEG93a4cG37dM="),
    ]  # fmt: skip
    for method, uri, date, extra, signature in cases:
        headers = Headers(
            {"Date": date, "Authorization": f"AWS {KEYS.access_key}:{signature}", **extra}
        )
        now = datetime.strptime(date, "%a, %d %b %Y %H:%M:%S %z")
        assert verify(request(method, uri), headers, KEYS, now) is not None, uri
        with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
            verify(request(method, uri + "x"), headers, KEYS, now)


def test_unsigned_requests_are_anonymous() -> None:
    assert verify(request("GET", "/bucket/key"), Headers({"Host": "h"}), KEYS, V4_TIME) is None


# "Example: PUT Object" in "Transferring Payload in Multiple Chunks": 66560 bytes of 'a'
# in chunks of 65536, 1024 and 0, each signed over the previous signature.
CHUNK_SIGNATURES = [
    (65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
    (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
    (0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
]


def chunked_body(corrupt: bool = False) -> bytes:
    out = b""
    for size, signature in CHUNK_SIGNATURES:
        data = b"a" * size
        if corrupt and size == 1024:
            data = b"b" + data[1:]
        out += f"{size:x};chunk-signature={signature}\r\n".encode() + data + b"\r\n"
    return out


def streaming_example() -> tuple[Target, Headers]:
    headers = Headers(
        {
            "Host": "s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "Content-Length": "66824",
            "Authorization": v4_auth(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                "x-amz-decoded-content-length;x-amz-storage-class",
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            ),
        }
    )
    return request("PUT", "/examplebucket/chunkObject.txt"), headers


def test_signed_chunks_example_from_aws_verifies_and_decodes() -> None:
    t, headers = streaming_example()
    signed = verify(t, headers, KEYS, V4_TIME)
    assert signed is not None and signed.chain is not None
    body = chunked_body()
    assert len(body) == 66824
    assert decode_chunks(body, signed.chain) == b"a" * 66560

    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        decode_chunks(chunked_body(corrupt=True), signed.chain)
    with pytest.raises(S3Error, match="IncompleteBody"):
        decode_chunks(body[: 70000 - 4000], signed.chain)
    # unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER) decode without a chain
    assert decode_chunks(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", None) == b"abc"
