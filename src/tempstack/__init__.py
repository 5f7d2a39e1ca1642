"""tempstack: throwaway, isolated copies of an application's whole stack, always cleaned up.

The public API is what ``__all__`` lists; everything else is internal. Names are imported
on first use, so small helper processes (the reaper) that import a submodule do not pay
for the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tempstack import mock
    from tempstack.errors import (
        SpecError,
        SpecErrors,
        StackTimeout,
        StartError,
        TempstackError,
        UsageError,
    )
    from tempstack.service_info import ServiceInfo
    from tempstack.stack import Run, RunResult, Stack

__version__ = "0.1.0"

_WHERE = {
    "Run": "tempstack.stack",
    "RunResult": "tempstack.stack",
    "ServiceInfo": "tempstack.service_info",
    "Stack": "tempstack.stack",
    "SpecError": "tempstack.errors",
    "SpecErrors": "tempstack.errors",
    "StackTimeout": "tempstack.errors",
    "StartError": "tempstack.errors",
    "TempstackError": "tempstack.errors",
    "UsageError": "tempstack.errors",
}

__all__ = [
    "Run",
    "RunResult",
    "ServiceInfo",
    "SpecError",
    "SpecErrors",
    "Stack",
    "StackTimeout",
    "StartError",
    "TempstackError",
    "UsageError",
    "__version__",
    "mock",
]


def __getattr__(name: str) -> Any:
    if name == "mock":  # ``tempstack.mock.client(url)`` for http-mock services
        return importlib.import_module("tempstack.mock")
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tempstack' has no attribute {name!r}")
