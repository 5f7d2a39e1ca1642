"""The error hierarchy. Every error tempstack raises on purpose is a ``TempstackError``.

Each class carries the exit code the CLI turns it into, so the CLI never has to guess:
0 passed, 1 a stage failed, 2 usage or spec error, 3 the stack failed to start, 4 timeout.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_START_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_BUDGET = 5
EXIT_INTERRUPTED = 130


class TempstackError(Exception):
    """Root of every error tempstack raises deliberately."""

    exit_code: int = EXIT_START_FAILED

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.service = service

    def __str__(self) -> str:
        return self.message


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters escaped) and at most ``limit`` characters.

    A stack file's key or value can hold a newline or be megabytes long; an error line
    must still be one line a person can read.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        text = "".join(c if 32 <= ord(c) != 127 else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text.encode(errors='replace'))} bytes)"
    return text


class SpecError(TempstackError):
    """A problem in the stack file: one line naming the file, the key and what is valid."""

    exit_code = EXIT_USAGE

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, one_line(key, 200), one_line(problem, 1000)
        where = f"{file}: {self.key}" if self.key else file
        super().__init__(f"{where}: {self.problem}")


class SpecErrors(TempstackError):
    """Several spec errors found in one validation pass; printed one per line."""

    exit_code = EXIT_USAGE

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.message for e in errors))


class UsageError(TempstackError):
    """The command line asked for something that cannot be done (unknown run, bad flag)."""

    exit_code = EXIT_USAGE


class RunIdTaken(UsageError):
    """The run directory (or its link in the runs folder) already exists."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run id {run_id} is already taken (a run directory of that name exists); "
            "choose another --run-id or leave it out"
        )


class StartError(TempstackError):
    """A service could not be started or never became ready."""

    exit_code = EXIT_START_FAILED

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        returncode: int | None = None,
        log_tail: list[str] | None = None,
    ) -> None:
        self.returncode = returncode
        self.log_tail = log_tail or []
        text = message
        if self.log_tail:
            text += "\n  last log lines:\n" + "\n".join(f"  | {line}" for line in self.log_tail)
        super().__init__(text, service=service)


class MissingBinaryError(StartError):
    """A program a service kind needs is not installed; names the package to install."""


class StackTimeout(TempstackError):
    """``--timeout`` (or a stage's own timeout) ran out."""

    exit_code = EXIT_TIMEOUT

    def __init__(self, message: str, *, timeout: float, service: str | None = None) -> None:
        self.timeout = timeout
        super().__init__(message, service=service)


class Interrupted(TempstackError):
    """The run was interrupted by SIGINT or SIGTERM; teardown follows."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")
