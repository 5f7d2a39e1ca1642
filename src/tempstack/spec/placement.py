"""What a stack needs to run on a given backend, checked before anything starts.

The same stack file serves both backends; the Kubernetes backend runs only the kinds it
can render to manifests, and needs an image for every command it runs in the cluster.
"""

from __future__ import annotations

from tempstack.errors import SpecError
from tempstack.spec.model import JobService, ProcessService, ServiceSpec, StackSpec

#: kinds served by tempstack's own servers: on Kubernetes they run in an image that has
#: Python and tempstack's dependencies (``[kubernetes] images.servers``)
SERVER_KINDS = ("s3", "mail", "http-mock", "oidc")
#: kinds that need an image named: they have no official one to default to
NEEDS_IMAGE = ("process", "job", *SERVER_KINDS)
CLUSTER_STAGE_KINDS = ("command", "pytest")


def image_for(spec: StackSpec, svc: ServiceSpec) -> str | None:
    """The service's own ``image``, else ``[kubernetes] images.<kind>`` (or ``.servers``)."""
    own: str | None = getattr(svc, "image", None)
    if own:
        return own
    images: dict[str, str] = {str(k): v for k, v in spec.kubernetes.images.items()}
    if svc.kind in SERVER_KINDS:
        return images.get(svc.kind) or images.get("servers")
    return images.get(svc.kind)


def _image_hint(kind: str) -> str:
    if kind in SERVER_KINDS:
        return (
            f"the {kind} service runs tempstack's own server in a container: give "
            f'image = "..." or [kubernetes] images.servers (or images.{kind}), an image with '
            "Python 3.11+ and `pip install 'tempstack[tool]'` (the run brings tempstack's code)"
        )
    return (
        f"the kubernetes backend runs the command in a container: give "
        f'image = "..." or [kubernetes] images.{kind}'
    )


def placement_errors(spec: StackSpec, backend: str, file: str, prefix: str) -> list[SpecError]:
    if backend != "kubernetes":
        return []

    def key(*parts: str) -> str:
        return ".".join(p for p in (prefix, *parts) if p)

    from tempstack.backends.kubernetes.names import object_name

    errors: list[SpecError] = []
    taken: dict[str, str] = {}
    for name, svc in spec.services.items():
        other = taken.setdefault(object_name(name), name)
        if other != name:
            errors.append(
                SpecError(
                    file,
                    key("services", name),
                    f"on Kubernetes {name!r} and {other!r} both become the name "
                    f"{object_name(name)!r} (a DNS label); rename one",
                )
            )
        if svc.kind in NEEDS_IMAGE and image_for(spec, svc) is None:
            errors.append(SpecError(file, key("services", name, "image"), _image_hint(svc.kind)))
        if not isinstance(svc, ProcessService | JobService):
            continue
        if svc.cwd is not None and not svc.cwd.startswith("/"):
            errors.append(
                SpecError(
                    file,
                    key("services", name, "cwd"),
                    f"on the kubernetes backend cwd is a directory inside the image and "
                    f"must be absolute, got {svc.cwd!r}",
                )
            )
        if isinstance(svc, ProcessService) and svc.ready is not None and svc.ready.log:
            errors.append(
                SpecError(
                    file,
                    key("services", name, "ready", "log"),
                    "a log probe cannot run on the kubernetes backend; use http, tcp or "
                    "command (run inside the container)",
                )
            )
    for name, stage in spec.stages.items():
        if stage.where != "cluster":
            continue
        if stage.kind not in CLUSTER_STAGE_KINDS:
            errors.append(
                SpecError(
                    file,
                    key("stages", name, "where"),
                    f'a {stage.kind} stage runs from this machine; where = "cluster" takes '
                    f"{' or '.join(CLUSTER_STAGE_KINDS)} stages",
                )
            )
        elif stage.image is None and spec.kubernetes.stage_image is None:
            errors.append(
                SpecError(
                    file,
                    key("stages", name, "image"),
                    'an in-cluster stage needs an image with its tools: give image = "..." '
                    "or [kubernetes] stage_image",
                )
            )
    return errors
