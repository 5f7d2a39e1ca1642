"""Who may do what: OIDC login (code flow with PKCE) for pages, bearer tokens for the API."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from support import Account, stack_env


def test_api_needs_a_user(anonymous: httpx.Client) -> None:
    for path in ("/api/orders", "/api/me", "/api/orders/1", "/orders/1/events"):
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_placing_an_order_needs_a_user(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/api/orders", json={"product_id": 1, "quantity": 1, "card_number": "4242424242424242"}
    )

    assert response.status_code == 401


def test_a_forged_token_is_refused(anonymous: httpx.Client) -> None:
    header = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9"  # {"alg":"RS256","typ":"at+jwt"}
    payload = "eyJzdWIiOiJhbGljZSJ9"  # {"sub":"alice"}, no valid signature
    response = anonymous.get(
        "/api/me", headers={"Authorization": f"Bearer {header}.{payload}.c2lnbmF0dXJl"}
    )

    assert response.status_code == 401
    assert "invalid token" in response.json()["detail"]


def test_a_token_names_its_user(as_alice: httpx.Client, alice: Account) -> None:
    response = as_alice.get("/api/me")

    assert response.status_code == 200
    assert response.json() == {"sub": alice.username, "email": alice.email, "name": alice.name}


def test_pages_send_visitors_to_the_login(anonymous: httpx.Client) -> None:
    for path in ("/orders", "/orders/new", "/orders/1"):
        response = anonymous.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path.replace('/', '%2F')}"


def test_login_uses_the_code_flow_with_pkce(anonymous: httpx.Client, web_url: str) -> None:
    response = anonymous.get("/login", params={"next": "/orders"})

    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == stack_env("AUTH_AUTHORIZATION_URL")
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == stack_env("AUTH_SHOP_CLIENT_ID")
    assert query["redirect_uri"] == f"{web_url}/auth/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256 digest
    assert query["state"] and query["nonce"]
    assert set(query["scope"].split()) == {"openid", "profile", "email"}


def test_a_callback_not_started_here_is_refused(anonymous: httpx.Client) -> None:
    response = anonymous.get("/auth/callback", params={"code": "stolen", "state": "forged"})

    assert response.status_code == 400
    assert "not started here" in response.text
    assert anonymous.get("/orders").status_code == 303  # still not signed in


def _sign_in(client: httpx.Client, account: Account, next_path: str) -> httpx.Response:
    """Through the provider's login form as a browser would; returns the shop's redirect."""
    to_provider = client.get("/login", params={"next": next_path})
    authorize = to_provider.headers["location"]
    form = client.get(authorize)
    assert form.status_code == 200
    found = re.search(r'<form method="post" action="([^"]+)"', form.text)
    assert found is not None, form.text
    action = html.unescape(found[1])
    signed_in = client.post(
        urljoin(authorize, action),
        data={"username": account.username, "password": account.password},
    )
    assert signed_in.status_code == 302, signed_in.text
    callback = signed_in.headers["location"]
    assert callback.startswith(str(client.base_url).rstrip("/") + "/auth/callback?")
    return client.get(callback)


def test_login_and_logout(web_url: str, alice: Account) -> None:
    with httpx.Client(base_url=web_url, timeout=10) as browser:
        back = _sign_in(browser, alice, "/orders")
        assert back.status_code == 303
        assert back.headers["location"] == "/orders"
        page = browser.get("/orders")
        assert page.status_code == 200
        assert alice.name in page.text
        assert browser.get("/api/me").json()["sub"] == alice.username  # the session works there

        logout = browser.post("/logout")
        assert logout.status_code == 303
        provider_logout = logout.headers["location"]
        assert provider_logout.startswith(stack_env("AUTH_LOGOUT_URL"))
        assert "id_token_hint=" in provider_logout
        home = browser.get(provider_logout)
        assert home.status_code == 302
        assert home.headers["location"] == f"{web_url}/"

        assert browser.get("/orders").status_code == 303
        assert browser.get("/api/me").status_code == 401
