"""Time to ready and namespace teardown on a real cluster (``scripts/local-k8s up``).

tempstack brings up postgres + redis + one process service with ``--backend kubernetes``
(namespace, Services, Secrets, StatefulSets, Deployment, watches, port-forwards, the
databases made through the forward) and tears it down, both without waiting for the
namespace to go (what a user waits for) and with ``wait``; the peer, in the same process,
creates the same objects by hand with the same client, in the same order (postgres and
redis, a watch until their pods are Ready, then the app and a watch again: the pipeline
our users write with kubectl apply/wait), which is the least any tool must wait. Median
of ``--runs`` (5).

    KUBECONFIG=... python benchmarks/cluster.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import watch
from tempstack import Stack
from tempstack.backends.kubernetes import manifests, names, namespaces
from tempstack.backends.kubernetes.client import connect
from tempstack.services.base import Container, ReadyCheck

IMAGE = "tempstack.local/python:3.11"
STACK = f"""
[stack]
name = "kbench"
backend = "kubernetes"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.web]
command = ["python3", "-m", "http.server", "${{self.port}}"]
ready = {{ http = "/" }}
depends_on = ["db", "cache"]
env = {{ DATABASE_URL = "${{db.url}}", REDIS_URL = "${{cache.url}}" }}

[kubernetes.images]
postgres = "tempstack.local/postgres:15"
redis = "tempstack.local/redis:7"
process = "{IMAGE}"

[profile]
proxy = false
"""


def tempstack_once(path: Path, wait: bool) -> tuple[float, float, float | None]:
    stack = Stack.load(path)
    started = time.monotonic()
    engine = stack.engine(wait=wait)
    engine.start()
    ready = time.monotonic() - started
    t0 = time.monotonic()
    engine.stop()
    returned = time.monotonic() - t0
    deleted = getattr(engine.backend, "deleted_in", None)
    return ready, returned, deleted


def peer_once(clients: Any, run: int) -> tuple[float, float]:
    """The same objects by hand; a watch until every pod is Ready; delete and wait gone."""
    ns = f"ts-bench-peer-{int(time.time())}-{run}"
    labels = namespaces.labels(ns, "kbench-peer", time.time() + 600)
    started = time.monotonic()
    namespaces.create(clients, ns, labels)
    ports = {"db": 5432, "cache": 6379, "web": 8080}
    aliases = {}
    for svc, port in ports.items():
        lab = {**labels, names.SERVICE: svc}
        made = clients.core.create_namespaced_service(ns, manifests.service(svc, ns, lab, [port]))
        aliases[svc] = made.spec.cluster_ip
    specs = {
        "db": Container(
            image="tempstack.local/postgres:15",
            env={"POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD": "pw"},
            ready=ReadyCheck(exec=["pg_isready", "-q", "-h", "127.0.0.1", "-U", "app"]),
            data_dir="/var/lib/postgresql/data",
        ),
        "cache": Container(
            image="tempstack.local/redis:7",
            args=["redis-server", "--save", ""],
            ready=ReadyCheck(exec=["sh", "-c", "redis-cli ping | grep -q PONG"]),
        ),
        "web": Container(
            image=IMAGE,
            command=["python3", "-m", "http.server", "8080"],
            ready=ReadyCheck(http="/", port=8080),
        ),
    }

    def create_one(svc: str) -> None:
        body = manifests.workload(
            svc,
            ns,
            {**labels, names.SERVICE: svc},
            specs[svc],
            ports=[ports[svc]],
            secret_name=None,
            aliases=aliases,
            grace=5,
            stateful=svc != "web",
        )
        if body["kind"] == "StatefulSet":
            clients.apps.create_namespaced_stateful_set(ns, body)
        else:
            clients.apps.create_namespaced_deployment(ns, body)

    def wait_ready(wanted: set[str]) -> None:
        ready_pods: set[str] = set()
        w = watch.Watch()
        for event in w.stream(clients.core.list_namespaced_pod, ns, timeout_seconds=300):
            pod = event["object"]
            conditions = pod.status.conditions or []
            ok = any(c.type == "Ready" and c.status == "True" for c in conditions)
            svc = (pod.metadata.labels or {}).get(names.SERVICE)
            if ok and svc:
                ready_pods.add(svc)
            if wanted <= ready_pods:
                w.stop()

    # the order the stack asks for, as a hand-written pipeline does it: data services,
    # wait, then the app, wait
    for wave in (("db", "cache"), ("web",)):
        for svc in wave:
            create_one(svc)
        wait_ready(set(wave))
    ready = time.monotonic() - started
    t0 = time.monotonic()
    deleted = namespaces.delete(clients, ns, wait=True)
    assert deleted is not None
    return ready, time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    clients = connect()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tempstack.toml"
        path.write_text(STACK)
        ours: dict[str, list[float]] = {"ready": [], "return": [], "return_wait": [], "gone": []}
        peer: dict[str, list[float]] = {"ready": [], "gone": []}
        tempstack_once(path, wait=True)  # warm: images unpacked, first pods scheduled
        for i in range(args.runs):  # alternate, so drift hits both sides alike
            ready, returned, _ = tempstack_once(path, wait=False)
            ours["ready"].append(ready)
            ours["return"].append(returned)
            ready, returned, gone = tempstack_once(path, wait=True)
            ours["ready"].append(ready)
            ours["return_wait"].append(returned)
            if gone is not None:
                ours["gone"].append(gone)
            p_ready, p_gone = peer_once(clients, i)
            peer["ready"].append(p_ready)
            peer["gone"].append(p_gone)
            print(
                f"run {i + 1}: tempstack ready {ours['ready'][-1]:.2f}s, "
                f"teardown returns {ours['return'][-1] * 1000:.0f} ms (no wait), "
                f"namespace gone {gone or 0:.2f}s | peer ready {p_ready:.2f}s, gone {p_gone:.2f}s",
                file=sys.stderr,
            )
    med = {f"tempstack_{k}_s": statistics.median(v) for k, v in ours.items() if v}
    med.update({f"peer_{k}_s": statistics.median(v) for k, v in peer.items()})
    med["ready_ratio"] = med["tempstack_ready_s"] / med["peer_ready_s"]
    print(json.dumps(med, indent=2))
    print(
        f"time to ready: tempstack {med['tempstack_ready_s']:.2f}s vs peer "
        f"{med['peer_ready_s']:.2f}s (ratio {med['ready_ratio']:.2f}); teardown returns in "
        f"{med['tempstack_return_s'] * 1000:.0f} ms without --wait, namespace gone in "
        f"{med.get('tempstack_gone_s', 0):.2f}s (peer {med['peer_gone_s']:.2f}s)"
    )
    if args.json:
        args.json.write_text(json.dumps({"median": med, "tempstack": ours, "peer": peer}))
    left = [
        ns.metadata.name
        for ns in clients.core.list_namespace(label_selector=names.SELECTOR).items
        if ns.status.phase != "Terminating"
    ]
    print(f"namespaces left: {left or 'none'}")
    clients.close()
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
