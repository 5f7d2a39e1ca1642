"""The ``oidc`` kind through the engine: a browser signs in on the real login page (headless
Chromium via Playwright), and every token is verified against the provider's JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect

import tempstack

STACK = """
[stack]
name = "oidc"

# the app the provider sends the browser back to; its 404 page is fine, the URL is the point
[services.app]
command = ["{python}", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}

[services.sso]
kind = "oidc"
token_ttl = "10m"

[[services.sso.clients]]
id = "web-app"
redirect_uris = ["${{app.url}}/cb"]
post_logout_redirect_uris = ["${{app.url}}/signed-out"]
scopes = ["openid", "profile", "email", "offline_access", "api"]

[[services.sso.clients]]
id = "spa"
public = true
redirect_uris = ["${{app.url}}/cb"]
post_logout_redirect_uris = ["${{app.url}}/signed-out"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email"]

[[services.sso.clients]]
id = "worker"
secret = "worker-secret"
redirect_uris = ["${{app.url}}/cb"]
grant_types = ["client_credentials"]
scopes = ["api", "reports"]

[[services.sso.users]]
subject = "alice"
password = "wonderland"
email = "alice@example.com"
name = "Alice Liddell"
claims = {{ roles = ["admin", "editor"], tenant = "acme" }}

[[services.sso.users]]
subject = "bob"
password = "builder"
"""


@contextmanager
def sso_stack(write_stack: Any) -> Iterator[dict[str, str]]:
    stack = tempstack.Stack.load(write_stack(STACK.format(python=sys.executable)))
    with stack.up() as run:
        yield run.env


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def half_hash(value: str) -> str:
    """``at_hash`` as OpenID Connect Core 3.1.3.6 defines it for RS256."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def verify(
    token: str, env: dict[str, str], **expected: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of ``token`` once its RS256 signature checks out against the JWKS
    fetched from the provider, with iss, exp and iat validated and ``expected`` claims equal."""
    jwks = KeySet.import_key_set(httpx.get(env["SSO_JWKS_URL"]).json())
    decoded = jwt.decode(token, jwks, algorithms=["RS256"])
    options: dict[str, Any] = {k: {"essential": True, "value": v} for k, v in expected.items()}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": env["SSO_ISSUER"]},
        exp={"essential": True},
        iat={"essential": True},
        **options,
    ).validate(decoded.claims)
    return dict(decoded.header), dict(decoded.claims)


def basic_auth(pair: str) -> httpx.BasicAuth:
    """``client_secret_basic`` from ``"id:secret"``."""
    client_id, secret = pair.split(":", 1)
    return httpx.BasicAuth(client_id, secret)


def token(env: dict[str, str], basic: str | None = None, **data: str) -> httpx.Response:
    auth = basic_auth(basic) if basic else None
    return httpx.post(env["SSO_TOKEN_URL"], data=data, auth=auth)


def authorize_url(env: dict[str, str], **params: str) -> str:
    return f"{env['SSO_AUTHORIZATION_URL']}?{urlencode(params)}"


def sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_discovery_jwks_and_exports(write_stack) -> None:  # type: ignore[no-untyped-def]
    with sso_stack(write_stack) as env:
        issuer = env["SSO_ISSUER"]
        assert issuer == env["SSO_URL"] == f"http://127.0.0.1:{env['SSO_PORT']}"
        doc = httpx.get(env["SSO_DISCOVERY_URL"]).json()
        assert env["SSO_DISCOVERY_URL"] == f"{issuer}/.well-known/openid-configuration"
        assert doc["issuer"] == issuer
        assert doc["authorization_endpoint"] == env["SSO_AUTHORIZATION_URL"]
        assert doc["token_endpoint"] == env["SSO_TOKEN_URL"]
        assert doc["userinfo_endpoint"] == env["SSO_USERINFO_URL"]
        assert doc["jwks_uri"] == env["SSO_JWKS_URL"]
        assert doc["end_session_endpoint"] == f"{issuer}/logout"
        assert doc["revocation_endpoint"] == f"{issuer}/revoke"
        assert doc["introspection_endpoint"] == f"{issuer}/introspect"
        assert doc["response_types_supported"] == ["code"]
        assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
        assert "S256" in doc["code_challenge_methods_supported"]
        assert set(doc["grant_types_supported"]) == {
            "authorization_code",
            "refresh_token",
            "password",
            "client_credentials",
        }
        assert set(doc["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "none",
        }
        assert {"openid", "api", "reports"} <= set(doc["scopes_supported"])
        assert {"roles", "tenant", "email"} <= set(doc["claims_supported"])

        (key,) = httpx.get(env["SSO_JWKS_URL"]).json()["keys"]
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert key["kid"] and "d" not in key  # public only
        assert len(base64.urlsafe_b64decode(key["n"] + "==")) * 8 == 2048

        # the first client is the default; each client has its own pair of exports
        assert env["SSO_CLIENT_ID"] == env["SSO_WEB_APP_CLIENT_ID"] == "web-app"
        assert env["SSO_CLIENT_SECRET"] == env["SSO_WEB_APP_CLIENT_SECRET"]
        assert len(env["SSO_CLIENT_SECRET"]) >= 20  # generated for this run
        assert env["SSO_WORKER_CLIENT_SECRET"] == "worker-secret"
        assert env["SSO_SPA_CLIENT_ID"] == "spa" and env["SSO_SPA_CLIENT_SECRET"] == ""
        assert httpx.get(f"{issuer}/__tempstack/health").status_code == 200
        first = (key["kid"], env["SSO_CLIENT_SECRET"])

    with sso_stack(write_stack) as env:  # a new run: a new key and a new generated secret
        (key,) = httpx.get(env["SSO_JWKS_URL"]).json()["keys"]
        assert key["kid"] != first[0]
        assert env["SSO_CLIENT_SECRET"] != first[1]


def test_browser_code_flow_with_pkce_refresh_and_logout(write_stack, chromium) -> None:  # type: ignore[no-untyped-def]
    with sso_stack(write_stack) as env:
        app = env["APP_URL"]
        page = chromium.new_page()
        verifier, challenge = pkce()
        state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        params = {
            "response_type": "code",
            "client_id": "spa",
            "redirect_uri": f"{app}/cb",
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        page.goto(authorize_url(env, **params))
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_text("spa", exact=True)).to_be_visible()

        sign_in(page, "alice", "not-her-password")
        expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
        assert page.url.startswith(env["SSO_AUTHORIZATION_URL"])
        expect(page.get_by_label("Username")).to_have_value("alice")

        sign_in(page, "alice@example.com", "wonderland")  # the email works as a username
        page.wait_for_url(f"{app}/cb?**")
        back = query(page.url)
        assert back["state"] == state and back["code"]

        exchange = {
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": f"{app}/cb",
            "client_id": "spa",
        }
        tokens = token(env, **exchange, code_verifier=verifier).json()
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
        assert token(env, **exchange, code_verifier=verifier).json()["error"] == "invalid_grant"

        header, claims = verify(tokens["id_token"], env, aud="spa", sub="alice", nonce=nonce)
        assert header["kid"] == httpx.get(env["SSO_JWKS_URL"]).json()["keys"][0]["kid"]
        assert claims["at_hash"] == half_hash(tokens["access_token"])
        assert claims["exp"] - claims["iat"] == 600
        assert claims["auth_time"] <= claims["iat"]
        assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
        assert claims["name"] == "Alice Liddell"
        assert (claims["roles"], claims["tenant"]) == (["admin", "editor"], "acme")
        assert claims["sid"]

        at_header, access = verify(tokens["access_token"], env, aud="spa", sub="alice")
        assert at_header["typ"] == "at+jwt"
        assert access["client_id"] == "spa" and access["scope"] == "openid profile email"
        assert access["jti"] and access["roles"] == ["admin", "editor"]

        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        userinfo = httpx.get(env["SSO_USERINFO_URL"], headers=bearer).json()
        assert userinfo == {
            k: claims[k]
            for k in ("sub", "name", "preferred_username", "email", "email_verified", "roles")
        } | {"tenant": "acme"}

        refreshed = token(
            env, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id="spa"
        ).json()
        assert refreshed["refresh_token"] != tokens["refresh_token"]
        _, again = verify(refreshed["id_token"], env, aud="spa", sub="alice")
        assert (again["auth_time"], again["sid"]) == (claims["auth_time"], claims["sid"])
        verify(refreshed["access_token"], env, aud="spa", sub="alice")
        reused = token(
            env, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id="spa"
        )
        assert reused.json()["error"] == "invalid_grant"  # rotated: the old one is spent

        # a live session skips the form: straight back to the app with a fresh code
        page.goto(authorize_url(env, **params | {"state": "second", "nonce": "n2"}))
        page.wait_for_url(f"{app}/cb?**")
        second = query(page.url)
        assert second["state"] == "second"
        # a public client cannot redeem its code without the PKCE verifier
        missing = token(env, **exchange | {"code": second["code"]})
        assert missing.json()["error"] == "invalid_request"
        # unless the app asks for a fresh sign-in
        page.goto(authorize_url(env, **params | {"nonce": "n3", "prompt": "login"}))
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()

        page.goto(
            f"{env['SSO_ISSUER']}/logout?"
            + urlencode(
                {
                    "id_token_hint": refreshed["id_token"],
                    "post_logout_redirect_uri": f"{app}/signed-out",
                    "state": "bye",
                }
            )
        )
        page.wait_for_url(f"{app}/signed-out?**")
        assert query(page.url) == {"state": "bye"}
        # the session and the tokens issued under it are gone
        page.goto(authorize_url(env, **params | {"nonce": "n4"}))
        expect(page.get_by_label("Password")).to_be_visible()
        after = token(
            env,
            grant_type="refresh_token",
            refresh_token=refreshed["refresh_token"],
            client_id="spa",
        )
        assert after.json()["error"] == "invalid_grant"
        bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
        assert httpx.get(env["SSO_USERINFO_URL"], headers=bearer).status_code == 401


def test_password_and_client_credentials_tokens_verify_against_jwks(write_stack) -> None:  # type: ignore[no-untyped-def]
    with sso_stack(write_stack) as env:
        basic = f"{env['SSO_CLIENT_ID']}:{env['SSO_CLIENT_SECRET']}"
        got = token(
            env, basic=basic, grant_type="password", username="alice", password="wonderland"
        )
        assert got.status_code == 200, got.text
        tokens = got.json()
        assert set(tokens["scope"].split()) == {
            "openid",
            "profile",
            "email",
            "offline_access",
            "api",
        }
        assert tokens["refresh_token"]
        _, access = verify(tokens["access_token"], env, aud="web-app", sub="alice")
        assert access["client_id"] == "web-app" and access["tenant"] == "acme"
        _, id_claims = verify(tokens["id_token"], env, aud="web-app", sub="alice")
        assert id_claims["at_hash"] == half_hash(tokens["access_token"])
        assert "sid" not in id_claims  # no browser session behind a password grant

        # client_secret_post, a narrower scope, a user without email or name
        narrow = token(
            env,
            grant_type="password",
            username="bob",
            password="builder",
            scope="openid email",
            client_id="web-app",
            client_secret=env["SSO_WEB_APP_CLIENT_SECRET"],
        ).json()
        _, bob = verify(narrow["id_token"], env, aud="web-app", sub="bob")
        assert "email" not in bob and "name" not in bob

        machine = token(
            env,
            grant_type="client_credentials",
            client_id="worker",
            client_secret=env["SSO_WORKER_CLIENT_SECRET"],
        ).json()
        assert machine["scope"] == "api reports" and "refresh_token" not in machine
        assert "id_token" not in machine
        _, claims = verify(machine["access_token"], env, aud="worker", sub="worker")
        assert claims["client_id"] == "worker" and claims["scope"] == "api reports"
        only_api = token(
            env, basic="worker:worker-secret", grant_type="client_credentials", scope="api"
        ).json()
        verify(only_api["access_token"], env, aud="worker", scope="api")

        # what is refused, and how
        wrong_secret = token(env, basic="web-app:guess", grant_type="client_credentials")
        assert wrong_secret.status_code == 401
        assert wrong_secret.json()["error"] == "invalid_client"
        wrong_post = token(
            env, grant_type="client_credentials", client_id="worker", client_secret="guess"
        )
        assert (wrong_post.status_code, wrong_post.json()["error"]) == (401, "invalid_client")
        wrong_password = token(
            env, basic=basic, grant_type="password", username="alice", password="nope"
        )
        assert wrong_password.json()["error"] == "invalid_grant"
        not_granted = token(
            env,
            basic="worker:worker-secret",
            grant_type="password",
            username="alice",
            password="wonderland",
        )
        assert not_granted.json()["error"] == "unauthorized_client"
        foreign_scope = token(
            env, basic="worker:worker-secret", grant_type="client_credentials", scope="admin"
        )
        assert foreign_scope.json()["error"] == "invalid_scope"
        no_user = token(env, basic=basic, grant_type="client_credentials", scope="openid")
        assert no_user.json()["error"] == "invalid_scope"
        public_secretless = token(env, grant_type="client_credentials", client_id="spa")
        assert public_secretless.json()["error"] == "invalid_client"


def test_revocation_and_introspection(write_stack) -> None:  # type: ignore[no-untyped-def]
    with sso_stack(write_stack) as env:
        basic = f"{env['SSO_CLIENT_ID']}:{env['SSO_CLIENT_SECRET']}"
        tokens = token(
            env, basic=basic, grant_type="password", username="alice", password="wonderland"
        ).json()
        introspect = f"{env['SSO_ISSUER']}/introspect"
        revoke = f"{env['SSO_ISSUER']}/revoke"
        worker = ("worker", "worker-secret")  # a resource server asking about a token
        info = httpx.post(introspect, auth=worker, data={"token": tokens["access_token"]}).json()
        assert info["active"] is True
        assert (info["sub"], info["client_id"], info["token_type"]) == (
            "alice",
            "web-app",
            "Bearer",
        )

        auth = basic_auth(basic)
        assert (
            httpx.post(revoke, auth=auth, data={"token": tokens["access_token"]}).status_code == 200
        )
        info = httpx.post(introspect, auth=worker, data={"token": tokens["access_token"]}).json()
        assert info == {"active": False}
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(env["SSO_USERINFO_URL"], headers=bearer).status_code == 401

        # revoking the refresh token ends it too
        assert (
            httpx.post(revoke, auth=auth, data={"token": tokens["refresh_token"]}).status_code
            == 200
        )
        spent = token(
            env, basic=basic, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert spent.json()["error"] == "invalid_grant"
        unauthenticated = httpx.post(introspect, data={"token": tokens["access_token"]})
        assert unauthenticated.status_code == 401


def test_bad_authorization_requests(write_stack) -> None:  # type: ignore[no-untyped-def]
    with sso_stack(write_stack) as env:
        app = env["APP_URL"]
        _, challenge = pkce()
        base = {
            "response_type": "code",
            "client_id": "web-app",
            "redirect_uri": f"{app}/cb",
            "scope": "openid",
            "state": "s1",
        }
        with httpx.Client(follow_redirects=False) as client:
            # an unregistered redirect_uri: an error page here, never a redirect there
            evil = client.get(
                authorize_url(env, **base | {"redirect_uri": "http://evil.example/cb"})
            )
            assert evil.status_code == 400 and "location" not in evil.headers
            assert evil.headers["content-type"].startswith("text/html")
            assert "http://evil.example/cb" in evil.text and "invalid_request" in evil.text
            prefix = client.get(authorize_url(env, **base | {"redirect_uri": f"{app}/cb/more"}))
            assert prefix.status_code == 400 and "location" not in prefix.headers
            unknown = client.get(authorize_url(env, **base | {"client_id": "nobody"}))
            assert unknown.status_code == 400 and "location" not in unknown.headers

            # errors after the redirect_uri checks out go back to the app, with the state
            spa = client.get(authorize_url(env, **base | {"client_id": "spa"}))
            assert spa.status_code == 302
            assert query(spa.headers["location"])["error"] == "invalid_request"  # PKCE needed
            assert query(spa.headers["location"])["state"] == "s1"
            scope = client.get(authorize_url(env, **base | {"scope": "openid admin"}))
            assert query(scope.headers["location"])["error"] == "invalid_scope"
            silent = client.get(authorize_url(env, **base | {"prompt": "none"}))
            assert query(silent.headers["location"])["error"] == "login_required"
            machine = client.get(
                authorize_url(env, **base | {"client_id": "worker", "code_challenge": challenge})
            )
            assert query(machine.headers["location"])["error"] == "unauthorized_client"

            # a logout may only send the browser to a registered post_logout_redirect_uri
            logout = client.get(
                f"{env['SSO_ISSUER']}/logout",
                params={"client_id": "web-app", "post_logout_redirect_uri": "http://evil.example/"},
            )
            assert logout.status_code == 400 and "location" not in logout.headers
