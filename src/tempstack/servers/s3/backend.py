"""moto's S3 backend: where the gateway reads it, the buckets the spec asks for, and the
versioning behaviour corrected where moto parts from AWS.

AWS, "Working with objects in a versioning-suspended bucket": a PUT replaces only the
``null`` version and a DELETE puts a delete marker whose version id is ``null`` in its
place; the other versions stay. moto drops every version of the key in both cases (and a
DELETE with a version id removes all of them). AWS, "Deleting object versions": a DELETE
without a version id in a versioning-enabled bucket adds a delete marker even when the
key does not exist; moto adds nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, S3Backend, s3_backends

from tempstack.servers.s3.access import public_read_policy
from tempstack.servers.s3.cors import spec_rules

ACCOUNT = DEFAULT_ACCOUNT_ID

#: when each multipart upload began (moto lists a fixed date from 2010), by upload id
initiated: dict[str, datetime] = {}


def backend() -> S3Backend:
    # Buckets are global to the partition; every standard region shares this one.
    return s3_backends[ACCOUNT]["aws"]


def bucket_or_none(name: str) -> FakeBucket | None:
    found = backend().buckets.get(name)
    return found if isinstance(found, FakeBucket) else None


def create_buckets(buckets: list[str | dict[str, Any]], region: str) -> None:
    """The spec's buckets, with their options, straight into the backend."""
    s3 = backend()
    for entry in buckets:
        spec: dict[str, Any] = {"name": entry} if isinstance(entry, str) else entry
        name = spec["name"]
        s3.create_bucket(name, region)
        if spec.get("versioning"):
            s3.put_bucket_versioning(name, "Enabled")
        if spec.get("public"):
            s3.put_bucket_policy(name, public_read_policy(name).encode())
        if rules := spec_rules(spec.get("cors", False)):
            s3.put_bucket_cors(name, rules)


def apply_corrections() -> None:
    """Wraps moto's backend methods; once per process, before the first request."""
    S3Backend.put_object = _put_object(S3Backend.put_object)  # type: ignore[method-assign]
    S3Backend.delete_object = _delete_object(S3Backend.delete_object)  # type: ignore[method-assign]
    S3Backend.create_multipart_upload = _record_start(  # type: ignore[method-assign]
        S3Backend.create_multipart_upload
    )


def _put_object(original: Callable[..., FakeKey]) -> Callable[..., FakeKey]:
    @functools.wraps(original)
    def put_object(self: S3Backend, bucket_name: str, key_name: str, *a: Any, **kw: Any) -> FakeKey:
        bucket = self.get_bucket(bucket_name)
        if bucket.versioning_status != "Suspended":
            return original(self, bucket_name, key_name, *a, **kw)
        versions = bucket.keys.getlist(key_name, [])
        # Take the versions out without moto's store disposing of them (it closes their
        # data), let moto store the new null version, then put the others back before it.
        dict.pop(bucket.keys, key_name, None)
        try:
            key = original(self, bucket_name, key_name, *a, **kw)
        except BaseException:
            if versions:
                dict.__setitem__(bucket.keys, key_name, versions)
            raise
        for replaced in versions:
            if replaced.version_id == "null" and hasattr(replaced, "dispose"):
                replaced.dispose()
        kept = [v for v in versions if v.version_id != "null"]
        bucket.keys.setlist(key_name, [*kept, key])
        return key

    return put_object


Deleted = tuple[bool, dict[str, Any]]


def _delete_object(original: Callable[..., Deleted]) -> Callable[..., Deleted]:
    @functools.wraps(original)
    def delete_object(
        self: S3Backend,
        bucket_name: str,
        key_name: str,
        version_id: str | None = None,
        bypass: bool = False,
    ) -> Deleted:
        bucket = self.get_bucket(bucket_name)
        versions = bucket.keys.getlist(key_name, [])
        status = bucket.versioning_status
        if status == "Enabled" and version_id is None and not versions:
            marker = _marker(self, bucket_name, key_name, version_id=None)
            bucket.keys.setlist(key_name, [marker])
            return True, {"version-id": marker.version_id, "delete-marker": "true"}
        if status != "Suspended":
            return original(self, bucket_name, key_name, version_id, bypass)
        if version_id is None:
            marker = _marker(self, bucket_name, key_name, version_id="null")
            kept = [v for v in versions if v.version_id != "null"]
            bucket.keys.setlist(key_name, [*kept, marker])
            return True, {"version-id": "null", "delete-marker": "true"}
        meta: dict[str, Any] = {"version-id": version_id}
        if any(v.version_id == version_id and isinstance(v, FakeDeleteMarker) for v in versions):
            meta["delete-marker"] = "true"
        kept = [v for v in versions if v.version_id != version_id]
        if kept:
            bucket.keys.setlist(key_name, kept)
        elif key_name in bucket.keys:
            bucket.keys.pop(key_name)
        return True, meta

    return delete_object


def _marker(s3: S3Backend, bucket_name: str, key_name: str, version_id: str | None) -> Any:
    """A delete marker for ``key_name``; moto's needs a key to point at, so a key that has
    never existed gets an empty stand-in."""
    bucket = s3.get_bucket(bucket_name)
    current = bucket.keys.get(key_name)
    if current is None:
        current = FakeKey(
            name=key_name,
            value=b"",
            account_id=s3.account_id,
            region_name=s3.region_name,
            bucket_name=bucket_name,
        )
    marker = FakeDeleteMarker(key=current)
    if version_id is not None:
        marker._version_id = version_id
    return marker


def _record_start(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_multipart_upload(self: S3Backend, *a: Any, **kw: Any) -> Any:
        upload = original(self, *a, **kw)
        initiated[upload.id] = datetime.now(UTC)
        return upload

    return create_multipart_upload
