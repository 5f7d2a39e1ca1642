"""``python -m tempstack.servers.mock CONFIG.json``: the ``http-mock`` kind's server."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from tempstack.servers import config
from tempstack.servers.mock.server import MockServer, serve
from tempstack.servers.mock.templating import TemplateError
from tempstack.spec.routes import RoutesFile


def main() -> int:
    cfg = config.load()
    where = cfg.spec.get("routes_file") or f"services.{cfg.service}.routes"
    try:
        # validated again: the config file is ours, but cheap to check and clearer if not
        routes = RoutesFile.model_validate({"routes": cfg.spec.get("routes", [])}).routes
        server = MockServer(routes, cfg.spec.get("seed"), log=_log)
    except ValidationError as exc:
        print(f"{where}: invalid routes:\n{exc}", file=sys.stderr)
        return 2
    except TemplateError as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(server, cfg.host, cfg.port))
    return 0


def _log(line: str) -> None:
    print(line, flush=True)  # the service log is read while the server runs


if __name__ == "__main__":
    sys.exit(main())
