"""What a run leaves in its report: the failure bundle and each service's record and log.

Both are read from the engine's plan and status before teardown removes the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tempstack._files import copy_log
from tempstack.engine.bundle import LOG_LINES, mask_url, write_bundle

if TYPE_CHECKING:
    from tempstack.engine.runner import Engine

LOG_TAIL_LINES = 30


def failure_bundle(engine: Engine, error: str) -> Path:
    """The failure bundle: logs, probes, env, ports, states, secrets masked."""
    secrets_ = {v for p in engine.plans.values() for v in p.secrets.values()}
    return write_bundle(
        engine.report_dir,
        error=error,
        logs={n: engine.backend.log_tail(n, LOG_LINES) for n in engine.handles},
        probes={n: h.as_dict() for n, h in engine.probes.items()},
        env={
            **engine.env,
            **{k: v for k, v in engine.base_env.items() if k in engine.loaded.spec.env},
        },
        ports={
            **{n: p.port for n, p in engine.plans.items()},
            **{f"{n}.{x}": port for n, p in engine.plans.items() for x, port in p.ports.items()},
        },
        services={
            n: {"state": s.state.value, "pid": s.pid, "error": s.error}
            for n, s in engine.status.items()
        },
        secrets=secrets_,
    )


def collect_services(engine: Engine) -> list[dict[str, Any]]:
    """Each service's record and log into the report, before the run dir is removed."""
    records = []
    logs = engine.report_dir / "services"
    for name in engine.loaded.order:
        status, spec = engine.status[name], engine.loaded.spec.services[name]
        record: dict[str, Any] = {
            "name": name,
            "kind": spec.kind,
            "state": status.state.value,
            "pid": status.pid,
            "port": status.port,
            "url": mask_url(status.url) if status.url else None,
            "error": status.error,
            "depends_on": list(engine.loaded.deps.get(name, {})),
            "timings": {k: round(v, 6) for k, v in status.timings.items()},
            "snapshot": status.snapshot,
            "memory": engine.profiler.memory.get(name),
        }
        if name in engine.handles:
            try:
                copy = copy_log(engine.backend.log_path(name), logs / f"{name}.log")
                record["log"] = str(copy.relative_to(engine.report_dir))
                record["log_tail"] = engine.backend.log_tail(name, LOG_TAIL_LINES)
            except OSError as exc:
                engine.journal.event("report.error", name, error=str(exc))
        records.append(record)
    return records
