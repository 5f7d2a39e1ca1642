"""The ``config.json`` a kind writes for its server (see ``services/server.py``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEALTH_PATH = "/__tempstack/health"


@dataclass
class ServerConfig:
    service: str
    run_id: str
    host: str
    port: int
    ports: dict[str, int]  # extra ports by name (``smtp`` for mail)
    secrets: dict[str, str]
    exports: dict[str, str]
    workdir: Path
    spec: dict[str, Any]  # the service's validated spec, dumped as JSON (aliases used)


def load(argv: list[str] | None = None) -> ServerConfig:
    """``CONFIG.json [SECRETS.json]``: on a cluster the credentials and exports come in a
    second file (from a Secret), the rest in the first (from a ConfigMap)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        raise SystemExit("usage: python -m tempstack.servers.<kind> CONFIG.json [SECRETS.json]")
    data = json.loads(Path(args[0]).read_text())
    if len(args) == 2:
        data.update(json.loads(Path(args[1]).read_text()))
    return ServerConfig(
        service=data["service"],
        run_id=data["run_id"],
        host=data["host"],
        port=int(data["port"]),
        ports={k: int(v) for k, v in data.get("ports", {}).items()},
        secrets=dict(data.get("secrets", {})),
        exports=dict(data.get("exports", {})),
        workdir=Path(data["workdir"]),
        spec=data["spec"],
    )
