"""Ready when an HTTP GET answers with the expected status (any 2xx/3xx by default)."""

from __future__ import annotations

import http.client


class HttpProbe:
    def __init__(self, host: str, port: int, path: str, status: int | None = None) -> None:
        self.host, self.port, self.path, self.status = host, port, path, status
        wanted = str(status) if status else "2xx/3xx"
        self.description = f"http GET http://{host}:{port}{path} -> {wanted}"

    def check(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2.0)
        try:
            conn.request("GET", self.path, headers={"User-Agent": "tempstack-probe"})
            got = conn.getresponse().status
        finally:
            conn.close()
        ok = got == self.status if self.status else 200 <= got < 400
        if not ok:
            raise RuntimeError(f"status {got}")
        return True
