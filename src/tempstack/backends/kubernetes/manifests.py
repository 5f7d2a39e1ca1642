"""The objects a run creates, as plain manifests (dicts the client sends as they are).

Data services become a StatefulSet (a stable pod name, the data on a scratch volume that
dies with the namespace), other services a Deployment, jobs and in-cluster stages a Job.
Pods reach each other by the services' names through ``hostAliases`` pointing at the
Services' cluster IPs, so a cluster without DNS add-ons works the same.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from tempstack.backends.kubernetes import names
from tempstack.services.base import CODE_DIR, CONFIG_DIR, Container, ReadyCheck

Manifest = dict[str, Any]

MAIN = "main"  # the container name of every workload
#: the ConfigMap with tempstack's package (a gzipped tar), one per run, for the pods of
#: kinds served by tempstack's own servers
CODE_CONFIG_MAP = "tempstack-code"
CODE_ARCHIVE = "tempstack.tgz"


def meta(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        data["namespace"] = namespace
    return data


def namespace(name: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None, labels)}


def secret(name: str, ns: str, labels: dict[str, str], data: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, ns, labels),
        "type": "Opaque",
        "stringData": dict(data),
    }


def config_map(
    name: str,
    ns: str,
    labels: dict[str, str],
    binary: dict[str, str] | None = None,
    text: dict[str, str] | None = None,
) -> Manifest:
    """``binary``: file name -> base64 text; ``text``: file name -> text."""
    body: Manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns, labels)}
    if binary:
        body["binaryData"] = dict(binary)
    if text:
        body["data"] = dict(text)
    return body


def service(name: str, ns: str, labels: dict[str, str], ports: list[int]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns, labels),
        "spec": {
            "selector": {names.SERVICE: labels[names.SERVICE], names.RUN: labels[names.RUN]},
            "ports": [
                {"name": f"p{port}", "port": port, "targetPort": port, "protocol": "TCP"}
                for port in ports
            ],
        },
    }


def _escape(value: str) -> str:
    """The kubelet expands ``$(VAR)`` in env values; ours are literal."""
    return value.replace("$(", "$$(")


def hide_secrets(
    argv: list[str], secrets: Iterable[str], prefix: str = "TS_SECRET"
) -> tuple[list[str], dict[str, str]]:
    """Credentials inside a command moved to variables the kubelet expands from the Secret.

    ``${db.url}`` in a command would otherwise stand in the Deployment's spec in plain
    text, readable by anyone who may list workloads.
    """
    env: dict[str, str] = {}
    out = list(argv)
    for value in sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True):
        if not any(value in arg for arg in out):
            continue
        name = f"{prefix}_{len(env)}"
        env[name] = value
        out = [arg.replace(value, f"$({name})") for arg in out]
    return out, env


def hide_secrets_in_probe(
    argv: list[str], secrets: Iterable[str]
) -> tuple[list[str], dict[str, str]]:
    """A ``ready.command`` with its credentials read from the container's environment.

    The kubelet does not expand ``$(VAR)`` in an exec probe, so a probe holding a
    credential runs through ``/bin/sh -c``, with the credential as a variable from the
    Secret (an exec probe inherits the container's environment).
    """
    prefix = "TS_PROBE_SECRET"
    marked, env = hide_secrets(argv, secrets, prefix)
    if not env:
        return argv, {}
    marker = re.compile(rf"\$\(({prefix}_\d+)\)")

    def word(arg: str) -> str:
        pieces = marker.split(arg)  # literal, name, literal, name, ...
        out = [
            f'"${{{piece}}}"' if i % 2 else shlex.quote(piece)
            for i, piece in enumerate(pieces)
            if i % 2 or piece
        ]
        return "".join(out) or "''"

    return ["/bin/sh", "-c", " ".join(word(arg) for arg in marked)], env


def probe(check: ReadyCheck) -> dict[str, Any]:
    timing = {"periodSeconds": 1, "timeoutSeconds": 5, "failureThreshold": 3}
    if check.http is not None:
        return {"httpGet": {"path": check.http, "port": check.port}, **timing}
    if check.tcp is not None:
        return {"tcpSocket": {"port": check.tcp}, **timing}
    assert check.exec is not None
    return {"exec": {"command": list(check.exec)}, **timing}


def container(spec: Container, secret_name: str | None, ports: list[int]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": MAIN,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": _escape(v)} for k, v in spec.env.items()],
    }
    if spec.command is not None:
        body["command"] = list(spec.command)
    if spec.args is not None:
        body["args"] = list(spec.args)
    if secret_name is not None:
        body["envFrom"] = [{"secretRef": {"name": secret_name}}]
    if spec.workdir:
        body["workingDir"] = spec.workdir
    if ports:
        body["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    if spec.ready is not None:
        body["readinessProbe"] = probe(spec.ready)
    mounts = [{"name": v, "mountPath": path} for v, path in _mounts(spec).items()]
    if mounts:
        body["volumeMounts"] = mounts
    return body


def _mounts(spec: Container) -> dict[str, str]:
    """Volume name -> where the main container has it."""
    mounts = {}
    if spec.data_dir:
        mounts["data"] = spec.data_dir
    if spec.files or spec.secret_files:
        mounts["files"] = CONFIG_DIR
    if spec.ships_code:
        mounts["code"] = CODE_DIR
    return mounts


def credentials_apart(spec: Container, secrets: Iterable[str]) -> None:
    """A file with a credential in it (a given key, a password interpolated into a mock
    route) moves to the Secret; it is mounted in the same directory either way."""
    values = [v for v in secrets if v]
    for name, text in list(spec.files.items()):
        if any(value in text for value in values):
            spec.secret_files[name] = spec.files.pop(name)


def files_name(obj: str) -> str:
    """The ConfigMap holding a service's ``files``, and the Secret its ``secret_files``."""
    return f"{obj}-files"


def volumes(spec: Container, obj: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if spec.data_dir:
        out.append({"name": "data", "emptyDir": {}})
    sources: list[dict[str, Any]] = []
    if spec.files:
        sources.append({"configMap": {"name": files_name(obj)}})
    if spec.secret_files:
        sources.append({"secret": {"name": files_name(obj)}})
    if sources:  # one directory, whichever object each file is in; readable by any user
        out.append({"name": "files", "projected": {"sources": sources, "defaultMode": 0o444}})
    if spec.ships_code:
        out.append({"name": "code", "emptyDir": {}})
        out.append({"name": "code-archive", "configMap": {"name": CODE_CONFIG_MAP}})
    return out


def unpack(
    image: str, source: str, archive: str, volume: str, dest: str, python: bool = False
) -> dict[str, Any]:
    """An init container: ``archive`` (in volume ``source``) unpacked into ``volume`` at
    ``dest``. ConfigMap keys cannot hold directories, so a tree travels as one archive.
    ``python``: with Python's tarfile, for images that have Python but maybe no tar."""
    path = f"/tempstack/in/{archive}"
    command = ["tar", "-xzf", path, "-C", dest]
    if python:
        command = ["python3", "-m", "tarfile", "-e", path, dest]
    return {
        "name": "unpack",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "volumeMounts": [
            {"name": source, "mountPath": "/tempstack/in"},
            {"name": volume, "mountPath": dest},
        ],
    }


def pod_spec(
    containers: list[dict[str, Any]],
    aliases: dict[str, str],
    *,
    restart: str = "Always",
    grace: float = 5.0,
    volumes: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": containers,
        "restartPolicy": restart,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": max(1, round(grace)),
    }
    if aliases:
        by_ip: dict[str, list[str]] = {}
        for host, ip in sorted(aliases.items()):
            by_ip.setdefault(ip, []).append(host)
        spec["hostAliases"] = [{"ip": ip, "hostnames": hosts} for ip, hosts in by_ip.items()]
    if volumes:
        spec["volumes"] = volumes
    if init:
        spec["initContainers"] = init
    return spec


def workload(
    name: str,
    ns: str,
    labels: dict[str, str],
    spec: Container,
    *,
    ports: list[int],
    secret_name: str | None,
    aliases: dict[str, str],
    grace: float,
    stateful: bool,
) -> Manifest:
    """A Deployment, or for a data service a StatefulSet, of one pod."""
    init = []
    if spec.ships_code:
        init.append(unpack(spec.image, "code-archive", CODE_ARCHIVE, "code", CODE_DIR, True))
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": pod_spec(
            [container(spec, secret_name, ports)],
            aliases,
            grace=grace,
            volumes=volumes(spec, name),
            init=init,
        ),
    }
    body: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": {names.SERVICE: labels[names.SERVICE]}},
        "template": template,
    }
    if stateful:
        body["serviceName"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet" if stateful else "Deployment",
        "metadata": meta(name, ns, labels),
        "spec": body,
    }


def job(
    name: str,
    ns: str,
    labels: dict[str, str],
    pod: dict[str, Any],
    deadline: float | None,
) -> Manifest:
    """A Job that runs once: no retries (a failure is the run's failure), bounded in time."""
    body: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
    }
    if deadline is not None:
        body["activeDeadlineSeconds"] = max(1, round(deadline))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, ns, labels),
        "spec": body,
    }


def ingress(
    name: str, ns: str, labels: dict[str, str], host: str, service_name: str, port: int
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(name, ns, labels),
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": service_name, "port": {"number": port}}
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }
