"""The cluster connection: the official ``kubernetes`` client, from a kubeconfig.

The package is an optional dependency (``tempstack[kubernetes]``); importing this module
without it gives a one-line usage error instead of a traceback.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from tempstack.errors import StartError, UsageError

try:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
except ImportError:  # pragma: no cover - exercised only without the extra installed
    raise UsageError(
        "the kubernetes backend needs the kubernetes client: pip install 'tempstack[kubernetes]'"
    ) from None

__all__ = ["ApiException", "Clients", "api_message", "connect", "k8s"]

#: seconds a plain API call may take: the client's default is to wait forever, and a
#: stalled API server must not hang a start or, worse, a teardown
API_TIMEOUT = 30.0


class Timed:
    """An API group whose plain calls give up after ``API_TIMEOUT`` unless told otherwise.

    Streams are left alone: a watch, a followed log, or anything read without preloading
    may rightly stay open for long; exec and port-forward (``connect_*``) go through
    ``kubernetes.stream``, which needs the bound method itself.
    """

    def __init__(self, group: Any) -> None:
        self._group = group

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._group, name)
        if name.startswith("connect_") or not callable(attr):
            return attr

        @functools.wraps(attr)  # Watch reads the return type from the signature and doc
        def call(*args: Any, **kwargs: Any) -> Any:
            streaming = kwargs.get("watch") or kwargs.get("follow")
            if not streaming and kwargs.get("_preload_content", True):
                kwargs.setdefault("_request_timeout", API_TIMEOUT)
            return attr(*args, **kwargs)

        return call


@dataclass
class Clients:
    """The API groups a run uses, sharing one connection pool."""

    api: Any  # kubernetes.client.ApiClient
    core: Any  # CoreV1Api
    apps: Any  # AppsV1Api
    batch: Any  # BatchV1Api
    networking: Any  # NetworkingV1Api
    kubeconfig: str | None
    context: str | None

    def close(self) -> None:
        self.api.close()


def connect(kubeconfig: str | None = None, context: str | None = None) -> Clients:
    """Clients for ``kubeconfig``/``context`` (default: ``$KUBECONFIG``, its current context).

    Inside a pod with no kubeconfig, the pod's service account is used.
    """
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    if path is not None and os.pathsep not in path:
        path = os.path.abspath(path)  # recorded for a cleanup that may run elsewhere
    try:
        if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            k8s_config.load_incluster_config()
            api = k8s.ApiClient()
        else:
            api = k8s_config.new_client_from_config(config_file=path, context=context)
            if context is None:  # the current one, by name: it may change later
                _, active = k8s_config.list_kube_config_contexts(config_file=path)
                context = active["name"] if active else None
    except (ConfigException, OSError) as exc:
        where = path or "~/.kube/config"
        raise UsageError(
            f"no usable Kubernetes configuration in {where}"
            + (f" (context {context!r})" if context else "")
            + f": {exc}; set KUBECONFIG or pass --kubeconfig/--context"
        ) from None
    return Clients(
        api=api,
        core=Timed(k8s.CoreV1Api(api)),
        apps=Timed(k8s.AppsV1Api(api)),
        batch=Timed(k8s.BatchV1Api(api)),
        networking=Timed(k8s.NetworkingV1Api(api)),
        kubeconfig=path,
        context=context,
    )


def api_message(exc: BaseException) -> str:
    """One line from an API error: the server's message, not the whole HTTP response."""
    if isinstance(exc, ApiException):
        try:
            body = json.loads(exc.body or "{}")
            return f"{exc.status} {body.get('reason') or exc.reason}: {body.get('message', '')}"
        except ValueError:
            return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def reachable(clients: Clients) -> None:
    """Fail fast, with the address, when the cluster does not answer."""
    try:
        k8s.VersionApi(clients.api).get_code(_request_timeout=10)
    except Exception as exc:
        host = clients.api.configuration.host
        raise StartError(
            f"the Kubernetes cluster at {host} did not answer: {api_message(exc)}"
        ) from None
