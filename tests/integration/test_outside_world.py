"""All four outside-world kinds in one stack with postgres and redis, through the real CLI."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from .helpers import assert_gone, cli, kill, spawn_cli, wait_for_status

STACK = """
[stack]
name = "{name}"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.files]
kind = "s3"
buckets = ["uploads"]

[services.mail]
kind = "mail"

[services.github]
kind = "http-mock"
routes = [{{ path = "/user", response = {{ json = {{ login = "octo" }} }} }}]

[services.sso]
kind = "oidc"
clients = [{{ id = "web", redirect_uris = ["${{github.url}}/cb"] }}]
users = [{{ subject = "alice", password = "wonderland" }}]

[stages.smoke]
run = ["{python}", "smoke.py"]
"""

SMOKE = """
import os, smtplib, boto3, httpx
from email.message import EmailMessage

env = os.environ
s3 = boto3.client("s3", endpoint_url=env["FILES_AWS_ENDPOINT_URL"],
                  aws_access_key_id=env["FILES_AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=env["FILES_AWS_SECRET_ACCESS_KEY"],
                  region_name=env["FILES_AWS_REGION"])
s3.put_object(Bucket=env["FILES_BUCKET"], Key="hello.txt", Body=b"hi")
assert s3.get_object(Bucket="uploads", Key="hello.txt")["Body"].read() == b"hi"

msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "app@example.com", "alice@example.com", "Order 7"
msg.set_content("thanks")
with smtplib.SMTP(env["MAIL_SMTP_HOST"], int(env["MAIL_SMTP_PORT"])) as smtp:
    smtp.send_message(msg)
listed = httpx.get(env["MAIL_API_URL"] + "/messages").json()
assert listed["messages"][0]["Subject"] == "Order 7", listed

assert httpx.get(env["GITHUB_URL"] + "/user").json() == {"login": "octo"}

token = httpx.post(env["SSO_TOKEN_URL"], data={
    "grant_type": "password", "username": "alice", "password": "wonderland",
    "scope": "openid"}, auth=(env["SSO_CLIENT_ID"], env["SSO_CLIENT_SECRET"]))
assert token.status_code == 200, token.text
print("smoke ok")
"""


def project(tmp_path: Path, name: str) -> Path:
    (tmp_path / "smoke.py").write_text(SMOKE)
    path = tmp_path / "tempstack.toml"
    path.write_text(STACK.format(name=name, python=sys.executable))
    return path


def test_a_stage_uses_every_kind_with_real_clients(tmp_path: Path) -> None:
    path = project(tmp_path, "outside-run")
    done = cli("run", "-f", str(path), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke ok" in done.stdout + done.stderr


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_every_server_and_port_is_gone_after_the_runner_is_signalled(
    tmp_path: Path, sig: str
) -> None:
    path = project(tmp_path, f"outside-{sig.lower()}")
    proc = spawn_cli("up", "-f", str(path), log=tmp_path / "up.log")
    (state,) = wait_for_status("ready", timeout=90)
    services = state["services"]
    assert {"files", "mail", "github", "sso"} <= set(services)
    assert all(s.get("pid") for s in services.values())
    assert "mail.smtp" in state["ports"]  # the second port is recorded, so it is released too
    kill(proc.pid, getattr(signal, sig))
    proc.wait(timeout=30)
    assert_gone(state, within=15)
