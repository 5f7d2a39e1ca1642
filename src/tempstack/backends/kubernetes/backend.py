"""The Kubernetes backend: the run's services as workloads in a namespace of their own.

It keeps the local backend's run directory, state file and reaper (the recording proxy and
the port-forwards run here), and adds the namespace. Order, so that nothing exists before
it is recorded: run dir and state, then the namespace's name in the state, then the
namespace; if this process is killed, the reaper deletes the namespace, and ``tempstack gc
--backend kubernetes`` finds any it could not.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tempstack
from tempstack._files import tail
from tempstack.backends.kubernetes import archives, manifests, names, namespaces
from tempstack.backends.kubernetes.client import ApiException, Clients, api_message, connect
from tempstack.backends.kubernetes.client import reachable as check_reachable
from tempstack.backends.kubernetes.forward import Forward
from tempstack.backends.kubernetes.pods import PodState, PodWatch, assess, events_of, service_pod
from tempstack.backends.local import LocalBackend
from tempstack.errors import StartError
from tempstack.services.base import Container, PrepareContext, ServicePlan

LOG_LINES = 200
#: how long a container may take to start (its image pulled) before its readiness
#: timeout begins
PULL_TIMEOUT = 300.0


class KubeHandle:
    """A service's workload. It has no pid; "exited" means its pod cannot run."""

    def __init__(self, backend: KubernetesBackend, name: str, job: bool) -> None:
        self.backend = backend
        self.name = name
        self.job = job

    @property
    def pid(self) -> int | None:
        return None

    def state(self) -> PodState | None:
        return service_pod(self.backend.pods, self.name, self.job)

    def returncode(self) -> int | None:
        state = self.state()
        if state is None:
            return None
        if self.job:
            return state.exit_code
        return state.exit_code if state.problem else None

    def wait(self, timeout: float | None, cancel: threading.Event | None = None) -> int | None:
        """A job's exit code; raises when its pod cannot run at all (no image, say)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def done() -> tuple[str, Any] | None:
            state = self.state()
            if state is None:
                return None
            if state.exit_code is not None:
                return ("exit", state.exit_code)
            if state.problem:
                return ("problem", state)
            return None

        found = self.backend.pods.wait_for(done, deadline, cancel)
        if found is None:
            return None
        if found[0] == "problem":
            raise self.backend.stuck(self.name, found[1])
        return int(found[1])

    def stop(self, signal_name: str, timeout: float, force: threading.Event) -> int | None:
        """Keep the logs; the namespace's deletion stops the pod (after the collection)."""
        self.backend.save_log(self.name)
        return 0 if not self.job else self.returncode()


