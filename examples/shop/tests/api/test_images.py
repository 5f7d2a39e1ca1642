"""An order's picture is stored in S3 (the `files` service) and served back by the shop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import httpx
from botocore.config import Config
from support import png_bytes, stack_env

Place = Callable[..., httpx.Response]


def _s3() -> Any:
    return boto3.client(
        "s3",
        endpoint_url=stack_env("FILES_ENDPOINT_URL"),
        aws_access_key_id=stack_env("FILES_ACCESS_KEY"),
        aws_secret_access_key=stack_env("FILES_SECRET_KEY"),
        region_name=stack_env("FILES_REGION"),
        config=Config(s3={"addressing_style": "path"}),
    )


def test_an_uploaded_image_lands_in_s3(place_order: Place, as_alice: httpx.Client) -> None:
    order = place_order().json()
    image = png_bytes(12, 8, (40, 120, 200))

    response = as_alice.put(
        f"/api/orders/{order['id']}/image",
        content=image,
        headers={"Content-Type": "image/png"},
    )

    assert response.status_code == 200
    updated = response.json()
    key = updated["image_key"]
    assert key.startswith("orders/") and key.endswith(".png")
    assert updated["image_url"] == f"/orders/{order['id']}/image"

    stored = _s3().get_object(Bucket=stack_env("FILES_BUCKET"), Key=key)
    assert stored["ContentType"] == "image/png"
    assert stored["Body"].read() == image

    served = as_alice.get(updated["image_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == image


def test_a_new_image_replaces_the_old_one(place_order: Place, as_alice: httpx.Client) -> None:
    order = place_order().json()
    url = f"/api/orders/{order['id']}/image"
    first = as_alice.put(url, content=png_bytes(2, 2, (255, 0, 0))).json()["image_key"]

    second = as_alice.put(url, content=png_bytes(2, 2, (0, 255, 0))).json()["image_key"]

    assert second != first
    listing = _s3().list_objects_v2(Bucket=stack_env("FILES_BUCKET"), Prefix="orders/")
    keys = {o["Key"] for o in listing.get("Contents", [])}
    assert second in keys
    assert first not in keys


def test_only_images_are_accepted(place_order: Place, as_alice: httpx.Client) -> None:
    order = place_order().json()

    response = as_alice.put(
        f"/api/orders/{order['id']}/image",
        content=b"<script>alert(1)</script>",
        headers={"Content-Type": "image/png"},  # the bytes decide, not the header
    )

    assert response.status_code == 415
    assert as_alice.get(f"/api/orders/{order['id']}").json()["image_key"] is None


def test_someone_elses_image_is_not_found(
    place_order: Place, as_alice: httpx.Client, as_bob: httpx.Client
) -> None:
    order = place_order().json()
    as_alice.put(f"/api/orders/{order['id']}/image", content=png_bytes(2, 2, (0, 0, 0)))

    assert as_bob.get(f"/orders/{order['id']}/image").status_code == 404
    assert (
        as_bob.put(f"/api/orders/{order['id']}/image", content=png_bytes(1, 1, (0, 0, 0)))
    ).status_code == 404
