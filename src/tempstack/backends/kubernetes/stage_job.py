"""A stage run inside the cluster, as a Job in the run's namespace.

The stack directory goes in through a ConfigMap (a gzipped tar, unpacked by an init
container); the stage writes its report files to a scratch volume that a second container
keeps after the stage's own has exited, so they can be copied back through ``exec``.
Paths in the stage's command that point at this machine (the stack directory, the
stage's report directory, this Python) are rewritten to their places in the pod.
"""

from __future__ import annotations

import base64
import contextlib
import io
import sys
import tarfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes.stream import stream

from tempstack.backends.kubernetes import archives, manifests, names
from tempstack.backends.kubernetes.client import api_message
from tempstack.backends.kubernetes.pods import assess, events_of
from tempstack.errors import TempstackError
from tempstack.stages.outcome import Status
from tempstack.stages.process import Finished, StageContext

WORK = "/work"
OUT = "/tempstack/out"
_COLLECT = "collect"

if TYPE_CHECKING:  # the backend imports this module
    from tempstack.backends.kubernetes.backend import KubernetesBackend


def _mapped(arg: str, ctx: StageContext) -> str:
    if arg in (sys.executable, ctx.python):
        return "python3"
    return arg.replace(str(ctx.out_dir), OUT).replace(str(ctx.stack_dir), WORK)


