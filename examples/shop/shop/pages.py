"""The server-rendered pages: catalogue, login/logout, orders (form, list, live status)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from shop import events
from shop.auth import AuthError, User
from shop.deps import ApiUser, OptionalUser, PageUser, SessionDep, ShopDep
from shop.models import Order
from shop.orders import MAX_QUANTITY, OrderError, get_order, history, list_orders
from shop.storage import MAX_IMAGE_BYTES, ImageError
from shop.templating import templates

router = APIRouter(include_in_schema=False)


def _safe_next(url: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


def _page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/")
async def index(request: Request, shop: ShopDep, user: OptionalUser) -> HTMLResponse:
    products = await shop.catalog.products()
    return _page(request, "index.html", {"user": user, "products": products})


@router.get("/login")
async def login(shop: ShopDep, session: SessionDep, next: str | None = None) -> Response:
    start = await shop.oidc.start_login(f"{shop.settings.base_url}/auth/callback")
    session.data["login"] = {
        "state": start.state,
        "nonce": start.nonce,
        "verifier": start.verifier,
        "next": _safe_next(next),
    }
    response = RedirectResponse(start.url, status_code=303)
    await shop.session_store.save(response, session)
    return response


@router.get("/auth/callback")
async def auth_callback(
    request: Request,
    shop: ShopDep,
    session: SessionDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    pending = session.data.pop("login", None)
    problem = None
    if error:
        problem = f"The sign-in was refused: {error_description or error}."
    elif not pending or not code or state != pending["state"]:
        problem = "This sign-in was not started here or has expired."
    else:
        try:
            user, id_token = await shop.oidc.finish_login(
                code,
                f"{shop.settings.base_url}/auth/callback",
                pending["verifier"],
                pending["nonce"],
            )
        except AuthError as exc:
            problem = f"The sign-in failed: {exc}."
    if problem is not None:
        response: Response = _page(
            request, "error.html", {"title": "Sign-in failed", "message": problem}, 400
        )
        await shop.session_store.save(response, session)
        return response
    session.data = {"user": user.as_dict(), "id_token": id_token}
    response = RedirectResponse(pending["next"], status_code=303)
    await shop.session_store.save(response, session, rotate=True)
    return response


@router.post("/logout")
async def logout(shop: ShopDep, session: SessionDep) -> Response:
    """Ends the shop's session, then the provider's (which sends the browser back to /)."""
    home = f"{shop.settings.base_url}/"
    if "user" in session.data:
        target = await shop.oidc.logout_url(session.data.get("id_token"), home)
    else:
        target = home
    response = RedirectResponse(target, status_code=303)
    await shop.session_store.end(response, session)
    return response


@router.get("/orders")
async def orders_page(request: Request, shop: ShopDep, user: PageUser) -> HTMLResponse:
    async with shop.sessions() as db:
        orders = await list_orders(db, user)
    return _page(request, "orders.html", {"user": user, "orders": orders})


def _form_page(
    request: Request,
    user: User,
    products: list[dict[str, Any]],
    values: dict[str, Any],
    error: str | None = None,
) -> HTMLResponse:
    context = {
        "user": user,
        "products": products,
        "values": values,
        "error": error,
        "max_quantity": MAX_QUANTITY,
        "max_image_mb": MAX_IMAGE_BYTES // 1024 // 1024,
    }
    return _page(request, "order_new.html", context, 422 if error else 200)


@router.get("/orders/new")
async def new_order_page(
    request: Request, shop: ShopDep, user: PageUser, product: int = 1
) -> HTMLResponse:
    products = await shop.catalog.products()
    return _form_page(request, user, products, {"product_id": product, "quantity": 1})


@router.post("/orders", max_body_size=MAX_IMAGE_BYTES + 64 * 1024)
async def create_order(
    request: Request,
    shop: ShopDep,
    user: PageUser,
    product_id: Annotated[int, Form()],
    quantity: Annotated[int, Form()],
    card_number: Annotated[str, Form()],
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = await image.read(MAX_IMAGE_BYTES + 1) if image is not None else b""
    try:
        order_id = await shop.orders.place(user, product_id, quantity, card_number, data or None)
    except (OrderError, ImageError) as exc:
        products = await shop.catalog.products()
        values = {"product_id": product_id, "quantity": quantity, "card_number": card_number}
        return _form_page(request, user, products, values, str(exc))
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, shop: ShopDep, user: PageUser, order_id: int
) -> HTMLResponse:
    async with shop.sessions() as db:
        order = await get_order(db, order_id, user)
        if order is None:
            raise HTTPException(404, f"You have no order #{order_id}.")
        steps = await history(db, order_id)
    return _page(request, "order.html", {"user": user, "order": order, "history": steps})


async def _own_order(shop: ShopDep, user: ApiUser, order_id: int) -> Order:
    # a dependency, so a stranger's 404 is sent before a streaming response starts
    async with shop.sessions() as db:
        order = await get_order(db, order_id, user)
    if order is None:
        raise HTTPException(404, f"You have no order #{order_id}.")
    return order


OwnOrder = Annotated[Order, Depends(_own_order)]


@router.get("/orders/{order_id}/events", response_class=EventSourceResponse)
async def order_events(
    shop: ShopDep,
    order: OwnOrder,
    after: int = 0,
    last_event_id: Annotated[int, Header()] = 0,
) -> AsyncIterator[ServerSentEvent]:
    """The order's status changes as Server-Sent Events (``event: status``, JSON data, the
    event's id) up to the final one, then ``event: end``, after which the page stops
    listening. It starts after the event ``after`` (the page already shows those) or, when
    a browser reconnects, after the ``Last-Event-ID`` it sends."""
    start = max(after, last_event_id)
    async for event in events.follow(shop.redis, shop.sessions, order.id, start):
        yield ServerSentEvent(event="status", id=str(event["id"]), data=event)
    yield ServerSentEvent(event="end", data={"order_id": order.id})


@router.get("/orders/{order_id}/image")
async def order_image(shop: ShopDep, order: OwnOrder) -> Response:
    if not order.image_key:
        raise HTTPException(404, f"Order #{order.id} has no image.")
    data = await shop.images.get(order.image_key)
    return Response(
        data,
        media_type=order.image_type or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
