"""The aiohttp application: the readiness probe, Mailpit's API and the web UI."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tempstack.servers.config import HEALTH_PATH
from tempstack.servers.mail import api, ui
from tempstack.servers.mail.store import Mailbox


@web.middleware
async def plain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths answer like Mailpit's Go router: ``404 page not found``, as text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return api.text(api.NOT_FOUND, 404)


async def health(request: web.Request) -> web.Response:
    # The HTTP server is started only once SMTP listens (see __main__), so answering at all
    # means both are up.
    return api.text("ok")


def make_app(mailbox: Mailbox) -> web.Application:
    app = web.Application(middlewares=[plain_errors])
    app[api.MAILBOX] = mailbox
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_routes(api.routes)
    app.router.add_routes(ui.routes)
    return app
