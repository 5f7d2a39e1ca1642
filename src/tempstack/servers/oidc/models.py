"""Clients, users, codes, tokens and sessions, held in memory for one run.

The classes implement the duck-typed interfaces authlib calls (``ClientMixin``,
``AuthorizationCodeMixin``, ``TokenMixin``) without inheriting from them, so they stay
plain typed dataclasses. ``Store`` owns all mutable state behind one lock: the server is
threaded, and a code or refresh token must be redeemable exactly once even when two
requests race for it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tempstack.spec.outside import RESERVED_CLAIMS  # never emitted from user claims

#: Scopes that describe a signed-in user; meaningless for the client_credentials grant.
IDENTITY_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
CODE_TTL = 600.0  # seconds an authorization code stays redeemable (RFC 6749 suggests 10 min)
SESSION_ID_BYTES = 24


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def split_scope(scope: str | None) -> list[str]:
    return scope.split() if scope else []


@dataclass(frozen=True)
class User:
    subject: str
    password: str
    email: str | None = None
    name: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.subject

    def check_password(self, password: str) -> bool:
        return _same(self.password, password)

    def custom_claims(self) -> dict[str, Any]:
        return {k: v for k, v in self.claims.items() if k not in RESERVED_CLAIMS}

    def userinfo(self, scope: str | None) -> dict[str, Any]:
        """The claims this user discloses for ``scope``: the same set in ID tokens and userinfo.

        Standard claims follow their scope (``profile``: name, preferred_username;
        ``email``: email, email_verified); the custom claims from the stack file are always
        included, since whoever wrote them there wants the application to see them.
        """
        scopes = set(split_scope(scope))
        out: dict[str, Any] = {"sub": self.subject}
        if "profile" in scopes:
            out["preferred_username"] = self.subject
            if self.name is not None:
                out["name"] = self.name
        if "email" in scopes and self.email is not None:
            out["email"] = self.email
            out["email_verified"] = True
        out.update(self.custom_claims())
        return out


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None  # None for a public client
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: tuple[str, ...]

    @property
    def public(self) -> bool:
        return self.secret is None

    @property
    def client_metadata(self) -> dict[str, Any]:
        """Registration metadata as authlib's userinfo and end-session endpoints read it."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # With several registered URIs the request must name one (RFC 6749 section 3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def default_scope(self, with_user: bool) -> str:
        """What a request that names no scope gets: everything the client may ask for,
        minus the identity scopes when no user is involved."""
        scopes = self.scopes if with_user else [s for s in self.scopes if s not in IDENTITY_SCOPES]
        return " ".join(scopes)

    def get_allowed_scope(self, scope: str | None) -> str:
        if scope is None:
            return self.default_scope(with_user=True)
        return " ".join(s for s in split_scope(scope) if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and _same(self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Session:
    """A browser's signed-in state; its id is the cookie value and the ``sid`` claim."""

    sid: str
    user: User
    auth_time: int


@dataclass
class AuthorizationCode:
    code: str
    client: Client
    user: User
    redirect_uri: str | None
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str | None
    issued_at: float = field(default_factory=time.time)
    used: bool = False

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + CODE_TTL


@dataclass
class Token:
    """One token response: the access token and, maybe, its refresh token."""

    access_token: str
    client: Client
    user: User | None
    scope: str
    expires_in: int
    refresh_token: str | None = None
    sid: str | None = None
    auth_time: int | None = None
    issued_at: int = field(default_factory=lambda: int(time.time()))
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> User | None:
        return self.user

    def get_client(self) -> Client:
        return self.client


TokenKind = Literal["access_token", "refresh_token"]


@dataclass(frozen=True)
class Found:
    """A token looked up by its string, remembering which of the pair it was."""

    token: Token
    kind: TokenKind

    def check_client(self, client: Client) -> bool:
        return self.token.check_client(client)

    @property
    def active(self) -> bool:
        if self.kind == "refresh_token":
            return not self.token.refresh_revoked
        return not (self.token.access_revoked or self.token.is_expired())


class Store:
    """All state of one provider. Every method takes the lock; none hands out a live
    collection."""

    def __init__(self, clients: Iterable[Client], users: Iterable[User]) -> None:
        self._lock = threading.Lock()
        self.clients = {c.client_id: c for c in clients}
        self.users = list(users)
        self._logins: dict[str, User] = {}
        for user in self.users:
            self._logins[user.subject] = user
        for user in self.users:  # a subject wins over someone else's identical email
            if user.email:
                self._logins.setdefault(user.email, user)
        self._codes: dict[str, AuthorizationCode] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._access: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._sessions: dict[str, Session] = {}

    # users and clients are fixed for the run: no lock needed to read them
    def client(self, client_id: str | None) -> Client | None:
        return self.clients.get(client_id) if client_id else None

    def authenticate(self, login: str, password: str) -> User | None:
        """The user whose subject or email is ``login``, if the password matches."""
        user = self._logins.get(login.strip())
        return user if user is not None and user.check_password(password) else None

    # authorization codes
    def add_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code
            if code.nonce:
                self._nonces.add((code.client.client_id, code.nonce))

    def redeem_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code if it is live and was issued to ``client``; it is spent either way."""
        with self._lock:
            item = self._codes.get(code)
            if item is None or item.used or item.is_expired():
                return None
            item.used = True
            return item if item.client.client_id == client.client_id else None

    def delete_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes.pop(code.code, None)

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return (client_id, nonce) in self._nonces

    # tokens
    def add_token(self, token: Token) -> None:
        with self._lock:
            self._access[token.access_token] = token
            if token.refresh_token:
                self._refresh[token.refresh_token] = token

    def find(self, value: str, hint: str | None = None) -> Found | None:
        with self._lock:
            order: tuple[TokenKind, ...] = (
                ("refresh_token", "access_token")
                if hint == "refresh_token"
                else ("access_token", "refresh_token")
            )
            for kind in order:
                table = self._access if kind == "access_token" else self._refresh
                if (token := table.get(value)) is not None:
                    return Found(token, kind)
            return None

    def access(self, value: str) -> Token | None:
        with self._lock:
            return self._access.get(value)

    def use_refresh(self, value: str) -> Token | None:
        """The token behind a live refresh token, which is spent by this call: of two
        requests racing with one refresh token, only one gets new tokens."""
        with self._lock:
            token = self._refresh.get(value)
            if token is None or token.refresh_revoked:
                return None
            token.refresh_revoked = True
            return token

    def revoke(self, found: Found) -> None:
        """Revoking a refresh token also revokes its access token (RFC 7009 section 2.1)."""
        with self._lock:
            found.token.access_revoked = True
            if found.kind == "refresh_token":
                found.token.refresh_revoked = True

    # browser sessions
    def open_session(self, user: User) -> Session:
        session = Session(secrets.token_urlsafe(SESSION_ID_BYTES), user, int(time.time()))
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            return self._sessions.get(sid)

    def end_sessions(self, sids: Iterable[str]) -> int:
        """End these sessions and revoke every token issued under them; how many ended."""
        wanted = set(sids)
        with self._lock:
            ended = sum(self._sessions.pop(sid, None) is not None for sid in wanted)
            for token in self._access.values():
                if token.sid in wanted:
                    token.access_revoked = token.refresh_revoked = True
            return ended


def store_from_spec(spec: Mapping[str, Any], client_secrets: Mapping[str, str]) -> Store:
    """The store for an ``OidcService`` spec (dumped as JSON) and the run's secrets.

    A confidential client's secret is ``client_secrets["client:<id>"]``: the one from the
    stack file or one generated for this run by the kind.
    """
    clients = []
    for c in spec["clients"]:
        public = bool(c.get("public"))
        grants = set(c["grant_types"])
        if public:  # a public client cannot authenticate, so it has no grant of its own
            grants.discard("client_credentials")
        clients.append(
            Client(
                client_id=c["id"],
                secret=None if public else client_secrets[f"client:{c['id']}"],
                redirect_uris=tuple(c["redirect_uris"]),
                post_logout_redirect_uris=tuple(c.get("post_logout_redirect_uris", ())),
                grant_types=frozenset(grants),
                scopes=tuple(c["scopes"]),
            )
        )
    users = [
        User(
            subject=u["subject"],
            password=u["password"],
            email=u.get("email"),
            name=u.get("name"),
            claims=dict(u.get("claims") or {}),
        )
        for u in spec.get("users", [])
    ]
    return Store(clients, users)
