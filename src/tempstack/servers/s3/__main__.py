"""``python -m tempstack.servers.s3 CONFIG.json``: the buckets are created in-process,
then the server listens (so the health probe answers only once they exist)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

from tempstack.servers.config import ServerConfig, load


class _Handler(WSGIRequestHandler):
    """werkzeug's handler without its access log (the gateway logs each request)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def version_string(self) -> str:
        return "AmazonS3"


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(cfg: ServerConfig) -> None:
    started = time.perf_counter()
    # read by moto when it is imported: no blanket CORS answer of its own (the gateway
    # applies each bucket's rules)
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
    # objects over moto's in-memory threshold spill to temporary files: keep them in the run
    scratch = cfg.workdir / "tmp"
    scratch.mkdir(exist_ok=True)
    tempfile.tempdir = str(scratch)

    from tempstack.servers.s3.app import Gateway
    from tempstack.servers.s3.backend import ACCOUNT, apply_corrections, create_buckets
    from tempstack.servers.s3.signing import Keys

    os.environ["MOTO_ACCOUNT_ID"] = ACCOUNT  # one account, whatever the access key
    apply_corrections()
    region = str(cfg.spec.get("region") or "us-east-1")
    buckets = list(cfg.spec.get("buckets") or [])
    create_buckets(buckets, region)
    keys = Keys(cfg.secrets["access_key"], cfg.secrets["secret_key"])
    gateway = Gateway(keys)
    server = make_server(cfg.host, cfg.port, gateway, threaded=True, request_handler=_Handler)
    # listening already; the warm-up does not hold back readiness (the probe needs no moto)
    threading.Thread(target=gateway.warm, name="warm-up", daemon=True).start()
    names = ", ".join(b if isinstance(b, str) else b["name"] for b in buckets) or "none"
    print(
        f"s3 on http://{cfg.host}:{cfg.port} region {region}, buckets: {names} "
        f"(set up in {(time.perf_counter() - started) * 1000:.0f}ms)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        print("stopped", flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve(load())
    sys.exit(0)


if __name__ == "__main__":
    main()
