"""Placing orders through the API: the payment provider (an http-mock) is charged, a
refused payment is shown on the order, and a paid one is confirmed by email."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
from support import CARD_DECLINED, CARD_OK, CARD_OUTAGE, Account, stack_env

from tempstack import mock

Place = Callable[..., httpx.Response]


def _charges(order_id: int) -> list[Any]:
    payments = mock.client(stack_env("PAYMENTS_URL"))
    return [
        r
        for r in payments.requests("POST", "/v1/charges")
        if r.json and r.json["metadata"]["order_id"] == str(order_id)
    ]


def _confirmations(order_id: int) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{stack_env('MAIL_API_URL')}/search",
        params={"query": f'subject:"order #{order_id}"'},
        timeout=10,
    ).json()["messages"]
    return [m for m in found if m["Subject"] == f"Your Tempstack Shop order #{order_id}"]


def test_a_paid_order(place_order: Place, alice: Account) -> None:
    response = place_order(CARD_OK, product_id=2, quantity=3)

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/api/orders/{order['id']}"
    assert order["status"] == "paid"
    assert order["product"]["sku"] == "TEA-418"
    assert order["total_cents"] == 3 * 4180
    assert order["card_last4"] == "4242"
    assert order["payment_id"].startswith("ch_")
    assert order["payment_error"] is None

    (charge,) = _charges(order["id"])
    assert charge.json["amount"] == 3 * 4180
    assert charge.json["currency"] == "eur"
    assert charge.json["source"] == "4242424242424242"  # digits only
    assert charge.header("authorization") == "Bearer sk_test_tempstack"
    assert charge.header("idempotency-key") == f"order-{order['id']}"
    assert charge.status == 201

    (mail,) = _confirmations(order["id"])
    assert mail["To"] == [{"Name": "", "Address": alice.email}]
    message = httpx.get(f"{stack_env('MAIL_API_URL')}/message/{mail['ID']}", timeout=10).json()
    assert "3 x Teapot 418, €125.40 in total" in message["Text"]
    assert f"{os.environ['WEB_URL']}/orders/{order['id']}" in message["Text"]


def test_a_declined_card_fails_the_order_visibly(
    place_order: Place, as_alice: httpx.Client
) -> None:
    response = place_order(CARD_DECLINED)

    assert response.status_code == 402
    order = response.json()
    assert order["status"] == "payment_failed"
    assert order["payment_error"] == "Your card was declined."
    assert order["payment_id"] is None
    (charge,) = _charges(order["id"])
    assert charge.status == 402
    assert _confirmations(order["id"]) == []

    again = as_alice.get(f"/api/orders/{order['id']}").json()
    assert again["status"] == "payment_failed"
    assert again["payment_error"] == "Your card was declined."
    assert order["id"] in [o["id"] for o in as_alice.get("/api/orders").json()]


def test_a_payment_provider_outage_fails_the_order_visibly(place_order: Place) -> None:
    response = place_order(CARD_OUTAGE)

    assert response.status_code == 402
    order = response.json()
    assert order["status"] == "payment_failed"
    assert order["payment_error"].startswith("The payment provider is unavailable (503)")
    assert "Paywell is temporarily unavailable" in order["payment_error"]
    assert _charges(order["id"])[0].status == 503


def test_orders_are_private(place_order: Place, as_bob: httpx.Client) -> None:
    order = place_order(CARD_OK).json()

    assert as_bob.get(f"/api/orders/{order['id']}").status_code == 404
    assert as_bob.get(f"/orders/{order['id']}/events").status_code == 404
    assert order["id"] not in [o["id"] for o in as_bob.get("/api/orders").json()]


def test_invalid_orders_are_refused(place_order: Place) -> None:
    bad_card = place_order("4242 4242 4242 4241")  # fails the Luhn check
    assert bad_card.status_code == 422
    assert "not valid" in bad_card.json()["detail"]

    assert place_order(CARD_OK, quantity=0).status_code == 422
    assert place_order(CARD_OK, product_id=9999).status_code == 422
