"""Order status events: stored as ``order_events`` rows, announced on Redis pub/sub.

A follower subscribes first and reads the stored events second, so an event committed in
between is seen twice at worst (and dropped by id), never missed. Every app process can
serve any order's stream, whichever process moved the order along.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.models import Order, OrderEvent

Event = dict[str, Any]


def channel(order_id: int) -> str:
    return f"shop:order:{order_id}:events"


async def publish(redis: Redis, event: OrderEvent) -> None:
    await redis.publish(channel(event.order_id), json.dumps(event.as_dict()))


async def follow(
    redis: Redis, sessions: async_sessionmaker[AsyncSession], order_id: int, after: int = 0
) -> AsyncIterator[Event]:
    """The order's events with ids above ``after``, stored ones then live ones, ending
    with the first final one (shipped, payment failed)."""
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(channel(order_id))
        async with sessions() as db:
            # the status first: if it is final already, its event is among those read next
            status = await db.scalar(select(Order.status).where(Order.id == order_id))
            stored = await db.scalars(
                select(OrderEvent)
                .where(OrderEvent.order_id == order_id, OrderEvent.id > after)
                .order_by(OrderEvent.id)
            )
            backlog = [e.as_dict() for e in stored]
        last = after
        for event in backlog:
            yield event
            last = event["id"]
            if event["final"]:
                return
        if status is None or status.final:
            return
        async for message in pubsub.listen():
            event = json.loads(message["data"])
            if event["id"] <= last:
                continue
            yield event
            last = event["id"]
            if event["final"]:
                return
