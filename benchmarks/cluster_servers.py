"""The outside-world kinds (s3, mail, http-mock, oidc) on a real cluster against locally.

The same stack, in the same process, alternately with ``--backend kubernetes`` (a pod per
server: the code ConfigMap unpacked by an init container, config and secrets mounted, the
kubelet's http probe every second, a forward per port) and ``--backend local`` (the
same servers as processes here). Time to ready of all four, median of ``--runs`` (5);
the ratio is what running them in a cluster costs on this machine.

    KUBECONFIG=... python benchmarks/cluster_servers.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tempstack import Stack

STACK = """
[stack]
name = "kservers"

[services.files]
kind = "s3"
buckets = ["uploads"]

[services.mail]
kind = "mail"

[services.pay]
kind = "http-mock"
routes = [{ method = "GET", path = "/ping", response = { json = { ok = true } } }]

[services.auth]
kind = "oidc"
clients = [{ id = "app", redirect_uris = ["http://localhost/cb"] }]
users = [{ subject = "alice", password = "wonderland" }]

[kubernetes.images]
servers = "tempstack.local/servers:3.11"
"""


def ready_once(path: Path, backend: str) -> float:
    engine = Stack.load(path).engine(backend=backend)
    started = time.monotonic()
    try:
        engine.start()
        return time.monotonic() - started
    finally:
        engine.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"kubernetes": [], "local": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tempstack.toml"
        path.write_text(STACK)
        ready_once(path, "kubernetes")  # warm: the image unpacked on the node
        for i in range(args.runs):  # alternate, so drift hits both sides alike
            for backend in times:
                times[backend].append(ready_once(path, backend))
            print(
                f"run {i + 1}: kubernetes {times['kubernetes'][-1]:.2f}s, "
                f"local {times['local'][-1]:.2f}s",
                file=sys.stderr,
            )
    med = {f"{k}_ready_s": statistics.median(v) for k, v in times.items()}
    med["ratio"] = med["kubernetes_ready_s"] / med["local_ready_s"]
    print(json.dumps(med, indent=2))
    print(
        f"s3 + mail + http-mock + oidc ready: kubernetes {med['kubernetes_ready_s']:.2f}s vs "
        f"local {med['local_ready_s']:.2f}s (ratio {med['ratio']:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
