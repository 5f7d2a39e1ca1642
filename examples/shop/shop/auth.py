"""OpenID Connect, by hand with httpx and joserfc: the authorization code flow with PKCE for
browsers, JWT access tokens for the JSON API, and RP-initiated logout.

Everything is discovered from the issuer's ``/.well-known/openid-configuration``; tokens
are verified against the provider's JWKS (signature, issuer, audience, expiry, nonce).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256"]
SCOPE = "openid profile email"
LEEWAY = 30  # seconds of clock skew tolerated on exp/iat/nbf


class AuthError(Exception):
    """Sign-in or token verification failed; the message is safe to show."""


@dataclass(frozen=True)
class User:
    sub: str
    email: str | None
    name: str | None

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.sub

    def as_dict(self) -> dict[str, str | None]:
        return {"sub": self.sub, "email": self.email, "name": self.name}

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> User:
        return cls(sub=str(claims["sub"]), email=claims.get("email"), name=claims.get("name"))


@dataclass(frozen=True)
class LoginRequest:
    """What the callback needs to finish a login; kept in the server-side session."""

    url: str  # where to send the browser
    state: str
    nonce: str
    verifier: str


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, http: httpx.AsyncClient
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = 0.0
        #: userinfo of bearer tokens seen recently: token -> (user, expiry)
        self._profiles: dict[str, tuple[User, float]] = {}

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            response = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        # a refresh at most once a minute, however many tokens with unknown keys arrive
        stale = refresh and time.monotonic() - self._keys_fetched > 60
        if self._keys is None or stale:
            self._keys_fetched = time.monotonic()
            response = await self.http.get((await self.metadata())["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    async def start_login(self, redirect_uri: str) -> LoginRequest:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = _pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        url = f"{(await self.metadata())['authorization_endpoint']}?{query}"
        return LoginRequest(url=url, state=state, nonce=nonce, verifier=verifier)

    async def finish_login(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> tuple[User, str]:
        """Redeem the code; returns the user and the ID token (kept for logout)."""
        response = await self.http.post(
            (await self.metadata())["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        if response.status_code != 200:
            raise AuthError(f"the sign-in could not be completed ({_oauth_error(response)})")
        id_token = response.json().get("id_token")
        if not id_token:
            raise AuthError("the provider sent no ID token")
        claims = await self._verify(id_token, nonce=nonce)
        return User.from_claims(claims), id_token

    async def user_for_token(self, access_token: str) -> User:
        """The user behind a bearer token: a JWT access token issued to this client.

        The signature and claims are checked locally; the profile (email, name) comes from
        the userinfo endpoint once per token, which also notices a revoked token then.
        """
        now = time.time()
        cached = self._profiles.get(access_token)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = await self._verify(access_token)
        response = await self.http.get(
            (await self.metadata())["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code != 200:
            raise AuthError("the access token was refused by the provider")
        user = User.from_claims(response.json())
        if len(self._profiles) > 1000:  # tokens of a past load test or long-gone clients
            self._profiles = {k: v for k, v in self._profiles.items() if v[1] > now}
        self._profiles[access_token] = (user, float(claims["exp"]))
        return user

    async def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str:
        params = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:  # lets the provider skip its "really sign out?" page
            params["id_token_hint"] = id_token
        return f"{(await self.metadata())['end_session_endpoint']}?{urlencode(params)}"

    async def _verify(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a token signed by the provider, issued to this client, unexpired,
        and (for ID tokens) answering this login's nonce."""
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            try:
                decoded = jwt.decode(token, await self.keys(), algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                # signed with a key we have not seen: the provider may have rotated its keys
                decoded = jwt.decode(token, await self.keys(refresh=True), algorithms=ALGORITHMS)
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if nonce is not None and decoded.claims.get("nonce") != nonce:
            raise AuthError("the ID token was not issued for this sign-in (nonce mismatch)")
        return decoded.claims


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(body.get("error_description") or body.get("error") or response.status_code)
