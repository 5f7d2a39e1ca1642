"""Server-side sessions: a random id in a cookie, the data as JSON in Redis.

Nothing but the id reaches the browser, so a session can be ended for good (logout deletes
the key) and holds the ID token and PKCE verifier without signing or encrypting the cookie.
The cookie is ``HttpOnly`` and ``SameSite=Lax``: other sites cannot read it, nor make the
browser send it with their POSTs, which is what protects the shop's forms from CSRF.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "shop_session"
TTL = 8 * 3600  # seconds of inactivity before a session is forgotten
_PREFIX = "shop:session:"


@dataclass
class Session:
    id: str | None  # None until first saved
    data: dict[str, Any] = field(default_factory=dict)


class SessionStore:
    def __init__(self, redis: Redis, secure: bool) -> None:
        self.redis = redis
        self.secure = secure

    async def load(self, request: Request) -> Session:
        sid = request.cookies.get(COOKIE)
        if not sid:
            return Session(None)
        raw = await self.redis.get(_PREFIX + sid)
        if raw is None:  # expired or logged out: start afresh under a new id
            return Session(None)
        return Session(sid, json.loads(raw))

    async def save(self, response: Response, session: Session, *, rotate: bool = False) -> None:
        """Store the data and set the cookie; ``rotate`` moves it to a new id (do so on
        login, so an id planted in the browser before login is worthless after it)."""
        if rotate and session.id is not None:
            await self.redis.delete(_PREFIX + session.id)
            session.id = None
        if session.id is None:
            session.id = secrets.token_urlsafe(32)
        await self.redis.set(_PREFIX + session.id, json.dumps(session.data), ex=TTL)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=TTL,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )

    async def end(self, response: Response, session: Session) -> None:
        if session.id is not None:
            await self.redis.delete(_PREFIX + session.id)
        session.id, session.data = None, {}
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=self.secure)
