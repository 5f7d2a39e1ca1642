"""Order images in S3 (boto3, path-style addressing, endpoint and keys from ``AWS_*``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import boto3
from botocore.config import Config

MAX_IMAGE_BYTES = 2 * 1024 * 1024

#: the formats the shop accepts, told apart by their first bytes, never by what the client says
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"GIF87a": ("image/gif", ".gif"),
    b"GIF89a": ("image/gif", ".gif"),
}


class ImageError(ValueError):
    """The upload is not an image the shop takes; the message is safe to show."""


def sniff(data: bytes) -> tuple[str, str]:
    """The content type and file extension of an image, or ``ImageError``."""
    if not data:
        raise ImageError("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"the image is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for magic, kind in _SIGNATURES.items():
        if data.startswith(magic):
            return kind
    raise ImageError("only PNG, JPEG, GIF and WebP images are accepted")


class ImageStore:
    """boto3 is synchronous: each call runs in a worker thread (its clients are thread-safe)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=10,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    async def put(self, data: bytes) -> tuple[str, str]:
        """Store an image under a new random key; returns the key and the content type."""
        content_type, ext = sniff(data)
        key = f"orders/{uuid.uuid4().hex}{ext}"
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
        )
        return key, content_type

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = obj["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)
