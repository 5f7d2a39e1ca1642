"""Local processes: a run directory, process groups, a port registry and a reaper."""

from tempstack.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
