"""The shop's tables: products (seeded), orders and each order's status history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Status(StrEnum):
    """An order's life: paid orders are packed and shipped by the fulfilment task."""

    PENDING = "pending"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    PACKED = "packed"
    SHIPPED = "shipped"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def final(self) -> bool:
        return self in (Status.SHIPPED, Status.PAYMENT_FAILED)


#: stored as its value in a VARCHAR (no native enum type: new states need no migration)
STATUS = Enum(Status, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    price_cents: Mapped[int]


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the OIDC subject of the customer; the shop keeps no user table of its own
    customer_sub: Mapped[str] = mapped_column(String(255), index=True)
    customer_email: Mapped[str | None] = mapped_column(String(255))
    customer_name: Mapped[str | None] = mapped_column(String(255))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    total_cents: Mapped[int]
    status: Mapped[Status] = mapped_column(STATUS)
    card_last4: Mapped[str] = mapped_column(String(4))
    payment_id: Mapped[str | None] = mapped_column(String(100))
    payment_error: Mapped[str | None] = mapped_column(Text)
    image_key: Mapped[str | None] = mapped_column(String(255))
    image_type: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)


class OrderEvent(Base):
    """One status change; the SSE stream replays these and their ids are its event ids."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[Status] = mapped_column(STATUS)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        status = self.status
        return {
            "id": self.id,
            "order_id": self.order_id,
            "status": status.value,
            "label": status.label,
            "message": self.message,
            "final": status.final,
            "at": self.created_at.isoformat(),
        }
