"""Request dependencies: the app's state, the session and who is asking.

Two ways to be someone: the browser session (set by the OIDC login) or an
``Authorization: Bearer`` access token from the same provider (for API clients, e.g. from
its password grant). Pages send anonymous visitors to the login; the API answers 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from shop.auth import AuthError, User
from shop.runtime import Shop
from shop.sessions import Session

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shop"'}


class LoginRequired(Exception):
    """Raised by pages for anonymous visitors; the app answers with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


ShopDep = Annotated[Shop, Depends(get_shop)]


async def get_session(request: Request, shop: ShopDep) -> Session:
    return await shop.session_store.load(request)


SessionDep = Annotated[Session, Depends(get_session)]


async def current_user(request: Request, shop: ShopDep, session: SessionDep) -> User | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            return await shop.oidc.user_for_token(token.strip())
        except AuthError as exc:  # a bad token is refused, never treated as anonymous
            raise HTTPException(401, str(exc), headers=BEARER_CHALLENGE) from exc
    data = session.data.get("user")
    return User(**data) if data else None


OptionalUser = Annotated[User | None, Depends(current_user)]


async def page_user(request: Request, user: OptionalUser) -> User:
    if user is None:
        raise LoginRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return user


async def api_user(user: OptionalUser) -> User:
    if user is None:
        raise HTTPException(
            401,
            "Log in first, or send an access token from the shop's OIDC provider "
            "(Authorization: Bearer ...).",
            headers=BEARER_CHALLENGE,
        )
    return user


PageUser = Annotated[User, Depends(page_user)]
ApiUser = Annotated[User, Depends(api_user)]
