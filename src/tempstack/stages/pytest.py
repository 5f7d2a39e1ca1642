"""``kind = "pytest"``: pytest with JUnit output, read back test by test into the journal.

pytest's exit codes are kept apart: 1 (tests failed) is a failure; 5 (nothing collected)
is a failure with that reason, since a stage that tests nothing is a broken stage; 2-4
(interrupted, internal error, usage error) are errors.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from tempstack.report.junit import count, read_junit
from tempstack.services.process import cwd_of
from tempstack.spec.fields import Command
from tempstack.spec.stages import PytestStage
from tempstack.stages.command import outcome_of
from tempstack.stages.outcome import Outcome, Status
from tempstack.stages.process import StageContext, run_logged

_REASONS = {
    2: "pytest was interrupted or could not collect the tests (see the log)",
    3: "pytest hit an internal error",
    4: "pytest usage error (see the log)",
    5: "no tests were collected",
}


def args_of(args: Command) -> list[str]:
    return shlex.split(args) if isinstance(args, str) else list(args)


def run_pytest(
    ctx: StageContext, args: Command, cwd: str | None, kind: str, extra: Sequence[str] = ()
) -> Outcome:
    junit = ctx.out_dir / "junit.xml"
    argv = [
        ctx.python,
        "-m",
        "pytest",
        *args_of(args),
        *extra,
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        "-p",
        "no:cacheprovider",
    ]
    done = run_logged(ctx, argv, cwd_of(cwd, ctx.stack_dir))
    outcome = outcome_of(ctx, kind, shlex.join(["pytest", *args_of(args), *extra]), done)
    outcome.tests = read_junit(junit)
    outcome.counts = count(outcome.tests)
    if junit.exists():
        outcome.artifacts.append(str(junit))
    code = done.returncode
    if done.status is None and code in _REASONS:
        outcome.reason = _REASONS[code]
        outcome.status = Status.FAILED if code == 5 else Status.ERROR
    elif outcome.status is Status.FAILED and outcome.failed_tests:
        first = outcome.failed_tests[0]
        more = len(outcome.failed_tests) - 1
        outcome.reason = f"{first.id}: {first.message or first.status}" + (
            f" (and {more} more)" if more else ""
        )
    return outcome


def run_pytest_stage(ctx: StageContext, spec: PytestStage) -> Outcome:
    return run_pytest(ctx, spec.args, spec.cwd, "pytest")
