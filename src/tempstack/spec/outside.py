"""The outside world as services: ``s3``, ``mail``, ``http-mock`` and ``oidc``."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, JsonValue, field_validator, model_validator

from tempstack.spec.fields import Duration, ServiceBase, Strict
from tempstack.spec.routes import MockRoute

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def _bucket_name(name: str) -> str:
    if not _BUCKET.match(name) or ".." in name or _IP.match(name):
        raise ValueError(
            f"{name!r} is not a valid bucket name: 3-63 characters of lowercase letters, "
            "digits, '.' and '-', starting and ending with a letter or digit"
        )
    return name


BucketName = Annotated[str, AfterValidator(_bucket_name)]


def _region(name: str) -> str:
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d+$", name):
        raise ValueError(f"{name!r} is not a region name such as us-east-1 or eu-central-1")
    return name


S3Method = Literal["GET", "PUT", "POST", "DELETE", "HEAD"]


class ServerServiceBase(ServiceBase):
    """What the kinds served by tempstack's own Python servers have in common."""

    #: Kubernetes only: an image with Python 3.11+ and tempstack's dependencies; the run
    #: brings tempstack's own code
    image: Annotated[str, Field(min_length=1)] | None = None


class CorsRule(Strict):
    allowed_origins: Annotated[list[str], Field(min_length=1)] = ["*"]
    allowed_methods: Annotated[list[S3Method], Field(min_length=1)] = [
        "GET",
        "PUT",
        "POST",
        "DELETE",
        "HEAD",
    ]
    allowed_headers: list[str] = ["*"]
    expose_headers: list[str] = ["ETag"]
    max_age: Annotated[int, Field(ge=0)] | None = 3000


class Bucket(Strict):
    name: BucketName
    versioning: bool = False
    public: bool = False  # a public-read policy: anyone may GET objects without signing
    cors: bool | list[CorsRule] = False  # true: one rule allowing any origin


class S3Service(ServerServiceBase):
    kind: Literal["s3"] = "s3"
    buckets: list[BucketName | Bucket] = Field(default_factory=list)
    region: Annotated[str, AfterValidator(_region)] = "us-east-1"
    access_key: Annotated[str, Field(min_length=3)] | None = None
    secret_key: Annotated[str, Field(min_length=3)] | None = None
    ready_timeout: Duration = 30.0

    @model_validator(mode="after")
    def _unique(self) -> S3Service:
        names = [b if isinstance(b, str) else b.name for b in self.buckets]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"bucket {dup[0]!r} is listed twice")
        return self

    def bucket_specs(self) -> list[Bucket]:
        return [Bucket(name=b) if isinstance(b, str) else b for b in self.buckets]


class MailService(ServerServiceBase):
    kind: Literal["mail"] = "mail"
    max_messages: Annotated[int, Field(ge=1)] = 1000  # oldest are dropped beyond this
    ready_timeout: Duration = 30.0


class HttpMockService(ServerServiceBase):
    kind: Literal["http-mock"] = "http-mock"
    #: a routes file (TOML or JSON, relative to the stack file) or the routes themselves
    routes: str | list[MockRoute] = Field(default_factory=list)
    seed: int | None = None  # makes random faults repeatable
    ready_timeout: Duration = 30.0


def _redirect_uri(value: str) -> str:
    if "${" not in value and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value


RedirectUri = Annotated[str, AfterValidator(_redirect_uri)]
GrantType = Literal["authorization_code", "refresh_token", "password", "client_credentials"]


def _client_id(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", value):
        raise ValueError(
            f"{value!r} is not a valid client id: up to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class OidcClient(Strict):
    id: Annotated[str, AfterValidator(_client_id)]
    secret: Annotated[str, Field(min_length=1)] | None = None  # generated per run if not given
    public: bool = False  # a browser/native app without a secret; must use PKCE
    redirect_uris: Annotated[list[RedirectUri], Field(min_length=1)]
    post_logout_redirect_uris: list[RedirectUri] = Field(default_factory=list)
    grant_types: Annotated[list[GrantType], Field(min_length=1)] = [
        "authorization_code",
        "refresh_token",
        "password",
        "client_credentials",
    ]
    scopes: list[str] = ["openid", "profile", "email", "offline_access"]

    @model_validator(mode="after")
    def _public(self) -> OidcClient:
        if self.public and self.secret is not None:
            raise ValueError("a public client has no secret; drop 'secret' or 'public'")
        if (
            self.public
            and "client_credentials" in self.model_fields_set
            and ("client_credentials" in self.grant_types)
        ):
            raise ValueError("a public client cannot use the client_credentials grant")
        return self


#: claims the provider sets itself; a user's ``claims`` may not override them
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "at_hash"}
    | {"c_hash", "azp", "sid", "acr", "amr", "client_id", "scope", "typ"}
)


class OidcUser(Strict):
    subject: Annotated[str, Field(min_length=1, max_length=255)]
    password: Annotated[str, Field(min_length=1)]
    email: str | None = None
    name: str | None = None
    claims: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("claims")
    @classmethod
    def _not_reserved(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if clash := sorted(RESERVED_CLAIMS & set(value)):
            raise ValueError(
                f"claim {clash[0]!r} is set by the provider itself; reserved claims: "
                + ", ".join(sorted(RESERVED_CLAIMS))
            )
        return value


class OidcService(ServerServiceBase):
    kind: Literal["oidc"] = "oidc"
    clients: Annotated[list[OidcClient], Field(min_length=1)]
    users: list[OidcUser] = Field(default_factory=list)
    token_ttl: Duration = 3600.0  # lifetime of access and ID tokens
    ready_timeout: Duration = 30.0

    @model_validator(mode="after")
    def _unique(self) -> OidcService:
        slugs: dict[str, str] = {}
        for client in self.clients:
            other = slugs.setdefault(client_slug(client.id), client.id)
            if other != client.id:
                raise ValueError(
                    f"client ids {other!r} and {client.id!r} would both export as "
                    f"{client_slug(client.id)}_client_id; rename one"
                )
        for what, values in (
            ("client id", [c.id for c in self.clients]),
            ("user subject", [u.subject for u in self.users]),
            ("user email", [u.email for u in self.users if u.email]),
        ):
            if dup := sorted({v for v in values if values.count(v) > 1}):
                raise ValueError(f"{what} {dup[0]!r} is used twice")
        return self


def client_slug(client_id: str) -> str:
    """The attribute prefix for one client: ``web-app`` -> ``web_app``."""
    return re.sub(r"[^A-Za-z0-9]", "_", client_id).lower()
