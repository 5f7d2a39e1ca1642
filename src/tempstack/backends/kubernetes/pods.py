"""Pod states from one watch per run: waits wake on events, never on a fixed sleep.

A pod that cannot get going (an image that cannot be pulled, a container that keeps
crashing, nowhere to schedule it) is reported the moment the cluster says so, with the
reason and the pod's events, instead of after the readiness timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import watch
from tempstack.backends.kubernetes import names
from tempstack.backends.kubernetes.client import ApiException, Clients

#: waiting reasons that do not fix themselves while we wait
STUCK = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
#: stuck only when something named is missing; otherwise a kubelet cache catching up
#: ("failed to sync secret cache") that the next attempt gets past
STUCK_IF_MISSING = frozenset({"CreateContainerConfigError", "CreateContainerError"})

T = TypeVar("T")


@dataclass
class PodState:
    name: str
    ready: bool = False
    problem: str | None = None  # why it will not become ready by itself
    exit_code: int | None = None  # the main container's, once it has terminated
    ip: str | None = None  # the pod's own address, once it has one
    started: bool = False  # the main container runs or ran: its image is pulled
    container: str = "main"  # the one the problem is in (an init container's name)


def assess(pod: Any, job: bool) -> PodState:
    """What a pod's status says: ready, stuck (and why), or exited (for a job)."""
    status = pod.status
    state = PodState(pod.metadata.name, ip=status.pod_ip)
    for cond in status.conditions or []:
        if cond.type == "Ready" and cond.status == "True":
            state.ready = True
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason:
            state.problem = f"{cond.reason}: {cond.message or 'not scheduled'}"
    statuses = [*(status.init_container_statuses or []), *(status.container_statuses or [])]
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        missing = waiting is not None and "not found" in (waiting.message or "")
        if waiting is not None and (
            waiting.reason in STUCK or (waiting.reason in STUCK_IF_MISSING and missing)
        ):
            state.problem = f"{waiting.reason}: {waiting.message or cs.image}"
        terminated = cs.state.terminated if cs.state else None
        last = cs.last_state.terminated if cs.last_state else None
        if cs.name != "main":
            if terminated is not None and terminated.exit_code != 0:
                state.problem = f"init container {cs.name} exited with code {terminated.exit_code}"
                state.container = cs.name
            continue
        state.started = terminated is not None or bool(cs.state and cs.state.running)
        if terminated is not None:
            state.exit_code = terminated.exit_code
        ended = terminated or last
        if not job and ended is not None:
            state.exit_code = ended.exit_code
            reason = waiting.reason if waiting is not None else (ended.reason or "Exited")
            state.problem = f"{reason}: the container exited with code {ended.exit_code}"
    if job and status.phase == "Failed" and state.exit_code is None:
        state.problem = f"{status.reason or 'Failed'}: {status.message or 'the pod failed'}"
    return state


class PodWatch:
    """The run's pods, kept current by one watch, with waiters woken on every change."""

    def __init__(
        self, clients: Clients, namespace: str, tick: Callable[[], None] | None = None
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.tick = tick  # called each time the watch is renewed (about once a minute)
        self.pods: dict[str, Any] = {}
        self._cv = threading.Condition()
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name="ts-k8s-pods", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    listed = self.clients.core.list_namespaced_pod(self.namespace)
                    with self._cv:
                        self.pods = {p.metadata.name: p for p in listed.items}
                        self._cv.notify_all()
                    version = listed.metadata.resource_version
                if self.tick is not None:
                    with contextlib.suppress(Exception):
                        self.tick()
                self._watch = watch.Watch()
                if self._stopped.is_set():  # stop() came before this watch existed
                    return
                for event in self._watch.stream(
                    self.clients.core.list_namespaced_pod,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=60,
                ):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    with self._cv:
                        if event["type"] == "DELETED":
                            self.pods.pop(pod.metadata.name, None)
                        else:
                            self.pods[pod.metadata.name] = pod
                        self._cv.notify_all()
                    if self._stopped.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:  # our version is too old: list again
                    version = None
                    continue
                if self._stopped.wait(0.5):
                    return
                version = None
            except Exception:  # a dropped connection: pick up where we were
                if self._stopped.wait(0.5):
                    return
                version = None

    def stop(self) -> None:
        """End the watch now: its open response is closed under the blocked read."""
        self._stopped.set()
        with self._cv:
            self._cv.notify_all()
        deadline = time.monotonic() + 5
        while self._thread.is_alive() and time.monotonic() < deadline:
            current = self._watch
            if current is not None:
                current.stop()
                resp = getattr(current, "_resp", None)
                if resp is not None:
                    with contextlib.suppress(Exception):
                        resp.close()
            self._thread.join(timeout=0.1)

    def of(self, label: str, value: str) -> list[Any]:
        with self._cv:
            return [
                p
                for p in self.pods.values()
                if (p.metadata.labels or {}).get(label) == value
                and p.metadata.deletion_timestamp is None
            ]

    def newest(self, label: str, value: str) -> Any:
        """The newest live pod carrying ``label=value`` (a replaced pod may linger)."""
        found = self.of(label, value)
        return max(found, key=lambda p: p.metadata.creation_timestamp or 0) if found else None

    def wait_for(
        self,
        check: Callable[[], T | None],
        deadline: float | None,
        cancel: threading.Event | None = None,
    ) -> T | None:
        """``check()`` after every change until it returns something, the deadline, or cancel."""
        with self._cv:
            while True:
                found = check()
                if found is not None:
                    return found
                if self._stopped.is_set() or (cancel is not None and cancel.is_set()):
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                # cancel is an Event that cannot notify us; look at it now and then
                self._cv.wait(0.25 if left is None else min(left, 0.25))


def service_pod(pods: PodWatch, service: str, job: bool) -> PodState | None:
    """The newest pod of a service (a restarted Deployment may briefly have two)."""
    newest = pods.newest(names.SERVICE, names.object_name(service))
    return None if newest is None else assess(newest, job)


def events_of(clients: Clients, namespace: str, pod: str | None = None) -> list[str]:
    """Events, oldest first, as ``<pod>: <type> <reason>: <message>`` lines."""
    selector = f"involvedObject.name={pod}" if pod else None
    with contextlib.suppress(Exception):
        items = clients.core.list_namespaced_event(namespace, field_selector=selector).items
        items.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        return [
            f"{e.involved_object.kind}/{e.involved_object.name}: {e.type} {e.reason}: "
            f"{(e.message or '').strip()}" + (f" (x{e.count})" if (e.count or 1) > 1 else "")
            for e in items
        ]
    return []
