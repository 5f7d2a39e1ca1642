"""The JSON API under /api (OpenAPI docs at /api/docs).

Reading the catalogue is public. Everything about orders needs a user: the browser
session, or ``Authorization: Bearer <access token>`` from the shop's OIDC provider (any
grant; scripts and tests use the password grant). Order status events and images are
served at ``/orders/{id}/events`` and ``/orders/{id}/image``, for both kinds of caller.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shop.catalog import ProductData
from shop.deps import ApiUser, ShopDep
from shop.orders import MAX_QUANTITY, OrderError, get_order, list_orders, order_json
from shop.storage import MAX_IMAGE_BYTES, ImageError

router = APIRouter(prefix="/api", tags=["api"])


class NewOrder(BaseModel):
    product_id: int
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] = 1
    card_number: Annotated[str, Field(min_length=12, max_length=23)]


@router.get("/products")
async def products(shop: ShopDep) -> list[ProductData]:
    return await shop.catalog.products()


@router.get("/products/{product_id}")
async def product(shop: ShopDep, product_id: int) -> ProductData:
    found = await shop.catalog.product(product_id)
    if found is None:
        raise HTTPException(404, f"There is no product {product_id}.")
    return found


@router.get("/me")
async def me(user: ApiUser) -> dict[str, str | None]:
    return user.as_dict()


@router.get("/orders")
async def orders(shop: ShopDep, user: ApiUser) -> list[dict[str, Any]]:
    async with shop.sessions() as db:
        return [order_json(o) for o in await list_orders(db, user)]


@router.post(
    "/orders",
    status_code=201,
    responses={402: {"description": "The order was created, but its payment failed"}},
)
async def create_order(shop: ShopDep, user: ApiUser, new: NewOrder) -> JSONResponse:
    """Places and pays an order: 201 when paid, 402 (with the order, whose
    ``payment_error`` says why) when the payment failed."""
    try:
        order_id = await shop.orders.place(
            user, new.product_id, new.quantity, new.card_number, image=None
        )
    except OrderError as exc:
        raise HTTPException(422, str(exc)) from exc
    async with shop.sessions() as db:
        order = await get_order(db, order_id, user)
    assert order is not None
    body = order_json(order)
    return JSONResponse(
        body,
        status_code=402 if order.payment_error else 201,
        headers={"Location": f"/api/orders/{order_id}"},
    )


@router.get("/orders/{order_id}")
async def order(shop: ShopDep, user: ApiUser, order_id: int) -> dict[str, Any]:
    async with shop.sessions() as db:
        found = await get_order(db, order_id, user)
    if found is None:
        raise HTTPException(404, f"You have no order #{order_id}.")
    return order_json(found)


@router.put(
    "/orders/{order_id}/image",
    max_body_size=MAX_IMAGE_BYTES,
    openapi_extra={
        "requestBody": {"content": {"image/png": {}, "image/jpeg": {}, "image/gif": {}}}
    },
)
async def put_image(
    request: Request, shop: ShopDep, user: ApiUser, order_id: int
) -> dict[str, Any]:
    """Attach an image (the raw bytes as the body) to an order, replacing any earlier one.
    The type is taken from the bytes themselves, whatever ``Content-Type`` says."""
    async with shop.sessions() as db:
        found = await get_order(db, order_id, user)
    if found is None:
        raise HTTPException(404, f"You have no order #{order_id}.")
    try:
        updated = await shop.orders.attach_image(found, await request.body())
    except ImageError as exc:
        raise HTTPException(415, str(exc)) from exc
    return order_json(updated)
