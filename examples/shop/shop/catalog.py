"""The product catalogue, cached in Redis: it is read on every page and API call and only
changes when the seed job runs (which happens before the app starts)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.models import Product
from shop.money import CURRENCY, money

CACHE_KEY = "shop:cache:products:v1"
CACHE_TTL = 60  # seconds

ProductData = dict[str, Any]


def product_json(product: Product) -> ProductData:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price_cents": product.price_cents,
        "price": money(product.price_cents),
        "currency": CURRENCY,
    }


class Catalog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> None:
        self.sessions = sessions
        self.redis = redis

    async def products(self) -> list[ProductData]:
        cached = await self.redis.get(CACHE_KEY)
        if cached is not None:
            items: list[ProductData] = json.loads(cached)
            return items
        async with self.sessions() as db:
            rows = await db.scalars(select(Product).order_by(Product.id))
            items = [product_json(p) for p in rows]
        await self.redis.set(CACHE_KEY, json.dumps(items), ex=CACHE_TTL)
        return items

    async def product(self, product_id: int) -> ProductData | None:
        return next((p for p in await self.products() if p["id"] == product_id), None)
