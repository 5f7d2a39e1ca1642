"""``python -m tempstack.servers.mail CONFIG.json``: SMTP and HTTP in one event loop."""

from __future__ import annotations

import asyncio
import signal
import warnings

from aiohttp import web

from tempstack.servers.config import ServerConfig, load
from tempstack.servers.mail.app import make_app
from tempstack.servers.mail.smtp import start_smtp
from tempstack.servers.mail.store import Mailbox


async def serve(cfg: ServerConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    mailbox = Mailbox(max_messages=int(cfg.spec.get("max_messages", 1000)))
    smtp_port = cfg.ports["smtp"]
    # SMTP first: the HTTP server (and with it the readiness probe) comes up only after it.
    smtp = await start_smtp(mailbox, cfg.host, smtp_port)
    runner = web.AppRunner(make_app(mailbox), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, cfg.host, cfg.port).start()
    print(f"smtp listening on {cfg.host}:{smtp_port}", flush=True)
    print(f"api and web ui on http://{cfg.host}:{cfg.port}", flush=True)

    await stop.wait()
    print("stopping", flush=True)
    smtp.close()
    await runner.cleanup()


def main() -> None:
    # aiosmtpd warns about its own use of a deprecated attribute on every AUTH
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
    asyncio.run(serve(load()))


if __name__ == "__main__":
    main()
