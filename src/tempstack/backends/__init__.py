"""Where services run: ``local`` (process groups on this machine) and, later, kubernetes."""

from tempstack.backends.base import Backend, Handle

__all__ = ["Backend", "Handle"]
