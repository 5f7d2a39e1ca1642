"""Ready when a line of the service's log matches a regular expression.

The log file is read incrementally from where the last check stopped, so a long log is
never re-read.
"""

from __future__ import annotations

import re
from pathlib import Path


class LogProbe:
    def __init__(self, path: Path, pattern: str) -> None:
        self.path = path
        self.regex = re.compile(pattern)
        self.offset = 0
        self.partial = b""
        self.description = f"log line matching /{pattern}/"

    def check(self) -> bool:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return False
        self.offset += len(chunk)
        data = self.partial + chunk
        lines = data.split(b"\n")
        self.partial = lines.pop()
        candidates = [*lines, self.partial]
        return any(self.regex.search(line.decode(errors="replace")) for line in candidates)
