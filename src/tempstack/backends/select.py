"""Which backend a run uses: ``--backend``, else ``[stack] backend``, else local."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tempstack.backends.base import Backend
from tempstack.backends.local import LocalBackend
from tempstack.errors import SpecErrors, UsageError
from tempstack.spec.load import LoadedStack
from tempstack.spec.placement import placement_errors

BACKENDS = ("local", "kubernetes")


@dataclass
class BackendOptions:
    name: str | None = None  # None: the stack file's choice
    kubeconfig: str | None = None
    context: str | None = None
    wait: bool = False  # wait until the namespace is gone at teardown
    expiry: float | None = None  # seconds until gc may delete a namespace left behind


def backend_name(loaded: LoadedStack, options: BackendOptions) -> str:
    name = options.name or loaded.spec.stack.backend
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    return name


def make_backend(loaded: LoadedStack, data_dir: Path | None, options: BackendOptions) -> Backend:
    name = backend_name(loaded, options)
    if name == "local":
        return LocalBackend(data_dir)
    # the file was checked for its own backend; --backend may ask for another
    errors = placement_errors(loaded.spec, name, loaded.path.name, loaded.prefix)
    if errors:
        raise SpecErrors(errors)
    from tempstack.backends.kubernetes import KubernetesBackend
    from tempstack.backends.kubernetes.namespaces import DEFAULT_EXPIRY

    return KubernetesBackend(
        data_dir,
        kubeconfig=options.kubeconfig,
        context=options.context,
        wait=options.wait,
        expiry=options.expiry or DEFAULT_EXPIRY,
        preview_host=loaded.spec.stack.preview_host,
    )
