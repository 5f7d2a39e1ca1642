"""What the outside-world kinds export and generate, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

from tempstack.engine.runner import env_name
from tempstack.services.base import PrepareContext, ServicePlan
from tempstack.services.kinds import KINDS
from tempstack.spec.load import load

STACK = """
[stack]
name = "outside"

[services.files]
kind = "s3"
buckets = ["uploads", { name = "public-assets", public = true }]
region = "eu-central-1"

[services.mail]
kind = "mail"

[services.sso]
kind = "oidc"
clients = [
  { id = "web-app", redirect_uris = ["${app.url}/callback"] },
  { id = "spa", public = true, redirect_uris = ["http://127.0.0.1:3000/cb"] },
  { id = "cli", secret = "fixed-secret", redirect_uris = ["http://127.0.0.1:9/cb"] },
]

[services.github]
kind = "http-mock"
routes = [{ path = "/user", response = { json = { login = "octo" } } }]

[services.app]
command = "true"
port = true

[services.app.env]
A = "${sso.web_app_client_secret}"
B = "${files.aws_access_key_id}"
C = "${mail.smtp_url}"
"""


def plan_for(path: Path, name: str, port: int = 20001) -> ServicePlan:
    loaded = load(path)
    spec = loaded.spec.services[name]
    kind = KINDS[spec.kind]
    plan = ServicePlan(name, spec, kind, "127.0.0.1", port, kind.make_secrets(spec))
    plan.ports = {extra: port + 1 + i for i, extra in enumerate(kind.extra_ports(spec))}
    plan.exports = kind.exports(plan)
    return plan


def test_every_export_is_a_declared_attribute(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(STACK)
    loaded = load(path)
    assert {"files", "mail", "sso"} <= loaded.referenced
    for name in ("files", "mail", "sso", "github"):
        plan = plan_for(path, name)
        assert set(plan.exports) == set(plan.kind.attributes(plan.spec)), name


def test_s3_exports_aws_style_names(write_stack) -> None:  # type: ignore[no-untyped-def]
    plan = plan_for(write_stack(STACK), "files")
    env = {env_name("files", k): v for k, v in plan.exports.items()}
    assert env["FILES_URL"] == env["FILES_AWS_ENDPOINT_URL"] == "http://127.0.0.1:20001"
    assert env["FILES_AWS_ACCESS_KEY_ID"] == env["FILES_ACCESS_KEY"]
    assert env["FILES_AWS_ACCESS_KEY_ID"].startswith("AKIA")
    assert env["FILES_AWS_SECRET_ACCESS_KEY"] == env["FILES_SECRET_KEY"]
    assert env["FILES_AWS_REGION"] == env["FILES_REGION"] == "eu-central-1"
    assert env["FILES_BUCKET"] == "uploads"


def test_s3_credentials_are_fresh_per_run_unless_given(write_stack) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(STACK)
    assert plan_for(path, "files").secrets != plan_for(path, "files").secrets
    fixed = write_stack(
        '[stack]\nname = "x"\n[services.files]\nkind = "s3"\naccess_key = "minio"\n'
        'secret_key = "minio123"\n',
        name="fixed.toml",
    )
    assert plan_for(fixed, "files").secrets == {"access_key": "minio", "secret_key": "minio123"}


def test_mail_has_a_second_named_port(write_stack) -> None:  # type: ignore[no-untyped-def]
    plan = plan_for(write_stack(STACK), "mail", port=20010)
    assert plan.kind.extra_ports(plan.spec) == ("smtp",)
    assert plan.exports["smtp_port"] == "20011"
    assert plan.exports["smtp_url"] == "smtp://127.0.0.1:20011"
    assert plan.exports["api_url"] == "http://127.0.0.1:20010/api/v1"


def test_oidc_secrets_per_confidential_client(write_stack) -> None:  # type: ignore[no-untyped-def]
    plan = plan_for(write_stack(STACK), "sso")
    assert set(plan.secrets) == {"client:web-app", "client:cli"}  # spa is public
    assert plan.secrets["client:cli"] == "fixed-secret"
    assert plan.exports["client_id"] == "web-app"
    assert plan.exports["client_secret"] == plan.exports["web_app_client_secret"]
    assert plan.exports["spa_client_secret"] == ""
    assert plan.exports["issuer"] == plan.exports["url"] == "http://127.0.0.1:20001"


def test_server_config_holds_spec_ports_and_secrets(write_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_stack(STACK)
    plan = plan_for(path, "github", port=20020)
    workdir = tmp_path / "github"
    workdir.mkdir()
    ctx = PrepareContext("outside-1", workdir, path.parent, tmp_path / "cache", {"X": "1"})
    launch = plan.kind.prepare(plan, ctx)
    assert launch.argv[1:3] == ["-m", "tempstack.servers.mock"]
    config = json.loads((workdir / "config.json").read_text())
    assert (workdir / "config.json").stat().st_mode & 0o077 == 0
    assert config["port"] == 20020
    assert config["spec"]["routes"][0]["response"]["json"] == {"login": "octo"}
    assert launch.env["X"] == "1"
