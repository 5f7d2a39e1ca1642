"""The OIDC server's own logic, in process: the store, claims, discovery and the pages.

Configs are made the way the kind makes them: a validated ``OidcService`` dumped as JSON.
The full protocol runs through the engine in ``integration/test_oidc.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import OpenIDProviderMetadata as LogoutMetadata
from flask.testing import FlaskClient

from tempstack.servers.oidc import keys
from tempstack.servers.oidc.app import create_app
from tempstack.servers.oidc.discovery import metadata
from tempstack.servers.oidc.models import AuthorizationCode, Store, Token, store_from_spec
from tempstack.spec.outside import OidcService

ISSUER = "http://127.0.0.1:5556"
SPEC = {
    "kind": "oidc",
    "clients": [
        {"id": "web", "redirect_uris": ["http://127.0.0.1:9/cb"], "scopes": ["openid", "email"]},
        {"id": "spa", "public": True, "redirect_uris": ["http://127.0.0.1:9/cb"]},
    ],
    "users": [
        {
            "subject": "alice",
            "password": "pw",
            "email": "alice@example.com",
            "name": "Alice",
            "claims": {"roles": ["admin"]},
        },
        {"subject": "bob", "password": "pw2", "email": "bob@example.com"},
    ],
}


def spec_json() -> dict[str, Any]:
    data = OidcService.model_validate(SPEC).model_dump(mode="json", by_alias=True)
    # the stack file rejects these; the server must not emit them even if they got through
    data["users"][0]["claims"].update({"iss": "forged", "sub": "mallory"})
    return data


@pytest.fixture
def store() -> Store:
    return store_from_spec(spec_json(), {"client:web": "web-secret"})


@pytest.fixture
def client(store: Store) -> FlaskClient:
    app = create_app(store, keys.generate(), ISSUER, 60, cookie="sso")
    return app.test_client()


def test_clients_from_the_spec(store: Store) -> None:
    web, spa = store.clients["web"], store.clients["spa"]
    assert web.check_client_secret("web-secret") and not web.check_client_secret("web-secre")
    assert web.check_endpoint_auth_method("client_secret_post", "token")
    assert not web.check_endpoint_auth_method("none", "token")
    # a public client has no secret to check and cannot use client_credentials
    assert spa.public and not spa.check_client_secret("")
    assert spa.check_endpoint_auth_method("none", "token")
    assert not spa.check_grant_type("client_credentials") and spa.check_grant_type("password")
    assert web.check_redirect_uri("http://127.0.0.1:9/cb")
    assert not web.check_redirect_uri("http://127.0.0.1:9/cb/x")
    assert web.get_allowed_scope(None) == "openid email"
    assert web.get_allowed_scope("email admin") == "email"
    assert web.default_scope(with_user=False) == ""


def test_claims_follow_scope_and_custom_claims_cannot_forge_protocol_ones(store: Store) -> None:
    alice = store.authenticate("alice@example.com", "pw")
    assert alice is not None and store.authenticate("alice", "pw") is alice
    assert store.authenticate("alice", "PW") is None and store.authenticate("carol", "pw") is None
    assert alice.userinfo("openid") == {"sub": "alice", "roles": ["admin"]}
    assert alice.userinfo("openid profile email") == {
        "sub": "alice",
        "preferred_username": "alice",
        "name": "Alice",
        "email": "alice@example.com",
        "email_verified": True,
        "roles": ["admin"],
    }


def test_a_code_is_redeemed_once_even_when_requests_race(store: Store) -> None:
    web, alice = store.clients["web"], store.users[0]
    code = AuthorizationCode("c1", web, alice, None, "openid", None, None, None, 0, None)
    store.add_code(code)
    assert store.nonce_used("web", "n") is False
    assert store.redeem_code("c1", store.clients["spa"]) is None  # wrong client: spent
    store.add_code(AuthorizationCode("c2", web, alice, None, "openid", "n", None, None, 0, None))
    assert store.nonce_used("web", "n")
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.redeem_code("c2", web)))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_refresh_tokens_are_spent_by_use_and_logout_revokes(store: Store) -> None:
    web, alice = store.clients["web"], store.users[0]
    session = store.open_session(alice)
    token = Token("at", web, alice, "openid", 60, refresh_token="rt", sid=session.sid)
    store.add_token(token)
    found = store.find("rt")
    assert found is not None and found.kind == "refresh_token" and found.active
    assert store.use_refresh("rt") is token
    assert store.use_refresh("rt") is None
    assert store.session(session.sid) is session
    assert store.end_sessions([session.sid, "unknown"]) == 1
    assert store.session(session.sid) is None and token.is_revoked()


def test_discovery_document_is_valid_provider_metadata(store: Store) -> None:
    doc = metadata(ISSUER, store)
    OpenIDProviderMetadata(doc).validate(metadata_classes=[LogoutMetadata])
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    ]
    assert "roles" in doc["claims_supported"] and doc["claims_supported"].count("iss") == 1


def test_login_page_escapes_what_it_echoes(client: FlaskClient) -> None:
    url = "/authorize?response_type=code&client_id=web&redirect_uri=http://127.0.0.1:9/cb"
    page = client.get(url)
    assert page.status_code == 200 and b'<label for="username">Username</label>' in page.data
    failed = client.post(url, data={"username": '"><script>x</script>', "password": "no"})
    assert b"Invalid username or password." in failed.data
    assert b"<script>x" not in failed.data and b"&lt;script&gt;x" in failed.data
    signed_in = client.post(url, data={"username": "bob", "password": "pw2"})
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"].startswith("http://127.0.0.1:9/cb?code=")
    cookie = signed_in.headers["Set-Cookie"]
    assert cookie.startswith("sso=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_server_answers_health_then_exits_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    port = free_port()
    config = {
        "service": "sso",
        "run_id": "unit",
        "host": "127.0.0.1",
        "port": port,
        "secrets": {"client:web": "web-secret"},
        "exports": {"issuer": f"http://127.0.0.1:{port}"},
        "workdir": str(tmp_path),
        "spec": spec_json(),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tempstack.servers.oidc", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()  # printed once the socket is bound
        assert first.startswith(f"oidc: issuer http://127.0.0.1:{port}"), first
        health = httpx.get(f"http://127.0.0.1:{port}/__tempstack/health")
        assert health.status_code == 200
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert b"oidc: stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_token_endpoint_works_behind_a_host_name(client: FlaskClient) -> None:
    """authlib refuses plain HTTP for non-loopback hosts; a proxy or /etc/hosts alias is fine."""
    answer = client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": "pw", "scope": "openid"},
        headers={"Host": "sso.test"},
        auth=("web", "web-secret"),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["token_type"].lower() == "bearer"
