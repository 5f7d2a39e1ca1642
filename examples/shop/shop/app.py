"""The FastAPI application: ``uvicorn shop.app:app``. Configuration comes from the
environment (see ``shop.config``) and is read when the app starts, not on import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from shop import api, pages
from shop.config import Settings
from shop.deps import LoginRequired, ShopDep
from shop.runtime import Shop
from shop.templating import HERE, templates


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        shop = await Shop.start(settings or Settings.from_env())
        app.state.shop = shop
        await shop.orders.resume()
        try:
            yield
        finally:
            await shop.close()

    app = FastAPI(
        title="Tempstack Shop",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(shop: ShopDep) -> dict[str, str]:
        await shop.check()
        return {"status": "ok"}

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """JSON for the API and for scripts; a page for browsers."""
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith("/api/") or not wants_html:
            return await http_exception_handler(request, exc)
        context = {"title": f"Error {exc.status_code}", "message": exc.detail}
        return templates.TemplateResponse(
            request, "error.html", context, status_code=exc.status_code, headers=exc.headers
        )

    return app


app = create_app()
