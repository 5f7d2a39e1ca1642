"""A hard upper bound on every wait, whatever got through the spec.

The spec refuses durations that are not durations (``nan``, ``inf``, ``1e300``), but the
engine and the backends do not rely on it: a deadline of ``monotonic() + nan`` never
arrives and one of ``+ inf`` never either, so every timeout passes through :func:`bounded`
before it becomes a deadline. What is beyond the cap (or not a number) becomes the cap.
"""

from __future__ import annotations

import math

#: the longest any single wait may last: a ready or stage timeout, a job, a stop grace
MAX_WAIT = 7 * 24 * 3600.0
#: the longest a stopping service is given after its stop signal before SIGKILL: teardown
#: (which a detached run's ``tempstack down`` waits for) must end in minutes, not days
MAX_STOP_GRACE = 600.0


def bounded(seconds: float | None, cap: float = MAX_WAIT) -> float:
    """``seconds`` as a finite wait in ``[0, cap]``; ``None``, ``nan`` and ``inf`` are the cap."""
    if seconds is None or math.isnan(seconds) or seconds > cap:
        return cap
    return max(float(seconds), 0.0)
