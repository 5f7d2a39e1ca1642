"""A run's namespace: created labelled, deleted (only if it is ours), found again by ``gc``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from tempstack.backends.kubernetes import manifests, names
from tempstack.backends.kubernetes.client import ApiException, Clients, connect

#: a run's namespace expires this long after it starts unless the run says otherwise;
#: only ``gc`` reads it, for namespaces a killed run could not delete
DEFAULT_EXPIRY = 4 * 3600.0
GONE_TIMEOUT = 180.0


def labels(run_id: str, stack: str, expires: float) -> dict[str, str]:
    return {
        names.MANAGED_BY: names.MANAGER,
        names.RUN: names.label_value(run_id),
        names.STACK: names.label_value(stack),
        names.OWNER: names.owner(),
        names.HOST: names.this_host(),
        names.EXPIRES: str(int(expires)),
    }


def create(clients: Clients, name: str, labels: dict[str, str]) -> None:
    clients.core.create_namespace(manifests.namespace(name, labels))


def set_expiry(clients: Clients, name: str, expires: float) -> None:
    clients.core.patch_namespace(name, {"metadata": {"labels": {names.EXPIRES: str(int(expires))}}})


def delete(clients: Clients, name: str, *, wait: bool = False) -> float | None:
    """Delete a tempstack namespace; with ``wait``, seconds until it is gone (None: timeout).

    A namespace without tempstack's labels is never deleted, whatever its name.
    """
    try:
        ns = clients.core.read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return 0.0
        raise
    if (ns.metadata.labels or {}).get(names.MANAGED_BY) != names.MANAGER:
        raise RuntimeError(f"namespace {name} is not tempstack's; not deleting it")
    started = time.monotonic()
    try:
        clients.core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
    if not wait:
        return None
    return wait_gone(clients, name, started)


def wait_gone(clients: Clients, name: str, started: float) -> float | None:
    deadline = started + GONE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            clients.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return time.monotonic() - started
            raise
        w = watch.Watch()
        for event in w.stream(
            clients.core.list_namespace,
            field_selector=f"metadata.name={name}",
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        ):
            if event["type"] == "DELETED":
                w.stop()
                return time.monotonic() - started
    return None


def delete_recorded(recorded: dict[str, Any]) -> None:
    """From a run's state file: what the reaper and ``down`` call when the runner is gone."""
    clients = connect(recorded.get("kubeconfig"), recorded.get("context"))
    try:
        delete(clients, str(recorded["namespace"]))
    finally:
        clients.close()


@dataclass
class Found:
    name: str
    run_id: str
    stack: str
    owner: str
    host: str
    expires: float | None
    phase: str

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires < time.time()


def list_runs(clients: Clients) -> list[Found]:
    """Every namespace carrying tempstack's labels."""
    out = []
    for ns in clients.core.list_namespace(label_selector=names.SELECTOR).items:
        lab = ns.metadata.labels or {}
        try:
            expires: float | None = float(lab.get(names.EXPIRES, ""))
        except ValueError:
            expires = None
        out.append(
            Found(
                name=ns.metadata.name,
                run_id=lab.get(names.RUN, ""),
                stack=lab.get(names.STACK, ""),
                owner=lab.get(names.OWNER, ""),
                host=lab.get(names.HOST, ""),
                expires=expires,
                phase=ns.status.phase if ns.status else "",
            )
        )
    return out


def reapable(found: Found, live_runs: set[str]) -> str | None:
    """Why ``gc`` may delete this namespace, or None.

    Expired: unless its run is alive here (a live run renews its expiry anyway). Run gone:
    only for this user's runs on this machine, the only place we can tell that a run's
    process no longer exists.
    """
    if found.phase == "Terminating":
        return None
    ours = found.host == names.this_host() and found.owner == names.owner()
    if ours and found.run_id in live_runs:
        return None  # alive here, whatever its label says
    if found.expired:
        return "expired"
    if ours:
        return "its run is gone"
    return None
