"""The registry of built-in kinds: ``KINDS`` maps a kind name to its implementation."""

from tempstack.services.base import ServiceKind
from tempstack.services.http_mock import HttpMockKind
from tempstack.services.mail import MailKind
from tempstack.services.oidc import OidcKind
from tempstack.services.postgres import PostgresKind
from tempstack.services.process import JobKind, ProcessKind
from tempstack.services.redis import RedisKind
from tempstack.services.s3 import S3Kind

KINDS: dict[str, ServiceKind] = {
    "postgres": PostgresKind(),
    "redis": RedisKind(),
    "process": ProcessKind(),
    "job": JobKind(),
    "s3": S3Kind(),
    "mail": MailKind(),
    "http-mock": HttpMockKind(),
    "oidc": OidcKind(),
}
