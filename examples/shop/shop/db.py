"""Database engines: async (psycopg 3) for the app, sync for Alembic and the seed job."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` (as tempstack and most platforms export it) with the psycopg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def async_engine(url: str) -> AsyncEngine:
    return create_async_engine(sqlalchemy_url(url), pool_size=10, max_overflow=5)


def sync_engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # objects stay readable after commit: views render them after the transaction ends
    return async_sessionmaker(engine, expire_on_commit=False)