class KubernetesBackend(LocalBackend):
    name = "kubernetes"
    remote = True

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        wait: bool = False,
        expiry: float = namespaces.DEFAULT_EXPIRY,
        preview_host: str | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.kubeconfig = kubeconfig
        self.context = context
        self.wait_deleted = wait
        self.expiry = expiry
        self.preview_host = preview_host
        self.clients: Clients | None = None
        self.namespace = ""
        self.labels: dict[str, str] = {}
        self.aliases: dict[str, str] = {}  # object name -> the Service's cluster IP
        self.pod_ips: dict[str, str] = {}  # object name -> its ready pod's IP
        self.service_ports: dict[str, list[int]] = {}  # object name -> its Service's ports
        self.ingresses: dict[str, str] = {}  # object name -> preview host
        self.forwards: list[Forward] = []
        self.kube: dict[str, KubeHandle] = {}
        self._saved: set[str] = set()  # services whose log is in the run dir
        self._renewed = 0.0
        self._code_lock = threading.Lock()
        self._code_shipped = False
        #: every generated or given credential of the run, kept out of pod specs
        self.secret_values: set[str] = set()
        self._pods: PodWatch | None = None
        self._report_dir: Path | None = None
        self.deleted_in: float | None = None  # seconds, with --wait

    @property
    def pods(self) -> PodWatch:
        assert self._pods is not None, "backend not opened"
        return self._pods

    @property
    def api(self) -> Clients:
        assert self.clients is not None, "backend not opened"
        return self.clients

    # -- lifecycle -------------------------------------------------------------------------
    def open(self, run_id: str, stack: str, stack_file: Path, report_dir: Path) -> None:
        self.clients = connect(self.kubeconfig, self.context)
        try:
            check_reachable(self.clients)
        except BaseException:
            self.clients.close()
            raise
        super().open(run_id, stack, stack_file, report_dir)
        try:
            self._open_namespace(run_id, stack, report_dir)
        except BaseException:  # nothing half-made stays: the namespace, if any, goes too
            self.close()
            raise

    def _open_namespace(self, run_id: str, stack: str, report_dir: Path) -> None:
        clients = self.api
        self._report_dir = report_dir
        self.namespace = names.namespace(run_id)
        self.labels = namespaces.labels(run_id, stack, time.time() + self.expiry)
        self.record(
            kubernetes={
                "namespace": self.namespace,
                # resolved now: a later ``use-context`` must not send the cleanup elsewhere
                "kubeconfig": clients.kubeconfig,
                "context": clients.context,
                "server": clients.api.configuration.host,
            }
        )
        try:
            namespaces.create(clients, self.namespace, self.labels)
        except Exception as exc:
            self.namespace = ""  # not ours to delete (a 409 means someone else's)
            raise StartError(
                f"could not create namespace {names.namespace(run_id)}: {api_message(exc)}"
            ) from None
        self._renewed = time.monotonic()
        self._pods = PodWatch(clients, self.namespace, tick=self._renew_expiry)

    def _renew_expiry(self) -> None:
        """A live run's namespace never looks expired to ``gc``, however long it runs."""
        if time.monotonic() - self._renewed < self.expiry / 4:
            return
        self._renewed = time.monotonic()
        namespaces.set_expiry(self.api, self.namespace, time.time() + self.expiry)

    def object_labels(self, service: str, key: str = names.SERVICE) -> dict[str, str]:
        return {
            names.MANAGED_BY: names.MANAGER,
            names.RUN: self.labels[names.RUN],
            key: names.object_name(service),
        }

    def endpoint(self, service: str, needs_port: bool) -> tuple[str, int | None]:
        """A local port, forwarded to the same port number in the pod, and its Service."""
        host, port = super().endpoint(service, needs_port)
        if port is None or service.endswith(".proxy"):  # the local recording proxy
            return host, port
        if "." in service:  # ``mail.smtp``: one more port on the service's own Service
            self._add_port(service.split(".", 1)[0], port)
            return host, port
        obj = names.object_name(service)
        if obj in self.aliases:  # ``my_db`` and ``my-db``
            raise StartError(f"{service}: its Kubernetes name {obj!r} is taken by another service")
        try:
            created = self.api.core.create_namespaced_service(
                self.namespace,
                manifests.service(obj, self.namespace, self.object_labels(service), [port]),
            )
        except ApiException as exc:
            raise StartError(
                f"{service}: could not create its Service: {api_message(exc)}"
            ) from None
        self.aliases[obj] = created.spec.cluster_ip
        self.service_ports[obj] = [port]
        return host, port

    def _add_port(self, service: str, port: int) -> None:
        obj = names.object_name(service)
        ports = self.service_ports[obj] = [*self.service_ports[obj], port]
        body = manifests.service(obj, self.namespace, self.object_labels(service), ports)
        try:
            self.api.core.patch_namespaced_service(obj, self.namespace, body)
        except ApiException as exc:
            raise StartError(
                f"{service}: could not add port {port} to its Service: {api_message(exc)}"
            ) from None

    def host_aliases(self) -> dict[str, str]:
        """Service name -> address, for a new pod's ``/etc/hosts``.

        A ready service's pod IP: the Service's cluster IP works only once the endpoints
        controller and every node's proxy have caught up with the pod's readiness, which
        a dependent started at that moment would race (a refused connection). Services not
        ready yet keep their cluster IP.
        """
        return {**self.aliases, **self.pod_ips}

    def service_host(self, service: str) -> str:
        """How the other pods reach a service: its name, a host alias of its cluster IP."""
        return names.object_name(service)

    def start_service(self, plan: ServicePlan, ctx: PrepareContext) -> KubeHandle:
        try:
            return self._start_service(plan, ctx)
        except ApiException as exc:  # refused by the API server: say what it said, in a line
            raise StartError(
                f"{plan.name}: the cluster refused its objects: {api_message(exc)}",
                service=plan.name,
            ) from None

    def _start_service(self, plan: ServicePlan, ctx: PrepareContext) -> KubeHandle:
        name = plan.name
        obj = names.object_name(name)
        spec = plan.kind.container(plan, ctx)
        if spec.command is not None:  # (a kind's own args may use $(VAR) on purpose)
            spec.command, hidden = manifests.hide_secrets(spec.command, self.secret_values)
            spec.secret_env.update(hidden)
        if spec.ready is not None and spec.ready.exec is not None:
            spec.ready.exec, hidden = manifests.hide_secrets_in_probe(
                spec.ready.exec, self.secret_values
            )
            spec.secret_env.update(hidden)
        labels = self.object_labels(name)
        self.record_service(name, status="spawning", image=spec.image, object=obj)
        secret_name = None
        if spec.secret_env:
            secret_name = f"{obj}-env"
            self.api.core.create_namespaced_secret(
                self.namespace,
                manifests.secret(secret_name, self.namespace, labels, spec.secret_env),
            )
        self._create_files(obj, spec, labels)
        ports = self.service_ports.get(obj, [])
        if plan.kind.is_job:
            assert not (spec.files or spec.secret_files or spec.ships_code), "a Job mounts none"
            pod = manifests.pod_spec(
                [manifests.container(spec, secret_name, ports)],
                self.host_aliases(),
                restart="Never",
                grace=plan.spec.stop_timeout,
            )
            timeout = getattr(plan.spec, "timeout", None)
            self.api.batch.create_namespaced_job(
                self.namespace, manifests.job(obj, self.namespace, labels, pod, timeout)
            )
        else:
            body = manifests.workload(
                obj,
                self.namespace,
                labels,
                spec,
                ports=ports,
                secret_name=secret_name,
                aliases=self.host_aliases(),
                grace=plan.spec.stop_timeout,
                stateful=plan.kind.holds_data,
            )
            if body["kind"] == "StatefulSet":
                self.api.apps.create_namespaced_stateful_set(self.namespace, body)
            else:
                self.api.apps.create_namespaced_deployment(self.namespace, body)
        if self.preview_host and plan.port is not None and plan.spec.kind == "process":
            host = f"{obj}.{self.namespace}.{self.preview_host}"
            self.api.networking.create_namespaced_ingress(
                self.namespace,
                manifests.ingress(obj, self.namespace, labels, host, obj, plan.port),
            )
            self.ingresses[obj] = host
        handle = self.kube[name] = KubeHandle(self, name, plan.kind.is_job)
        for port in ports:
            self.forwards.append(
                Forward(self.api, self.namespace, self._ready_pod(name), port, port)
            )
        self.record_service(name, status="started")
        return handle

    def _create_files(self, obj: str, spec: Container, labels: dict[str, str]) -> None:
        """A service's files (ConfigMap) and secret files (Secret), and tempstack's code."""
        ns = self.namespace
        manifests.credentials_apart(spec, self.secret_values)
        if spec.files:
            body = manifests.config_map(manifests.files_name(obj), ns, labels, text=spec.files)
            self.api.core.create_namespaced_config_map(ns, body)
        if spec.secret_files:
            body = manifests.secret(manifests.files_name(obj), ns, labels, spec.secret_files)
            self.api.core.create_namespaced_secret(ns, body)
        if spec.ships_code:
            with self._code_lock:  # services start in parallel; one ConfigMap per run
                if not self._code_shipped:
                    self._ship_code()
                    self._code_shipped = True

    def _ship_code(self) -> None:
        package = archives.package()
        if len(package) > archives.MAX_ARCHIVE:  # a stray file in the installed package
            raise StartError(
                f"tempstack's package is {len(package) // 1024} KiB compressed, more than a "
                f"ConfigMap holds ({archives.MAX_ARCHIVE // 1024} KiB); remove what does not "
                f"belong in {Path(tempstack.__file__).parent}"
            )
        body = manifests.config_map(
            manifests.CODE_CONFIG_MAP,
            self.namespace,
            {names.MANAGED_BY: names.MANAGER, names.RUN: self.labels[names.RUN]},
            binary={manifests.CODE_ARCHIVE: base64.b64encode(package).decode()},
        )
        try:
            self.api.core.create_namespaced_config_map(self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:  # made by an earlier attempt whose answer was lost
                raise

    def _ready_pod(self, service: str) -> Any:
        def find() -> str | None:
            state = service_pod(self.pods, service, job=False)
            return state.name if state is not None and state.ready else None

        return find

    def wait_ready(self, name: str, timeout: float, cancel: threading.Event) -> bool:
        """Until the pod is Ready (its readiness probe passed); False if cancelled.

        The readiness timeout starts once the container does, as it does locally: pulling
        a big image for the first time is not the service being slow. A pull that fails
        is reported at once anyway; one that hangs gets ``PULL_TIMEOUT``. A pod that is
        never created (a quota, an admission rule) fails after the readiness timeout.
        """
        handle = self.kube[name]
        began = time.monotonic()

        def until(done: Callable[[PodState], bool]) -> Callable[[], PodState | None]:
            def check() -> PodState | None:
                state = handle.state()
                return state if state is not None and (done(state) or state.problem) else None

            return check

        # three phases, each with its own limit: a pod at all (quota, admission), its
        # container started (the image pulled), then ready
        phases: list[tuple[Callable[[PodState], bool], float, str]] = [
            (lambda s: True, timeout, "no pod was created"),
            (lambda s: s.started or s.ready, PULL_TIMEOUT, "its container did not start"),
            (lambda s: s.ready, timeout, "it was not ready"),
        ]
        state: PodState | None = None
        for phase in phases:
            state = self.pods.wait_for(until(phase[0]), time.monotonic() + phase[1], cancel)
            if state is None or state.problem:
                break
        if state is not None and state.problem:
            raise self.stuck(name, state)
        if state is None:
            if cancel.is_set():
                return False
            now = handle.state()
            _, limit, failure = phase
            raise StartError(
                f"{name}: {failure} within {limit:g}s "
                f"({time.monotonic() - began:.0f}s in all; pod {now.name if now else '-'})",
                service=name,
                log_tail=self._evidence(name, now),
            )
        if state.ip:
            self.pod_ips[names.object_name(name)] = state.ip
        return True

    def stuck(self, name: str, state: PodState) -> StartError:
        return StartError(
            f"{name}: pod {state.name} {state.problem}",
            service=name,
            returncode=state.exit_code,
            log_tail=self._evidence(name, state),
        )

    def _evidence(self, name: str, state: PodState | None) -> list[str]:
        """The pod's events, then its log (the crashed container's, if it restarted)."""
        pod = state.name if state is not None else None
        lines = [f"event {line}" for line in events_of(self.api, self.namespace, pod)]
        if state is not None and state.container != manifests.MAIN:  # a failed init container
            text = self._pod_log(name, 30, state.container) or ""
            return lines[-15:] + [f"{state.container}: {line}" for line in text.splitlines()]
        return lines[-15:] + self.log_tail(name, 30)

    # -- logs --------------------------------------------------------------------------------
    def _pod_log(self, name: str, lines: int | None, container: str = manifests.MAIN) -> str | None:
        state = service_pod(self.pods, name, self.kube[name].job) if name in self.kube else None
        if state is None:
            return None
        for previous in (False, True):
            with contextlib.suppress(Exception):
                text: str = self.api.core.read_namespaced_pod_log(
                    state.name,
                    self.namespace,
                    container=container,
                    tail_lines=lines,
                    previous=previous,
                    _request_timeout=10,
                )
                if text or previous:
                    return text
        return None

    def save_log(self, name: str) -> None:
        self._saved.add(name)
        text = self._pod_log(name, None)
        if text is not None:
            path = super().log_path(name)
            path.write_text(text)

    def log_path(self, service: str) -> Path:
        """The service's log, fetched from its pod the first time (a kept run was not stopped)."""
        if service in self.kube and service not in self._saved:
            self.save_log(service)
        return super().log_path(service)

    def log_tail(self, service: str, lines: int) -> list[str]:
        if service not in self.kube:
            return super().log_tail(service, lines)
        text = self._pod_log(service, lines)
        if text is None:
            return tail(super().log_path(service), lines)
        return text.splitlines()[-lines:]

    # -- teardown ----------------------------------------------------------------------------
    def collect(self) -> None:
        """Every pod's events and final state into the report, before anything is deleted."""
        if self._report_dir is None or self.clients is None:
            return
        out = self._report_dir / "kubernetes"
        out.mkdir(parents=True, exist_ok=True)
        (out / "events.log").write_text(
            "".join(f"{line}\n" for line in events_of(self.api, self.namespace))
        )
        pods = []
        for pod in list(self.pods.pods.values()):
            job = "job-name" in (pod.metadata.labels or {})  # set by the Job controller
            problem = assess(pod, job=job).problem
            pods.append(f"{pod.metadata.name}\t{pod.status.phase}\t{problem or ''}")
        (out / "pods.tsv").write_text("".join(f"{p}\n" for p in pods))
        for name in self.kube:
            if name not in self._saved:  # stopped services saved theirs already
                self.save_log(name)

    def close(self, *, keep_until: float | None = None) -> None:
        for forward in self.forwards:
            forward.close()
        if self.clients is None:
            super().close(keep_until=keep_until)
            return
        try:
            with contextlib.suppress(Exception):
                self.collect()
            if self._pods is not None:
                self._pods.stop()
            if self.namespace and keep_until is not None:
                namespaces.set_expiry(self.api, self.namespace, keep_until)
            elif self.namespace:
                self.deleted_in = namespaces.delete(
                    self.api, self.namespace, wait=self.wait_deleted
                )
                self.record(kubernetes_deleted=True)
        finally:
            super().close(keep_until=keep_until)
            self.clients.close()

    def reach(self) -> list[str]:
        """How to reach a kept run's services from another shell."""
        lines = []
        for obj, ports in self.service_ports.items():
            if obj in self.ingresses:
                lines.append(f"{obj}: http://{self.ingresses[obj]}/")
            pairs = " ".join(f"{port}:{port}" for port in ports)
            lines.append(f"{obj}: kubectl -n {self.namespace} port-forward service/{obj} {pairs}")
        return lines
