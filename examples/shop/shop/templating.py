"""Jinja2 templates (autoescaped) with the shop's filters."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from shop.money import money

HERE = Path(__file__).parent

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = money
