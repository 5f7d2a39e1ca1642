"""The ``seed`` job: the catalogue, with fixed ids and SKUs that tests and links rely on.

Idempotent (an upsert), so it can run against a database that was seeded before.
Run as ``python -m shop.seed`` with ``DATABASE_URL`` set.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from shop.db import sync_engine
from shop.models import Product

PRODUCTS = [
    {
        "id": 1,
        "sku": "MUG-001",
        "name": "Tempstack Mug",
        "description": "A stoneware mug that is washed and put away after every test run.",
        "price_cents": 1200,
    },
    {
        "id": 2,
        "sku": "TEA-418",
        "name": "Teapot 418",
        "description": "Short and stout. Refuses to brew coffee.",
        "price_cents": 4180,
    },
    {
        "id": 3,
        "sku": "TEE-200",
        "name": "200 OK T-shirt",
        "description": "Organic cotton, everything went fine.",
        "price_cents": 2500,
    },
    {
        "id": 4,
        "sku": "STK-404",
        "name": "Sticker pack (404 not found)",
        "description": "Ten stickers. You will lose one immediately.",
        "price_cents": 450,
    },
]


def main() -> None:
    engine = sync_engine(os.environ["DATABASE_URL"])
    stmt = insert(Product).values(PRODUCTS)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Product.id],
        set_={c: stmt.excluded[c] for c in ("sku", "name", "description", "price_cents")},
    )
    with engine.begin() as conn:
        conn.execute(stmt)
        # explicit ids leave the sequence behind; keep it past them for future inserts
        top = conn.execute(select(func.max(Product.id))).scalar_one()
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('products', 'id'), :n)"), {"n": top}
        )
    engine.dispose()
    print(f"seeded {len(PRODUCTS)} products")


if __name__ == "__main__":
    main()
