"""The failure bundle: what a person needs to debug a failed run after it is gone.

Written to ``<report dir>/failure/`` before teardown: each service's last log lines, the
probe history, the environment with secrets masked, and the port map.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tempstack._files import write_json

_SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
MASK = "***"
LOG_LINES = 200


def mask_url(value: str) -> str:
    """``scheme://user:secret@host`` shown as ``scheme://user:***@host``."""
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", value)


def mask_value(key: str, value: str, secrets: set[str]) -> str:
    if _SECRET_KEY.search(key) and value:
        return MASK
    value = mask_url(value)
    for secret in secrets:
        if secret and len(secret) >= 4:
            value = value.replace(secret, MASK)
    return value


def mask_env(env: dict[str, str], secrets: set[str]) -> dict[str, str]:
    return {k: mask_value(k, v, secrets) for k, v in env.items()}


def write_bundle(
    report_dir: Path,
    *,
    error: str,
    logs: dict[str, list[str]],
    probes: dict[str, Any],
    env: dict[str, str],
    ports: dict[str, int | None],
    services: dict[str, Any],
    secrets: set[str],
) -> Path:
    target = report_dir / "failure"
    (target / "logs").mkdir(parents=True, exist_ok=True)
    for name, lines in logs.items():
        (target / "logs" / f"{name}.log").write_text("\n".join(lines) + ("\n" if lines else ""))
    write_json(
        target / "bundle.json",
        {
            "error": mask_value("", error, secrets),
            "services": services,
            "probes": probes,
            "ports": ports,
            "env": mask_env(env, secrets),
        },
        mode=0o644,  # a report, masked
    )
    return target
