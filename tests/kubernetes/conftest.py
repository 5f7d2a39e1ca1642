"""Tests against a real cluster: whatever KUBECONFIG points to (``scripts/local-k8s up``).

Every test ends with a check that no namespace of a run that has finished is left
(terminating ones are on their way out; the tests that need them gone wait for that).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tempstack.backends.kubernetes import names
from tempstack.backends.kubernetes.client import Clients, connect

from ..integration.helpers import states, tagged


@pytest.fixture(scope="session")
def kube() -> Iterator[Clients]:
    if not os.environ.get("KUBECONFIG"):
        pytest.fail(
            "KUBECONFIG is not set: start the local cluster with `scripts/local-k8s up` "
            "and export what it prints (.ci/run does)"
        )
    clients = connect()
    try:
        yield clients
    finally:
        clients.close()


def live_namespaces(kube: Clients) -> list[Any]:
    return [
        ns
        for ns in kube.core.list_namespace(label_selector=names.SELECTOR).items
        if ns.status.phase != "Terminating"
    ]


@pytest.fixture(autouse=True)
def no_namespace_left(kube: Clients) -> Iterator[None]:
    """No namespace, process or run directory of a finished run is left."""
    before = {ns.metadata.name for ns in live_namespaces(kube)}
    yield
    left = [ns.metadata.name for ns in live_namespaces(kube) if ns.metadata.name not in before]
    assert not left, f"namespaces left behind: {left}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (tagged() or states()):
        time.sleep(0.05)
    assert not tagged(), f"processes still carry a run id of this session: {tagged()}"
    assert not states(), f"run directories left: {[r['run_id'] for r in states()]}"
