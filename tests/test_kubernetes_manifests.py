"""The Kubernetes backend's own logic, without a cluster: names, manifests, pod states,
and what a stack needs to run there."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from tempstack.backends.kubernetes import manifests, names
from tempstack.backends.kubernetes.pods import assess
from tempstack.errors import SpecErrors
from tempstack.services.base import Container, ReadyCheck
from tempstack.spec.load import load


def test_namespace_names_are_dns_labels_and_unique_per_run() -> None:
    short = names.namespace("shop-20261121T101010-ab12")
    assert short == "ts-shop-20261121t101010-ab12"
    long_a = names.namespace("a" * 40 + "-20261121T101010-ab12")
    long_b = names.namespace("a" * 40 + "-20261121T101010-ab13")
    assert len(long_a) <= 63 and long_a != long_b
    assert names.object_name("My_DB") == "my-db"
    assert names.object_name("9lives") == "s-9lives"
    assert names.label_value("bob@example.com") == "bob-example.com"
    assert len(names.label_value("x" * 100)) == 63


def test_secret_values_stay_out_of_the_pod_spec() -> None:
    spec = Container(
        image="postgres:15",
        args=["-c", "port=5432"],
        env={"POSTGRES_USER": "u", "WEIRD": "$(HOME)"},
        secret_env={"POSTGRES_PASSWORD": "s3cret"},
        ready=ReadyCheck(exec=["pg_isready"]),
        data_dir="/var/lib/postgresql/data",
    )
    labels = {names.SERVICE: "db", names.RUN: "r1", names.MANAGED_BY: names.MANAGER}
    body = manifests.workload(
        "db",
        "ns",
        labels,
        spec,
        ports=[5432],
        secret_name="db-env",
        aliases={"cache": "10.96.0.9", "db": "10.96.0.8"},
        grace=5,
        stateful=True,
    )
    assert body["kind"] == "StatefulSet" and body["spec"]["serviceName"] == "db"
    pod = body["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    assert "s3cret" not in repr(body)
    assert main["envFrom"] == [{"secretRef": {"name": "db-env"}}]
    assert {"name": "WEIRD", "value": "$$(HOME)"} in main["env"]  # literal, not expanded
    assert main["readinessProbe"]["exec"] == {"command": ["pg_isready"]}
    assert main["readinessProbe"]["periodSeconds"] == 1
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert pod["automountServiceAccountToken"] is False
    assert {"ip": "10.96.0.9", "hostnames": ["cache"]} in pod["hostAliases"]
    assert body["metadata"]["labels"][names.RUN] == "r1"
    secret = manifests.secret("db-env", "ns", labels, {"POSTGRES_PASSWORD": "s3cret"})
    assert secret["stringData"] == {"POSTGRES_PASSWORD": "s3cret"}


def test_http_probe_and_job_without_retries() -> None:
    probe = manifests.probe(ReadyCheck(http="/health", port=8080))
    assert probe["httpGet"] == {"path": "/health", "port": 8080}
    job = manifests.job("migrate", "ns", {names.RUN: "r"}, {"containers": []}, 30.4)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 30


def _pod(**status: Any) -> Any:
    defaults: dict[str, Any] = {
        "conditions": [],
        "container_statuses": [],
        "init_container_statuses": [],
        "phase": "Pending",
        "pod_ip": None,
        "reason": None,
        "message": None,
    }
    return NS(metadata=NS(name="web-1"), status=NS(**{**defaults, **status}))


def _cs(
    waiting: str | None = None,
    terminated: int | None = None,
    last: int | None = None,
    running: bool = False,
) -> Any:
    return NS(
        name="main",
        image="img",
        state=NS(
            waiting=NS(reason=waiting, message="back-off") if waiting else None,
            terminated=NS(exit_code=terminated, reason="Error") if terminated is not None else None,
            running=NS(started_at=None) if running else None,
        ),
        last_state=NS(terminated=NS(exit_code=last, reason="Error") if last is not None else None),
    )


def test_pod_states_are_read_from_the_status() -> None:
    ready = _pod(conditions=[NS(type="Ready", status="True", reason=None, message=None)])
    assert assess(ready, job=False).ready
    pull = assess(_pod(container_statuses=[_cs(waiting="ImagePullBackOff")]), job=False)
    assert pull.problem is not None and pull.problem.startswith("ImagePullBackOff")
    crash = assess(_pod(container_statuses=[_cs(waiting="CrashLoopBackOff", last=3)]), job=False)
    assert crash.problem == "CrashLoopBackOff: the container exited with code 3"
    assert crash.exit_code == 3
    unschedulable = _pod(
        conditions=[
            NS(type="PodScheduled", status="False", reason="Unschedulable", message="0/1 nodes")
        ]
    )
    assert assess(unschedulable, job=False).problem == "Unschedulable: 0/1 nodes"
    finished = assess(_pod(container_statuses=[_cs(terminated=7)], phase="Failed"), job=True)
    assert finished.exit_code == 7 and finished.problem is None
    running = assess(_pod(container_statuses=[_cs(running=True)], phase="Running"), job=True)
    assert running.exit_code is None and running.problem is None
    # the readiness timeout starts once the container has started (its image pulled)
    assert running.started and finished.started
    creating = _pod(container_statuses=[_cs(waiting="ContainerCreating")])
    assert not assess(creating, job=False).started


BASE = """
[stack]
name = "k"
backend = "kubernetes"
"""


@pytest.mark.parametrize(
    ("body", "key", "says"),
    [
        ('[services.mail]\nkind = "mail"\n', "services.mail.image", "images.servers"),
        ('[services.web]\ncommand = ["x"]\n', "services.web.image", "images.process"),
        (
            '[services.web]\ncommand = ["x"]\nimage = "i"\ncwd = "app"\n',
            "services.web.cwd",
            "must be absolute",
        ),
        (
            '[services.web]\ncommand = ["x"]\nimage = "i"\nready = { log = "up" }\n',
            "services.web.ready.log",
            "log probe",
        ),
        (
            '[stages.ui]\nkind = "playwright"\nwhere = "cluster"\n',
            "stages.ui.where",
            "command or pytest",
        ),
        ('[stages.t]\nkind = "pytest"\nwhere = "cluster"\n', "stages.t.image", "stage_image"),
        ('[kubernetes]\nimages = { nginx = "x" }\n', "kubernetes.images", "postgres"),
        (
            '[services.my_db]\nkind = "redis"\n[services.my-db]\nkind = "redis"\n',
            "services.my-db",
            "both become the name 'my-db'",
        ),
    ],
)
def test_what_cannot_run_on_kubernetes_is_a_check_error(
    write_stack: Any, body: str, key: str, says: str
) -> None:
    with pytest.raises(SpecErrors) as info:
        load(write_stack(BASE + body))
    text = str(info.value)
    assert key in text and says in text, text


def test_the_same_file_runs_locally(write_stack: Any) -> None:
    path: Path = write_stack(BASE.replace("kubernetes", "local") + '[services.m]\nkind = "mail"\n')
    assert load(path).spec.stack.backend == "local"


def test_credentials_in_a_command_move_to_the_secret() -> None:
    url = "postgresql://u_1:s3cretpassw0rd@db:5432/app"
    argv, env = manifests.hide_secrets(["migrate", "--db", url, "--x", "plain"], {"s3cretpassw0rd"})
    assert argv == [
        "migrate",
        "--db",
        "postgresql://u_1:$(TS_SECRET_0)@db:5432/app",
        "--x",
        "plain",
    ]
    assert env == {"TS_SECRET_0": "s3cretpassw0rd"}
    assert manifests.hide_secrets(["echo", "hi"], {"s3cretpassw0rd"}) == (["echo", "hi"], {})


def test_a_server_kind_runs_with_its_config_in_a_config_map_and_its_secrets_apart(
    tmp_path: Path,
) -> None:
    """The s3 fake on a cluster: spec and routes readable, generated keys only in a Secret,
    tempstack's code unpacked by an init container onto the server's PYTHONPATH."""
    from tempstack.services.base import CODE_DIR, PrepareContext, ServicePlan
    from tempstack.services.kinds import KINDS
    from tempstack.spec.outside import S3Service

    kind = KINDS["s3"]
    spec = S3Service(buckets=["uploads"])
    plan = ServicePlan("files", spec, kind, "127.0.0.1", 9000, kind.make_secrets(spec))
    plan.exports = kind.exports(plan)
    inner = kind.exports(ServicePlan("files", spec, kind, "files", 9000, plan.secrets))
    ctx = PrepareContext(
        run_id="r1",
        workdir=tmp_path,
        stack_dir=tmp_path,
        cache_dir=tmp_path,
        base_env={},
        remote=True,
        image="servers:1",
        inner_exports=inner,
    )
    box = kind.container(plan, ctx)
    secret_key = plan.secrets["secret_key"]
    assert secret_key not in box.files["config.json"]
    assert '"host": "0.0.0.0"' in box.files["config.json"]  # listens on the pod's addresses
    assert "uploads" in box.files["config.json"]
    assert secret_key in box.secret_files["secrets.json"]
    assert '"url": "http://files:9000"' in box.secret_files["secrets.json"]
    assert box.ready == ReadyCheck(http="/__tempstack/health", port=9000)

    body = manifests.workload(
        "files",
        "ns",
        {names.SERVICE: "files", names.RUN: "r1"},
        box,
        ports=[9000],
        secret_name=None,
        aliases={},
        grace=5,
        stateful=False,
    )
    pod = body["spec"]["template"]["spec"]
    assert secret_key not in repr(body)
    files = {v["name"]: v for v in pod["volumes"]}["files"]["projected"]
    assert files["sources"] == [
        {"configMap": {"name": "files-files"}},
        {"secret": {"name": "files-files"}},
    ]
    assert files["defaultMode"] == 0o444  # an image's non-root user reads them too
    (unpack,) = pod["initContainers"]
    assert unpack["image"] == "servers:1" and unpack["command"][:3] == ["python3", "-m", "tarfile"]
    (main,) = pod["containers"]
    assert {"name": "PYTHONPATH", "value": CODE_DIR} in main["env"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["code"] == CODE_DIR
    assert main["command"][-2:] == [
        f"{mounts['files']}/config.json",
        f"{mounts['files']}/secrets.json",
    ]

    # a credential in the spec (a given key) moves the config to the Secret
    given = S3Service(access_key="AKIAGIVEN", secret_key="given-secret-key")
    plan = ServicePlan("files", given, kind, "127.0.0.1", 9000, kind.make_secrets(given))
    box = kind.container(plan, ctx)
    manifests.credentials_apart(box, set(plan.secrets.values()))
    assert not box.files and set(box.secret_files) == {"config.json", "secrets.json"}


def test_oidc_users_passwords_never_reach_a_config_map(tmp_path: Path) -> None:
    from tempstack.services.base import PrepareContext, ServicePlan
    from tempstack.services.kinds import KINDS
    from tempstack.spec.outside import OidcService

    kind = KINDS["oidc"]
    spec = OidcService.model_validate(
        {
            "clients": [{"id": "app", "redirect_uris": ["http://localhost/cb"]}],
            "users": [{"subject": "alice", "password": "wonderland"}],
        }
    )
    plan = ServicePlan("auth", spec, kind, "127.0.0.1", 9100, kind.make_secrets(spec))
    ctx = PrepareContext("r", tmp_path, tmp_path, tmp_path, {}, remote=True, image="i")
    box = kind.container(plan, ctx)
    assert not box.files and "wonderland" in box.secret_files["config.json"]


def test_credentials_in_a_ready_command_come_from_the_environment() -> None:
    """The kubelet does not expand $(VAR) in exec probes: the shell reads the Secret's value."""
    import os
    import subprocess

    secret = "pa ss'w$rd"  # quotes, spaces and $ survive
    argv = ["printf", "%s|", f"postgresql://u:{secret}@db/app", "-c", "select 1", "", secret]
    probe_argv, env = manifests.hide_secrets_in_probe(argv, {secret})
    assert secret not in repr(probe_argv) and probe_argv[:2] == ["/bin/sh", "-c"]
    out = subprocess.run(probe_argv, env={**os.environ, **env}, capture_output=True, text=True)
    assert out.stdout == f"postgresql://u:{secret}@db/app|-c|select 1||{secret}|"
    plain = ["redis-cli", "ping"]
    assert manifests.hide_secrets_in_probe(plain, {secret}) == (plain, {})


