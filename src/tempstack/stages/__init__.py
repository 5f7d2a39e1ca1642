"""Stage kinds: each runs one test phase against the ready stack and returns an Outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tempstack.stages.command import run_command_stage
from tempstack.stages.locust import run_locust_stage
from tempstack.stages.outcome import Outcome, Status
from tempstack.stages.playwright import run_playwright_stage
from tempstack.stages.process import StageContext, stage_env
from tempstack.stages.pytest import run_pytest_stage

RUNNERS: dict[str, Callable[[StageContext, Any], Outcome]] = {
    "command": run_command_stage,
    "pytest": run_pytest_stage,
    "playwright": run_playwright_stage,
    "locust": run_locust_stage,
}

__all__ = ["RUNNERS", "Outcome", "StageContext", "Status", "stage_env"]
