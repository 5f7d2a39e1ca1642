"""``kind = "command"``: any shell command against the ready stack; the exit code decides."""

from __future__ import annotations

from tempstack._files import tail
from tempstack.report.junit import count, read_junit
from tempstack.services.process import argv_of, cwd_of, describe
from tempstack.spec.stages import CommandStage
from tempstack.stages.outcome import Outcome, Status
from tempstack.stages.process import TAIL_LINES, Finished, StageContext, run_logged


def outcome_of(ctx: StageContext, kind: str, command: str, done: Finished) -> Outcome:
    """The outcome as far as the exit code tells; richer kinds refine it."""
    status = done.status
    if status is None:
        status = Status.PASSED if done.returncode == 0 else Status.FAILED
    reason = done.error
    if reason is None and status is Status.FAILED:
        reason = f"exit code {done.returncode}"
    return Outcome(
        stage=ctx.name,
        kind=kind,
        status=status,
        start=done.start,
        end=done.end,
        returncode=done.returncode,
        command=command,
        log=str(ctx.log_path),
        tail=tail(ctx.log_path, TAIL_LINES),
        reason=reason,
        attempt=ctx.attempt,
    )


def interrupted_outcome(ctx: StageContext, kind: str, why: str) -> Outcome:
    """The outcome of a stage cut short by Ctrl-C or SIGTERM: what it did until then."""
    end = ctx.now()
    outcome = Outcome(
        stage=ctx.name,
        kind=kind,
        status=Status.ERROR,
        start=end if ctx.started is None else ctx.started,
        end=end,
        log=str(ctx.log_path) if ctx.log_path.exists() else None,
        tail=tail(ctx.log_path, TAIL_LINES),
        reason=f"interrupted ({why})",
        attempt=ctx.attempt,
    )
    junit = ctx.out_dir / "junit.xml"
    if junit.exists():
        outcome.tests = read_junit(junit)
        outcome.counts = count(outcome.tests)
    return outcome


def run_command_stage(ctx: StageContext, spec: CommandStage) -> Outcome:
    done = run_logged(ctx, argv_of(spec.run), cwd_of(spec.cwd, ctx.stack_dir))
    return outcome_of(ctx, "command", describe(spec.run), done)
