"""The outside-world kinds (s3, mail, http-mock, oidc) on a real cluster.

A Job inside the cluster uses each of them by its in-cluster address; a pytest stage on
this machine then checks, through the port-forwards, what the Job left behind, and uses
them itself. The servers run in an image with only tempstack's dependencies: the run
brings tempstack's own code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tempstack import Stack
from tempstack.backends.kubernetes import manifests, names
from tempstack.backends.kubernetes.client import Clients

SERVERS_IMAGE = "tempstack.local/servers:3.11"
PLUGINS = ["-p", "no:cacheprovider", "-p", "tempstack.plugins.playwright"]

ROUTES = """
[[routes]]
name = "charge"
method = "POST"
path = "/v1/charges"
response = { status = 201, json = { id = "ch_1", paid = true } }
"""

#: inside the cluster: every service by the address other pods use
INSIDE = r"""
import json, os, smtplib, urllib.parse, urllib.request
from email.message import EmailMessage
import boto3

s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], region_name=os.environ["S3_REGION"],
                  aws_access_key_id=os.environ["S3_KEY"],
                  aws_secret_access_key=os.environ["S3_SECRET"])
s3.put_object(Bucket=os.environ["S3_BUCKET"], Key="from-the-job.txt", Body=b"written inside")

msg = EmailMessage()
msg["From"], msg["To"] = "job@example.com", "alice@example.com"
msg["Subject"] = "hello from the job"
msg.set_content("sent inside the cluster")
with smtplib.SMTP(os.environ["SMTP_HOST"], int(os.environ["SMTP_PORT"]), timeout=10) as smtp:
    smtp.send_message(msg)

req = urllib.request.Request(os.environ["PAY_URL"] + "/v1/charges", data=b"{}", method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as resp:
    assert resp.status == 201 and json.loads(resp.read())["paid"] is True

form = urllib.parse.urlencode({"grant_type": "password", "username": "alice",
    "password": "wonderland", "client_id": "app", "client_secret": os.environ["OIDC_SECRET"],
    "scope": "openid"}).encode()
with urllib.request.urlopen(os.environ["OIDC_TOKEN_URL"], data=form, timeout=10) as resp:
    assert "id_token" in json.loads(resp.read())
print("inside: all four answered", os.environ["OIDC_TOKEN_URL"], flush=True)
"""

#: on this machine, through the forwards
OUTSIDE_TEST = r"""
import base64, json, os, smtplib, urllib.parse, urllib.request
from email.message import EmailMessage
import boto3

def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())

def test_s3_holds_what_the_job_wrote():
    s3 = boto3.client("s3", endpoint_url=os.environ["FILES_URL"], region_name="us-east-1",
                      aws_access_key_id=os.environ["FILES_ACCESS_KEY"],
                      aws_secret_access_key=os.environ["FILES_SECRET_KEY"])
    body = s3.get_object(Bucket="uploads", Key="from-the-job.txt")["Body"].read()
    assert body == b"written inside"

def test_mail_caught_the_jobs_message_and_takes_ours():
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "t@example.com", "bob@example.com", "from outside"
    msg.set_content("through the forward")
    host, port = os.environ["MAIL_SMTP_HOST"], int(os.environ["MAIL_SMTP_PORT"])
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(msg)
    subjects = {m["Subject"] for m in get(os.environ["MAIL_API_URL"] + "/messages")["messages"]}
    assert subjects == {"hello from the job", "from outside"}

def test_mock_recorded_the_jobs_call():
    calls = get(os.environ["PAY_ADMIN_URL"] + "/requests")["requests"]
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/v1/charges")]

