"""``[stages.NAME]``: the test phases run against the ready stack, one model per kind.

Every kind shares ``cwd``, ``env`` and ``timeout``; what differs is how the command is
built and what is read back from it (JUnit for pytest and Playwright, CSV statistics for
Locust).
"""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from tempstack.spec.fields import Command, Duration, EnvMap, NonEmptyCommand, Strict
from tempstack.spec.thresholds import Threshold, parse_threshold

DEFAULT_CHROMIUM = "/usr/bin/chromium"


def _threshold(text: str) -> str:
    parse_threshold(text)
    return text


ThresholdText = Annotated[str, AfterValidator(_threshold)]


DEFAULT_TIMEOUT = 3600.0  # no stage runs unbounded; give `timeout` for longer ones


class _StageBase(Strict):
    cwd: str | None = None
    env: EnvMap = Field(default_factory=dict)
    timeout: Duration = DEFAULT_TIMEOUT
    #: ``cluster`` (Kubernetes backend): run as a Job in the run's namespace, the stack
    #: directory copied in and the report files copied back
    where: Literal["local", "cluster"] = "local"
    image: Annotated[str, Field(min_length=1)] | None = None  # for ``where = "cluster"``


class CommandStage(_StageBase):
    """Any command; the exit code decides."""

    kind: Literal["command"] = "command"
    run: NonEmptyCommand


def _split(value: Command) -> Command:
    if isinstance(value, str):
        try:
            shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split {value!r} into arguments: {exc}") from None
    return value


Args = Annotated[Command, AfterValidator(_split)]


class PytestStage(_StageBase):
    """``python -m pytest ARGS`` with JUnit output read back test by test."""

    kind: Literal["pytest"] = "pytest"
    args: Args = Field(default_factory=list)


class PlaywrightStage(_StageBase):
    """pytest-playwright on a local Chromium; traces, screenshots and video kept on failure."""

    kind: Literal["playwright"] = "playwright"
    args: Args = Field(default_factory=list)
    base_url: str | None = None
    executable: str | None = None  # default: Debian's /usr/bin/chromium when present
    headed: bool = False
    tracing: Literal["on", "off", "retain-on-failure"] = "retain-on-failure"
    video: Literal["on", "off", "retain-on-failure"] = "retain-on-failure"
    screenshot: Literal["on", "off", "only-on-failure"] = "only-on-failure"


class LocustStage(_StageBase):
    """Headless Locust, bounded in users and time, judged by thresholds."""

    kind: Literal["locust"] = "locust"
    locustfile: str
    host: str | None = None
    users: Annotated[int, Field(ge=1, le=10_000)] = 10
    spawn_rate: Annotated[float, Field(gt=0)] | None = None  # default: all users at once
    duration: Duration
    thresholds: list[ThresholdText] = Field(default_factory=list)

    def parsed_thresholds(self) -> list[Threshold]:
        return [parse_threshold(t) for t in self.thresholds]


StageSpec = CommandStage | PytestStage | PlaywrightStage | LocustStage

STAGE_MODELS: dict[str, type[_StageBase]] = {
    "command": CommandStage,
    "pytest": PytestStage,
    "playwright": PlaywrightStage,
    "locust": LocustStage,
}
