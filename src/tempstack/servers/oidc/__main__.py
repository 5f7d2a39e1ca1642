"""``python -m tempstack.servers.oidc CONFIG.json``: serve the provider until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

from tempstack.servers.config import load
from tempstack.servers.oidc import keys as signing


def _stop(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread, inside serve_forever's select loop: it unwinds promptly.
    raise SystemExit(0)


class _KeyGen(threading.Thread):
    """RSA key generation releases the GIL, so it overlaps the Flask and authlib imports."""

    def __init__(self) -> None:
        super().__init__(name="keygen", daemon=True)
        self.keys: signing.SigningKeys | None = None

    def run(self) -> None:
        self.keys = signing.generate()

    def result(self) -> signing.SigningKeys:
        self.join()
        if self.keys is None:
            raise RuntimeError("generating the signing key failed (see the traceback above)")
        return self.keys


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    cfg = load(argv)
    keygen = _KeyGen()
    keygen.start()

    from werkzeug.serving import make_server

    from tempstack.servers.oidc.app import create_app
    from tempstack.servers.oidc.models import store_from_spec

    issuer = cfg.exports.get("issuer") or f"http://{cfg.host}:{cfg.port}"
    ttl = max(1, round(float(cfg.spec.get("token_ttl", 3600))))
    store = store_from_spec(cfg.spec, cfg.secrets)
    keys = keygen.result()
    app = create_app(store, keys, issuer, ttl, cookie=f"tempstack_oidc_{cfg.port}")
    server = make_server(cfg.host, cfg.port, app, threaded=True)
    print(
        f"oidc: issuer {issuer}; clients: {', '.join(store.clients) or '-'}; "
        f"users: {', '.join(u.subject for u in store.users) or '-'}; key {keys.kid}; "
        f"set up in {time.perf_counter() - started:.2f}s",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print("oidc: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