class ClusterStage:
    """Runs one stage command as a Job; the same contract as ``run_logged``."""

    def __init__(self, backend: KubernetesBackend, image: str, env: dict[str, str]) -> None:
        self.backend = backend
        self.image = image
        self.env = env
        self._following: Any = None  # the open log stream, closed to stop its reader

    def __call__(self, ctx: StageContext, argv: Sequence[str], cwd: Path) -> Finished:
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        start = ctx.started = ctx.now()
        with ctx.log_path.open("ab") as log:
            try:
                code, status, error = self._run(ctx, [_mapped(a, ctx) for a in argv], cwd, log)
            except TempstackError:  # interrupted (SIGTERM, Ctrl-C): the run ends, not the stage
                raise
            except Exception as exc:
                code, status, error = None, Status.ERROR, api_message(exc)
                log.write(f"tempstack: {error}\n".encode())
        return Finished(start, ctx.now(), code, status, error)

    def _run(
        self, ctx: StageContext, argv: list[str], cwd: Path, log: Any
    ) -> tuple[int | None, Status | None, str | None]:
        api, ns = self.backend.api, self.backend.namespace
        try:
            rel = cwd.resolve().relative_to(ctx.stack_dir.resolve())
        except ValueError:
            return 127, Status.ERROR, f"cwd {cwd} is outside the stack directory"
        archive = archives.tree(ctx.stack_dir)
        if len(archive) > archives.MAX_ARCHIVE:
            return (
                127,
                Status.ERROR,
                f"the stack directory is {len(archive) // 1024} KiB compressed; an in-cluster "
                f"stage takes at most {archives.MAX_ARCHIVE // 1024} KiB: put the tests in "
                "the image",
            )
        # 50: room for the Job controller's suffix on the pod's name
        obj = names.shortened(names.object_name(f"stage-{ctx.name}-{ctx.attempt}"), 50)
        labels = self.backend.object_labels(obj, names.STAGE)
        api.core.create_namespaced_config_map(
            ns,
            manifests.config_map(
                obj, ns, labels, {"files.tgz": base64.b64encode(archive).decode()}
            ),
        )
        argv, hidden = manifests.hide_secrets(argv, self.backend.secret_values)
        env = {**self.env, **hidden}
        api.core.create_namespaced_secret(ns, manifests.secret(f"{obj}-env", ns, labels, env))
        mounts = [{"name": "work", "mountPath": WORK}, {"name": "out", "mountPath": OUT}]
        main = {
            "name": manifests.MAIN,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "command": [a.replace("$(", "$$(") for a in argv],
            "workingDir": f"{WORK}/{rel}" if str(rel) != "." else WORK,
            "envFrom": [{"secretRef": {"name": f"{obj}-env"}}],
            "volumeMounts": mounts,
        }
        init = manifests.unpack(self.image, "in", "files.tgz", "work", WORK)
        keeper = {  # holds the report files after the stage's container has exited
            "name": _COLLECT,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"],
            "volumeMounts": [{"name": "out", "mountPath": OUT}],
        }
        volumes = [
            {"name": "work", "emptyDir": {}},
            {"name": "out", "emptyDir": {}},
            {"name": "in", "configMap": {"name": obj}},
        ]
        pod = manifests.pod_spec(
            [main, keeper],
            self.backend.host_aliases(),
            restart="Never",
            volumes=volumes,
            init=[init],
        )
        deadline_s = None if ctx.deadline is None else max(1.0, ctx.deadline - ctx.now())
        api.batch.create_namespaced_job(
            ns, manifests.job(obj, ns, labels, pod, None if deadline_s is None else deadline_s + 30)
        )
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            return self._follow(ctx, obj, deadline, log)
        finally:
            with contextlib.suppress(Exception):
                api.batch.delete_namespaced_job(obj, ns, propagation_policy="Background")

    def _pod(self, obj: str) -> Any:
        return self.backend.pods.newest(names.STAGE, obj)

    def _follow(
        self, ctx: StageContext, obj: str, deadline: float | None, log: Any
    ) -> tuple[int | None, Status | None, str | None]:
        pods = self.backend.pods

        def started() -> Any:
            pod = self._pod(obj)
            if pod is None:
                return None
            state = assess(pod, job=True)
            if state.problem:
                return state
            for cs in pod.status.container_statuses or []:
                if cs.name == manifests.MAIN and cs.state and not cs.state.waiting:
                    return state
            return None

        state = pods.wait_for(started, deadline, ctx.cancel)
        if state is None:
            return self._cut(ctx)
        if state.problem:
            for line in self._events(state.name):
                log.write(f"tempstack: {line}\n".encode())
            return None, Status.ERROR, f"pod {state.name} {state.problem}"
        follower = threading.Thread(
            target=self._stream_log, args=(state.name, log, ctx.echo), daemon=True
        )
        follower.start()
        try:
            return self._finish(ctx, obj, deadline, follower)
        finally:  # the follower writes to ``log``, which closes when we return
            self._stop_following(follower)

    def _finish(
        self, ctx: StageContext, obj: str, deadline: float | None, follower: threading.Thread
    ) -> tuple[int | None, Status | None, str | None]:
        pods = self.backend.pods

        def ended() -> Any:
            pod = self._pod(obj)
            if pod is None:
                return None
            now = assess(pod, job=True)
            return now if now.exit_code is not None or now.problem else None

        state = pods.wait_for(ended, deadline, ctx.cancel)
        if state is None:
            return self._cut(ctx)
        follower.join(timeout=10)
        if state.exit_code is None:
            return None, Status.ERROR, f"pod {state.name} {state.problem}"
        self._copy_back(state.name, ctx.out_dir)
        return state.exit_code, None, None

    def _cut(self, ctx: StageContext) -> tuple[int | None, Status | None, str | None]:
        if ctx.cancel.is_set():
            return None, Status.ERROR, "cancelled"
        return None, Status.TIMEOUT, "timed out"

    def _events(self, pod: str) -> list[str]:
        return events_of(self.backend.api, self.backend.namespace, pod)[-10:]

    def _stop_following(self, follower: threading.Thread) -> None:
        """A finished stage's stream has ended already; a cut one's is closed under it."""
        resp = self._following
        if follower.is_alive() and resp is not None:
            with contextlib.suppress(Exception):
                resp.close()  # wakes the blocked read
            follower.join(timeout=5)

    def _stream_log(self, pod: str, log: Any, echo: bool) -> None:
        """The stage container's output as it comes, until the container exits."""
        resp = None
        try:
            resp = self._following = self.backend.api.core.read_namespaced_pod_log(
                pod,
                self.backend.namespace,
                container=manifests.MAIN,
                follow=True,
                _preload_content=False,
            )
            for chunk in resp.stream(65536):
                log.write(chunk)
                log.flush()
                if echo:
                    with contextlib.suppress(OSError):
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.buffer.flush()
        except Exception as exc:  # the stage's outcome does not depend on its echo
            with contextlib.suppress(ValueError):  # the log closed: we were told to stop
                log.write(f"tempstack: the log stream broke: {exc}\n".encode())
        finally:
            if resp is not None:
                resp.close()  # never back into the pool half-read
            self._following = None

    def _copy_back(self, pod: str, out_dir: Path) -> None:
        """The stage's report files (JUnit, artifacts), as a base64 tar through exec."""
        client = stream(
            self.backend.api.core.connect_get_namespaced_pod_exec,
            pod,
            self.backend.namespace,
            container=_COLLECT,
            command=["sh", "-c", f"tar -C {OUT} -czf - . | base64"],
            stderr=False,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        try:  # the client's own preloading call never closes its websocket
            client.run_forever(timeout=120)
            text = client.read_all()
        finally:
            client.close()
            # websocket-client's close() returns early once the server has closed its
            # side, leaving the TLS socket to the garbage collector
            client.sock.shutdown()
        data = base64.b64decode("".join(str(text).split()))
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            extract_data(tar, out_dir)


def extract_data(tar: tarfile.TarFile, out_dir: Path) -> None:
    """Extract what a stage wrote, refusing anything that would land outside ``out_dir``.

    ``filter="data"`` does exactly this, but Debian 12's Python (3.11.2) predates
    extraction filters (3.11.4), so there the members are checked here: regular files and
    directories only, relative, no ``..``.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(out_dir, filter="data")
        return
    root = out_dir.resolve()
    safe = []
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if (member.isfile() or member.isdir()) and target.is_relative_to(root):
            member.mode &= 0o755
            safe.append(member)
    tar.extractall(out_dir, members=safe)
