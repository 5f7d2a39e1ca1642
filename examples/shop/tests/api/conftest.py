"""API test fixtures: HTTP clients for anonymous visitors and for signed-in users.

Signed-in API clients carry an access token from the OIDC provider's password grant,
which the shop verifies against the provider's JWKS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from support import CARD_OK, Account, stack_env

TIMEOUT = httpx.Timeout(10.0)


def password_token(account: Account) -> str:
    response = httpx.post(
        stack_env("AUTH_TOKEN_URL"),
        data={
            "grant_type": "password",
            "username": account.username,
            "password": account.password,
            "scope": "openid profile email",
        },
        auth=(stack_env("AUTH_SHOP_CLIENT_ID"), stack_env("AUTH_SHOP_CLIENT_SECRET")),
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def anonymous(web_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_url, timeout=TIMEOUT) as client:
        yield client


def _client(web_url: str, account: Account) -> httpx.Client:
    headers = {"Authorization": f"Bearer {password_token(account)}"}
    return httpx.Client(base_url=web_url, headers=headers, timeout=TIMEOUT)


@pytest.fixture
def as_alice(web_url: str, alice: Account) -> Iterator[httpx.Client]:
    with _client(web_url, alice) as client:
        yield client


@pytest.fixture
def as_bob(web_url: str, bob: Account) -> Iterator[httpx.Client]:
    with _client(web_url, bob) as client:
        yield client


@pytest.fixture
def place_order(as_alice: httpx.Client) -> Callable[..., httpx.Response]:
    """POST /api/orders as Alice."""

    def place(card: str = CARD_OK, product_id: int = 1, quantity: int = 1) -> httpx.Response:
        return as_alice.post(
            "/api/orders",
            json={"product_id": product_id, "quantity": quantity, "card_number": card},
        )

    return place
