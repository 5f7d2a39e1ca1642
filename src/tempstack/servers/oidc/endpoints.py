"""The endpoints besides /authorize and /token: userinfo, revocation, introspection and
RP-initiated logout, each an authlib endpoint backed by the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6750 import BearerTokenValidator  # type: ignore[import-untyped]
from authlib.oauth2.rfc7009 import RevocationEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc7662 import IntrospectionEndpoint  # type: ignore[import-untyped]
from authlib.oidc.core import UserInfoEndpoint  # type: ignore[import-untyped]
from authlib.oidc.rpinitiated import EndSessionEndpoint  # type: ignore[import-untyped]
from joserfc.jwk import KeySet

from tempstack.servers.oidc.grants import SECRET_AUTH, USER_GRANT_AUTH
from tempstack.servers.oidc.keys import ALGORITHM, SigningKeys
from tempstack.servers.oidc.models import Client, Found, Store, Token, User


class BearerTokens(BearerTokenValidator):  # type: ignore[misc]
    """Bearer tokens are looked up, not just verified, so revocation and logout count."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.store.access(token_string)


class UserInfo(UserInfoEndpoint):  # type: ignore[misc]
    def __init__(self, issuer: str, keys: SigningKeys, resource_protector: Any) -> None:
        super().__init__(resource_protector=resource_protector)
        self.issuer = issuer
        self.keys = keys

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return user.userinfo(scope)  # the same claims as the ID token

    def get_issuer(self) -> str:
        return self.issuer

    def resolve_private_key(self) -> KeySet:
        return self.keys.private


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = USER_GRANT_AUTH

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        return self.store.find(token_string, token_type_hint)

    def revoke_token(self, token: Found, request: Any) -> None:
        self.store.revoke(token)
        print(f"revoked: {token.kind} of {token.token.client.client_id}")


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for resource servers; any confidential client of this provider may ask."""

    CLIENT_AUTH_METHODS = SECRET_AUTH

    def __init__(self, issuer: str, store: Store) -> None:
        super().__init__()
        self.issuer = issuer
        self.store = store

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        return self.store.find(token_string, token_type_hint)

    def check_permission(self, token: Found, client: Client, request: Any) -> bool:
        return True

    def create_introspection_payload(self, token: Found | None) -> dict[str, Any]:
        if token is None or not token.active:
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: Found) -> dict[str, Any]:
        t = token.token
        out: dict[str, Any] = {
            "active": True,
            "client_id": t.client.client_id,
            "scope": t.scope,
            "iss": self.issuer,
            "aud": t.client.client_id,
            "iat": t.issued_at,
            "sub": t.user.subject if t.user else t.client.client_id,
        }
        if t.user is not None:
            out["username"] = t.user.subject
        if token.kind == "access_token":
            out["token_type"] = "Bearer"
            out["exp"] = t.issued_at + t.expires_in
        return out


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """OpenID Connect RP-Initiated Logout: ends the browser's session and the one named by
    the ID token's ``sid``, and revokes the tokens issued under them."""

    def __init__(self, keys: SigningKeys, store: Store, browser_sid: Callable[[], str | None]):
        super().__init__()
        self.keys = keys
        self.store = store
        self.browser_sid = browser_sid

    def get_server_jwks(self) -> KeySet:
        return self.keys.public

    def get_algorithms(self) -> list[str]:
        return [ALGORITHM]

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Client, logout_hint: Any
    ) -> bool:
        # Without an id_token_hint the user confirms on our page, which POSTs back here.
        return bool(request.method == "POST")

    def end_session(self, end_session_request: Any) -> None:
        sids = {self.browser_sid()}
        claims = end_session_request.id_token_claims or {}
        sids.add(claims.get("sid"))
        ended = self.store.end_sessions(s for s in sids if s)
        print(f"sign-out: {ended} session(s) ended")
