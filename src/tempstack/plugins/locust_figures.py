"""Loaded into ``locust`` stages next to the user's locustfile: the final statistics.

Locust rewrites its ``_stats.csv`` once a second and not again at shutdown, so the last
second (or all of a short run) is missing from it, and exceptions raised inside tasks
appear in no statistic. After the runner has stopped, this writes the final per-endpoint
figures and the task exceptions as JSON to ``$TEMPSTACK_LOCUST_FINAL``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import events

# tempstack itself never imports this module: importing locust monkey-patches with gevent
PATH_VAR = "TEMPSTACK_LOCUST_FINAL"
PERCENTILES = ("50", "66", "75", "80", "90", "95", "98", "99", "99.9", "99.99", "100")
_env: list[Any] = []


def _remember(environment: Any, **_: Any) -> None:
    _env.append(environment)


def _entry(e: Any) -> dict[str, Any]:
    return {
        "method": e.method or "",
        "name": e.name,
        "requests": e.num_requests,
        "failures": e.num_failures,
        "rps": e.total_rps,
        "avg": e.avg_response_time,
        "min": e.min_response_time or 0,
        "max": e.max_response_time,
        "percentiles": {
            f"p{p}": e.get_response_time_percentile(float(p) / 100) if e.num_requests else None
            for p in PERCENTILES
        },
    }


def _write(exit_code: int, **_: Any) -> None:
    path = os.environ.get(PATH_VAR)
    if not path or not _env or _env[0].runner is None:
        return
    runner = _env[0].runner
    stats = runner.stats
    data = {
        "endpoints": [_entry(e) for e in stats.entries.values()],
        "total": _entry(stats.total),
        "exceptions": [
            {"count": x["count"], "msg": x["msg"], "traceback": x["traceback"]}
            for x in runner.exceptions.values()
        ],
    }
    with open(path, "w") as fh:
        json.dump(data, fh)


events.init.add_listener(_remember)  # type: ignore[no-untyped-call]
events.quit.add_listener(_write)  # type: ignore[no-untyped-call]
