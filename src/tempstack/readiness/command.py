"""Ready when a command exits 0."""

from __future__ import annotations

import subprocess
from pathlib import Path


class CommandProbe:
    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 30.0
    ) -> None:
        self.argv, self.env, self.cwd, self.timeout = argv, env, cwd, timeout
        self.description = f"command {' '.join(argv)}"

    def check(self) -> bool:
        done = subprocess.run(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            timeout=self.timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"exit {done.returncode}{': ' + tail[0] if tail else ''}")
        return True