def test_oidc_tokens_carry_the_in_cluster_issuer():
    form = urllib.parse.urlencode({"grant_type": "password", "username": "alice",
        "password": "wonderland", "client_id": "app",
        "client_secret": os.environ["AUTH_CLIENT_SECRET"], "scope": "openid"}).encode()
    with urllib.request.urlopen(os.environ["AUTH_TOKEN_URL"], data=form, timeout=10) as resp:
        token = json.loads(resp.read())["id_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    # one issuer, the one the app inside the cluster validates against, here as there
    assert claims["iss"] == os.environ["AUTH_ISSUER"] == "http://auth:" + os.environ["AUTH_PORT"]
    assert claims["sub"] == "alice"

def test_oidc_discovery_through_the_forward_points_back_at_it():
    doc = get(os.environ["AUTH_DISCOVERY_URL"])
    assert doc["issuer"] == os.environ["AUTH_ISSUER"]
    assert doc["token_endpoint"] == os.environ["AUTH_TOKEN_URL"]  # 127.0.0.1, forwarded
"""

#: a browser on this machine follows in-cluster links (http://auth:PORT/...)
BROWSER_TEST = r"""
import os

def test_cluster_names_resolve_to_the_forwards(page):
    page.goto(os.environ["AUTH_ISSUER"] + "/.well-known/openid-configuration")
    assert os.environ["AUTH_ISSUER"] in page.content()
"""


def outside_stack() -> str:
    return f"""
[stack]
name = "kout"
backend = "kubernetes"

[services.files]
kind = "s3"
buckets = ["uploads"]

[services.mail]
kind = "mail"

[services.pay]
kind = "http-mock"
routes = "payments.toml"

[services.auth]
kind = "oidc"
clients = [{{ id = "app", redirect_uris = ["http://localhost/cb"] }}]
users = [{{ subject = "alice", password = "wonderland" }}]

# its probe needs a credential: the shell reads it from the Secret, not the pod spec
[services.worker]
image = "{SERVERS_IMAGE}"
command = ["python3", "-c", "import time; time.sleep(3600)"]
env = {{ EXPECTED = "${{auth.client_secret}}" }}
depends_on = ["auth"]

[services.worker.ready]
command = ["sh", "-c", 'test "$1" = "$EXPECTED"', "probe", "${{auth.client_secret}}"]
timeout = "60s"

[services.inside]
kind = "job"
image = "{SERVERS_IMAGE}"
command = ["python3", "-c", {json.dumps(INSIDE)}]
depends_on = ["files", "mail", "pay", "auth"]

[services.inside.env]
S3_URL = "${{files.url}}"
S3_REGION = "${{files.region}}"
S3_KEY = "${{files.access_key}}"
S3_SECRET = "${{files.secret_key}}"
S3_BUCKET = "${{files.bucket}}"
SMTP_HOST = "${{mail.smtp_host}}"
SMTP_PORT = "${{mail.smtp_port}}"
PAY_URL = "${{pay.url}}"
OIDC_TOKEN_URL = "${{auth.token_url}}"
OIDC_SECRET = "${{auth.client_secret}}"

[kubernetes.images]
servers = "{SERVERS_IMAGE}"
"""


def test_outside_world_kinds_run_in_the_cluster(write_stack, tmp_path: Path, kube: Clients) -> None:
    path = write_stack(outside_stack())
    (tmp_path / "payments.toml").write_text(ROUTES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_outside.py").write_text(OUTSIDE_TEST)
    (tmp_path / "browser").mkdir()
    (tmp_path / "browser" / "test_browser.py").write_text(BROWSER_TEST)
    with Stack.load(path).up(report_dir=tmp_path / "report") as run:
        ns = names.namespace(run.id)
        exports = {name: info.exports for name, info in run.services.items()}
        # the routes are in a ConfigMap, the generated credentials only in Secrets
        files = kube.core.read_namespaced_config_map(manifests.files_name("pay"), ns)
        assert "/v1/charges" in files.data["config.json"]
        credentials = [
            exports["files"]["secret_key"],
            exports["auth"]["client_secret"],
            "wonderland",  # alice's password: the oidc config goes in a Secret
        ]
        for config_map in kube.core.list_namespaced_config_map(ns).items:
            text = json.dumps(config_map.data or {})
            assert not [c for c in credentials if c in text], config_map.metadata.name
        secret = kube.core.read_namespaced_secret(manifests.files_name("files"), ns)
        assert "secrets.json" in (secret.data or {})
        worker = kube.apps.read_namespaced_deployment("worker", ns).to_dict()
        assert exports["auth"]["client_secret"] not in json.dumps(worker, default=str)
        code = kube.core.read_namespaced_config_map(manifests.CODE_CONFIG_MAP, ns)
        assert code.metadata.labels[names.RUN] == run.id
        # mail has both its ports on its Service, and both are forwarded here
        svc = kube.core.read_namespaced_service("mail", ns)
        mail = exports["mail"]
        assert {p.port for p in svc.spec.ports} == {int(mail["port"]), int(mail["smtp_port"])}
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
            cwd=tmp_path,
            env=run.stage_env({"PAY_ADMIN_URL": exports["pay"]["admin_url"]}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        browser = subprocess.run(
            [sys.executable, "-m", "pytest", "browser", "-q", *PLUGINS],
            cwd=tmp_path,
            env=run.stage_env({"TEMPSTACK_BROWSER_EXECUTABLE": "/usr/bin/chromium"}),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout
    assert browser.returncode == 0, browser.stdout[-3000:] + browser.stderr[-2000:]
    assert "1 passed" in browser.stdout
    journal = json.loads((tmp_path / "report" / "journal.json").read_text())
    logs = {s["name"]: s["log"] for s in journal["services"]}
    inside = (tmp_path / "report" / logs["inside"]).read_text()
    assert "inside: all four answered http://auth:" in inside
    s3_log = (tmp_path / "report" / logs["files"]).read_text()
    assert "buckets: uploads" in s3_log
