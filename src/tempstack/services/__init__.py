"""Built-in service kinds, one module each; ``KINDS`` maps a kind name to its implementation."""

from tempstack.services.base import HOST, Launch, PrepareContext, ServiceKind, ServicePlan
from tempstack.services.postgres import PostgresKind
from tempstack.services.process import JobKind, ProcessKind
from tempstack.services.redis import RedisKind

KINDS: dict[str, ServiceKind] = {
    "postgres": PostgresKind(),
    "redis": RedisKind(),
    "process": ProcessKind(),
    "job": JobKind(),
}

__all__ = ["HOST", "KINDS", "Launch", "PrepareContext", "ServiceKind", "ServicePlan"]
