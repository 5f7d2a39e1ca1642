"""Everything the app holds for its lifetime: clients, pools and the order workflow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shop.auth import OidcClient
from shop.catalog import Catalog
from shop.config import Settings
from shop.db import async_engine, session_factory
from shop.mailer import Mailer
from shop.orders import Orders
from shop.payments import Payments
from shop.sessions import SessionStore
from shop.storage import ImageStore


@dataclass
class Shop:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    session_store: SessionStore
    oidc: OidcClient
    catalog: Catalog
    images: ImageStore
    orders: Orders

    @classmethod
    async def start(cls, settings: Settings) -> Shop:
        engine = async_engine(settings.database_url)
        sessions = session_factory(engine)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        http = httpx.AsyncClient(timeout=10.0)
        # creating a boto3 client reads its service model from disk: keep it off the loop
        images = await asyncio.to_thread(ImageStore, settings.bucket)
        mailer = Mailer(
            settings.smtp_host, settings.smtp_port, settings.mail_from, settings.base_url
        )
        payments = Payments(settings.payments_url, settings.payments_api_key, http)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            http=http,
            session_store=SessionStore(redis, secure=settings.secure_cookies),
            oidc=OidcClient(
                settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret, http
            ),
            catalog=Catalog(sessions, redis),
            images=images,
            orders=Orders(sessions, redis, images, mailer, payments, settings.fulfilment_step),
        )

    async def check(self) -> None:
        """Raises unless the database and Redis answer (the readiness probe)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await self.redis.ping()

    async def close(self) -> None:
        await self.orders.close()
        await self.http.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
