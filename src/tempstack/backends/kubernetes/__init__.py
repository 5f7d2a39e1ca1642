"""The Kubernetes backend: one namespace per run, services as workloads, port-forwards."""

from tempstack.backends.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
