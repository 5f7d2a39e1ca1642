"""tempstack: throwaway, isolated copies of an application's whole stack, always cleaned up.

The public API is what ``__all__`` lists; everything else is internal.
"""

from tempstack.errors import (
    SpecError,
    SpecErrors,
    StackTimeout,
    StartError,
    TempstackError,
    UsageError,
)
from tempstack.stack import Run, RunResult, ServiceInfo, Stack

__version__ = "0.1.0"

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
]
