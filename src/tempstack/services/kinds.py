"""The registry of built-in kinds: ``KINDS`` maps a kind name to its implementation."""

from tempstack.services.base import ServiceKind
from tempstack.services.postgres import PostgresKind
from tempstack.services.process import JobKind, ProcessKind
from tempstack.services.redis import RedisKind

KINDS: dict[str, ServiceKind] = {
    "postgres": PostgresKind(),
    "redis": RedisKind(),
    "process": ProcessKind(),
    "job": JobKind(),
}
