"""Stage kinds and their outcomes. This issue has ``command``; richer kinds come later."""

from tempstack.stages.command import run_command_stage, stage_env
from tempstack.stages.outcome import Outcome, Status

__all__ = ["Outcome", "Status", "run_command_stage", "stage_env"]
