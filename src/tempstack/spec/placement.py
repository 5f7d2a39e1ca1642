"""What a stack needs to run on a given backend, checked before anything starts.

The same stack file serves both backends; the Kubernetes backend runs only the kinds it
can render to manifests, and needs an image for every command it runs in the cluster.
"""

from __future__ import annotations

from tempstack.errors import SpecError
from tempstack.spec.model import JobService, ProcessService, StackSpec

#: kinds the Kubernetes backend renders; the outside-world fakes still run only locally
KUBERNETES_KINDS = ("postgres", "redis", "process", "job")
CLUSTER_STAGE_KINDS = ("command", "pytest")


def placement_errors(spec: StackSpec, backend: str, file: str, prefix: str) -> list[SpecError]:
    if backend != "kubernetes":
        return []

    def key(*parts: str) -> str:
        return ".".join(p for p in (prefix, *parts) if p)

    errors: list[SpecError] = []
    images = spec.kubernetes.images
    for name, svc in spec.services.items():
        if svc.kind not in KUBERNETES_KINDS:
            errors.append(
                SpecError(
                    file,
                    key("services", name, "kind"),
                    f"a {svc.kind} service cannot run on the kubernetes backend; kinds it "
                    f"runs: {', '.join(KUBERNETES_KINDS)} (use --backend local)",
                )
            )
            continue
        if not isinstance(svc, ProcessService | JobService):
            continue
        if svc.image is None and svc.kind not in images:
            errors.append(
                SpecError(
                    file,
                    key("services", name, "image"),
                    f"the kubernetes backend runs the command in a container: give "
                    f'image = "..." or [kubernetes] images.{svc.kind}',
                )
            )
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
