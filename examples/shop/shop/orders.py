"""Placing an order and moving it along: pending -> paid (or payment failed) -> packed ->
shipped. Every change is a row in ``order_events`` and a message on Redis pub/sub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop import events
from shop.auth import User
from shop.mailer import Mailer
from shop.models import Order, OrderEvent, Product, Status
from shop.money import money
from shop.payments import Payments
from shop.storage import ImageStore

log = logging.getLogger("shop.orders")

MAX_QUANTITY = 20
#: what the fulfilment task does after payment, one step at a time
FULFILMENT = (
    (Status.PACKED, "Packed at the warehouse."),
    (Status.SHIPPED, "Handed to the carrier."),
)


class OrderError(ValueError):
    """The order cannot be placed as asked; the message is safe to show."""


def card_digits(card_number: str) -> str:
    """The card number's digits, checked with the Luhn checksum that every card number has."""
    digits = "".join(c for c in card_number if c.isdigit())
    if len(digits) < 12 or len(digits) > 19 or any(c not in "0123456789 -" for c in card_number):
        raise OrderError("Enter a card number of 12 to 19 digits.")
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    if total % 10:
        raise OrderError("This card number is not valid; check it for typos.")
    return digits


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status.value,
        "status_label": order.status.label,
        "product": {"id": order.product.id, "sku": order.product.sku, "name": order.product.name},
        "quantity": order.quantity,
        "total_cents": order.total_cents,
        "total": money(order.total_cents),
        "card_last4": order.card_last4,
        "payment_id": order.payment_id,
        "payment_error": order.payment_error,
        "image_key": order.image_key,
        "image_url": f"/orders/{order.id}/image" if order.image_key else None,
        "created_at": order.created_at.isoformat(),
    }


async def get_order(db: AsyncSession, order_id: int, user: User) -> Order | None:
    """The order if it belongs to ``user``: someone else's order does not exist for them."""
    return await db.scalar(
        select(Order).where(Order.id == order_id, Order.customer_sub == user.sub)
    )


async def list_orders(db: AsyncSession, user: User, limit: int = 50) -> Sequence[Order]:
    rows = await db.scalars(
        select(Order).where(Order.customer_sub == user.sub).order_by(Order.id.desc()).limit(limit)
    )
    return rows.all()


async def history(db: AsyncSession, order_id: int) -> Sequence[OrderEvent]:
    rows = await db.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return rows.all()


class Orders:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        images: ImageStore,
        mailer: Mailer,
        payments: Payments,
        step: float,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.images = images
        self.mailer = mailer
        self.payments = payments
        self.step = step
        self._tasks: set[asyncio.Task[None]] = set()

    async def place(
        self, user: User, product_id: int, quantity: int, card_number: str, image: bytes | None
    ) -> int:
        """Create the order, store its image, charge the card; returns the order id.

        A refused payment is not an error here: the order exists, with status
        ``payment_failed`` and the provider's message.
        """
        card = card_digits(card_number)
        if not 1 <= quantity <= MAX_QUANTITY:
            raise OrderError(f"Order between 1 and {MAX_QUANTITY} items.")
        async with self.sessions() as db:
            product = await db.get(Product, product_id)
        if product is None:
            raise OrderError(f"There is no product {product_id}.")
        image_key = image_type = None
        if image:
            image_key, image_type = await self.images.put(image)

        order = Order(
            customer_sub=user.sub,
            customer_email=user.email,
            customer_name=user.name,
            product_id=product.id,
            quantity=quantity,
            total_cents=product.price_cents * quantity,
            status=Status.PENDING,
            card_last4=card[-4:],
            image_key=image_key,
            image_type=image_type,
        )
        async with self.sessions() as db:
            db.add(order)
            await db.flush()
            received = OrderEvent(
                order_id=order.id, status=Status.PENDING, message="Order received."
            )
            db.add(received)
            await db.commit()
        await events.publish(self.redis, received)

        charge = await self.payments.charge(
            order_id=order.id,
            amount_cents=order.total_cents,
            card_number=card,
            description=f"Tempstack Shop order #{order.id}",
        )
        if not charge.ok:
            error = charge.error or "The payment failed."
            log.info("order %s: payment failed: %s", order.id, error)
            await self.advance(order.id, Status.PAYMENT_FAILED, error, payment_error=error)
            return order.id
        await self.advance(
            order.id,
            Status.PAID,
            f"Payment of {money(order.total_cents)} received ({charge.charge_id}).",
            payment_id=charge.charge_id,
        )
        if user.email:
            await self._confirm(order, product, user)
        self._fulfil(order.id, Status.PAID)
        return order.id

    async def attach_image(self, order: Order, data: bytes) -> Order:
        key, content_type = await self.images.put(data)
        async with self.sessions() as db:
            await db.execute(
                update(Order)
                .where(Order.id == order.id)
                .values(image_key=key, image_type=content_type)
            )
            await db.commit()
        if order.image_key:
            await self.images.delete(order.image_key)
        order.image_key, order.image_type = key, content_type
        return order

    async def advance(self, order_id: int, status: Status, message: str, **fields: Any) -> None:
        async with self.sessions() as db:
            await db.execute(
                update(Order).where(Order.id == order_id).values(status=status, **fields)
            )
            event = OrderEvent(order_id=order_id, status=status, message=message)
            db.add(event)
            await db.commit()
        log.info("order %s: %s", order_id, status.value)
        await events.publish(self.redis, event)

    async def _confirm(self, order: Order, product: Product, user: User) -> None:
        assert user.email is not None
        msg = self.mailer.confirmation(
            order_id=order.id,
            to=user.email,
            name=user.name,
            product=product.name,
            quantity=order.quantity,
            total=order.total_cents,
        )
        try:
            await self.mailer.send(msg)
        except OSError:  # the order stands; the customer can still follow it on the site
            log.exception("order %s: the confirmation email could not be sent", order.id)

    def _fulfil(self, order_id: int, current: Status) -> None:
        task = asyncio.create_task(self._ship(order_id, current), name=f"fulfil order {order_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ship(self, order_id: int, current: Status) -> None:
        remaining = FULFILMENT[1:] if current == Status.PACKED else FULFILMENT
        try:
            for status, message in remaining:
                await asyncio.sleep(self.step)
                await self.advance(order_id, status, message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("order %s: fulfilment stopped", order_id)

    async def resume(self) -> None:
        """Pick up the orders a previous process left half-way (paid or packed)."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(Order.id, Order.status).where(Order.status.in_([Status.PAID, Status.PACKED]))
            )
            for order_id, status in rows:
                self._fulfil(order_id, status)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
