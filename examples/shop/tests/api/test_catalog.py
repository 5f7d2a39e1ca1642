"""The catalogue is public and holds what the seed job put there."""

from __future__ import annotations

import httpx


def test_products_come_from_the_seed(anonymous: httpx.Client) -> None:
    response = anonymous.get("/api/products")

    assert response.status_code == 200
    by_sku = {p["sku"]: p for p in response.json()}
    assert by_sku["MUG-001"]["id"] == 1
    assert by_sku["MUG-001"]["name"] == "Tempstack Mug"
    assert by_sku["MUG-001"]["price_cents"] == 1200
    assert by_sku["TEA-418"]["id"] == 2
    assert by_sku["TEA-418"]["name"] == "Teapot 418"
    assert by_sku["TEA-418"]["price"] == "€41.80"


def test_one_product_by_id(anonymous: httpx.Client) -> None:
    response = anonymous.get("/api/products/2")

    assert response.status_code == 200
    assert response.json()["sku"] == "TEA-418"


def test_unknown_product_is_404(anonymous: httpx.Client) -> None:
    response = anonymous.get("/api/products/9999")

    assert response.status_code == 404
    assert "9999" in response.json()["detail"]


def test_home_page_lists_the_products(anonymous: httpx.Client) -> None:
    response = anonymous.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Tempstack Mug" in response.text
    assert "Teapot 418" in response.text
    assert 'href="/login"' in response.text


def test_health(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
