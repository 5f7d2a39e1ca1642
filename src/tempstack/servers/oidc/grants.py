"""authlib grants and their extensions: who may get which token, and what is in it.

authlib ships the protocol (parameter checks, client authentication, PKCE, the token and
ID-token formats); these subclasses only plug in the in-memory store and the per-client
rules from the stack file: grant types, scopes, PKCE for public clients.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from authlib.oauth2.rfc6749 import grants  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator  # type: ignore[import-untyped]
from authlib.oidc.core import OpenIDCode, OpenIDToken  # type: ignore[import-untyped]
from joserfc.jwk import KeySet

from tempstack.servers.oidc.keys import ALGORITHM, SigningKeys
from tempstack.servers.oidc.models import (
    IDENTITY_SCOPES,
    AuthorizationCode,
    Client,
    Session,
    Store,
    Token,
    User,
    split_scope,
)

#: A public client authenticates with ``none``: its client_id alone (PKCE proves the rest).
USER_GRANT_AUTH = ["client_secret_basic", "client_secret_post", "none"]
SECRET_AUTH = ["client_secret_basic", "client_secret_post"]


def _store(grant: Any) -> Store:
    store: Store = grant.server.store
    return store


class _ClientScopes:
    """Refuses any scope the client was not given in the stack file (``invalid_scope``),
    rather than silently issuing a narrower token: a test should see its mistake."""

    request: Any

    def validate_requested_scope(self) -> None:
        client: Client = self.request.client
        refused = [s for s in split_scope(self.request.payload.scope) if s not in client.scopes]
        if refused:
            allowed = " ".join(client.scopes) or "none"
            raise InvalidScopeError(
                f"client {client.client_id} may not request scope {refused[0]}; "
                f"its scopes: {allowed}"
            )


class AuthorizationCodeGrant(_ClientScopes, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = USER_GRANT_AUTH
    #: the browser session that approved the request; set by the /authorize view
    session: Session | None = None

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        session = self.session
        _store(self).add_code(
            AuthorizationCode(
                code=code,
                client=request.client,
                user=request.user,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=session.auth_time if session else int(time.time()),
                sid=session.sid if session else None,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return _store(self).redeem_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        _store(self).delete_code(authorization_code)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
        return authorization_code.user


class RefreshTokenGrant(_ClientScopes, grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = USER_GRANT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate: each refresh token works once

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        return _store(self).use_refresh(refresh_token)

    def authenticate_user(self, refresh_token: Token) -> User | None:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        pass  # already spent when it was looked up (Store.use_refresh)


class PasswordGrant(_ClientScopes, grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = USER_GRANT_AUTH

    def authenticate_user(self, username: str, password: str) -> User:
        user = _store(self).authenticate(username, password)
        if user is None:  # RFC 6749 section 5.2: bad resource owner credentials
            print(f"password grant refused: wrong username or password for {username!r}")
            raise InvalidGrantError("wrong username or password")
        return user


class ClientCredentialsGrant(_ClientScopes, grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        if identity := [s for s in split_scope(self.request.payload.scope) if s in IDENTITY_SCOPES]:
            raise InvalidScopeError(
                f"scope {identity[0]} needs a signed-in user; client_credentials has none"
            )

    def generate_token(
        self,
        user: User | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if scope is None:
            scope = self.request.client.default_scope(with_user=False)
        token: dict[str, Any] = super().generate_token(
            user, scope, grant_type, expires_in, include_refresh_token
        )
        return token


class Pkce(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636): optional for confidential clients, required for public ones, and
    required at the authorization request already, so the error reaches the app at once
    instead of at the code exchange."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        client: Client = grant.request.client
        if client.public and not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError(
                f"client {client.client_id} is public and must use PKCE: "
                "send code_challenge and code_challenge_method=S256"
            )
        super().validate_code_challenge(grant, redirect_uri)


def _new_refresh_token(**_: Any) -> str:
    return secrets.token_urlsafe(36)


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 JWT access tokens (iss, sub, aud, exp, iat, jti, client_id, scope) signed
    with the run's key, so a resource server can verify them against ``/jwks`` alone. A
    user's custom claims ride along (roles, tenant: what APIs usually authorize on)."""

    def __init__(self, issuer: str, keys: SigningKeys, ttl: int) -> None:
        super().__init__(
            issuer,
            alg=ALGORITHM,
            refresh_token_generator=_new_refresh_token,
            expires_generator=ttl,
        )
        self._keys = keys

    def get_jwks(self) -> KeySet:
        return self._keys.private

    def get_extra_claims(
        self, client: Client, grant_type: str, user: User | None, scope: str
    ) -> dict[str, Any]:
        return user.custom_claims() if user is not None else {}

    def generate(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        # a refresh token only for clients allowed to use one
        refresh = include_refresh_token and client.check_grant_type("refresh_token")
        token: dict[str, Any] = super().generate(
            grant_type, client, user, scope, expires_in, refresh
        )
        return token


class IdTokens(OpenIDToken):  # type: ignore[misc]
    """Adds an ID token to a token response whose scope holds ``openid``: for the password
    and refresh grants as is, for the code grant through ``CodeIdTokens``."""

    def __init__(self, issuer: str, keys: SigningKeys, ttl: int) -> None:
        self.issuer = issuer
        self.keys = keys
        self.ttl = ttl

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return self.keys.private

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALGORITHM}  # joserfc adds the kid of the key it signs with

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.issuer, "aud": client.client_id, "exp": int(time.time()) + self.ttl}

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_compatible_claims(request)
        previous: Token | None = request.refresh_token
        if previous is not None:  # a refreshed ID token keeps the original sign-in
            if previous.auth_time is not None:
                claims["auth_time"] = previous.auth_time
            if previous.sid is not None:
                claims["sid"] = previous.sid
        return claims

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if authorization_code.sid is not None:
            claims["sid"] = authorization_code.sid
        return claims

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return user.userinfo(scope)


class CodeIdTokens(IdTokens, OpenIDCode):  # type: ignore[misc]
    """The code flow's OpenID extension: nonce replay check and ``prompt`` handling."""

    def __init__(self, issuer: str, keys: SigningKeys, ttl: int, store: Store) -> None:
        IdTokens.__init__(self, issuer, keys, ttl)
        OpenIDCode.__init__(self, require_nonce=False)
        self.store = store

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.store.nonce_used(request.payload.client_id, nonce)