def test_plain_api_calls_time_out_and_streams_do_not() -> None:
    from tempstack.backends.kubernetes.client import API_TIMEOUT, Timed

    calls: list[dict[str, Any]] = []

    class Group:
        def read_namespace(self, name: str, **kwargs: Any) -> str:
            """:return: V1Namespace"""
            calls.append(kwargs)
            return name

        list_namespaced_pod = read_namespace
        connect_get_namespaced_pod_exec = read_namespace

    group = Timed(Group())
    assert group.read_namespace("a") == "a"
    group.read_namespace("a", _request_timeout=5)
    group.list_namespaced_pod("ns", watch=True, _preload_content=False)
    group.list_namespaced_pod("ns", follow=True)
    assert [c.get("_request_timeout") for c in calls] == [API_TIMEOUT, 5, None, None]
    # kubernetes.stream needs the bound method; Watch reads the doc of what it calls
    assert group.connect_get_namespaced_pod_exec.__self__ is group._group
    assert "V1Namespace" in (group.list_namespaced_pod.__doc__ or "")


def test_a_browser_maps_the_cluster_names_to_the_forwards() -> None:
    from tempstack.plugins.playwright_fixtures import launch_args

    args = launch_args({"args": ["--x"]}, "/usr/bin/chromium", True, "auth,web")["args"]
    assert "--host-resolver-rules=MAP auth 127.0.0.1, MAP web 127.0.0.1" in args
    assert args[0] == "--x" and "--no-sandbox" in args
    assert not any("host-resolver" in a for a in launch_args({}, None, False)["args"])


def test_which_image_a_service_runs_in(write_stack: Any) -> None:
    from tempstack.spec.placement import image_for

    spec = load(
        write_stack(
            BASE
            + '[services.m]\nkind = "mail"\n'
            + '[services.s]\nkind = "s3"\n'
            + '[services.o]\nkind = "oidc"\nimage = "own"\n'
            + 'clients = [{ id = "a", redirect_uris = ["http://x/cb"] }]\n'
            + '[services.db]\nkind = "postgres"\n'
            + '[kubernetes.images]\nservers = "all-servers"\ns3 = "just-s3"\n'
        )
    ).spec
    found = {name: image_for(spec, svc) for name, svc in spec.services.items()}
    # the service's own, else its kind's, else the servers' one; postgres keeps its default
    assert found == {"m": "all-servers", "s": "just-s3", "o": "own", "db": None}
