"""Prices are integer cents in euros everywhere; this is the one place they become text."""

from __future__ import annotations

CURRENCY = "eur"


def money(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"
