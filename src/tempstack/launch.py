"""The ``tempstack`` command's entry point.

``pip install tempstack`` alone is the small core that a project's own environment holds
(the pytest plugin and the test-side helpers); the command needs the tool's dependencies,
``tempstack[tool]``. Without them this says so in one line instead of an ImportError.
"""

from __future__ import annotations

import importlib.util
import sys

#: modules only the tool's extra brings; any one missing means the core alone is installed
TOOL_MODULES = ("click", "pydantic", "rich", "psutil", "jinja2")


def missing_tool_modules() -> list[str]:
    """The tool's modules this environment lacks (none where ``tempstack[tool]`` is in)."""
    return [m for m in TOOL_MODULES if importlib.util.find_spec(m) is None]


def main() -> None:
    missing = missing_tool_modules()
    if missing:
        sys.stderr.write(
            "error: this environment has tempstack's core only (the pytest plugin and test "
            f"helpers; no {', '.join(missing)}); the command needs the tool: "
            "pipx install 'tempstack[tool]' (or pip install 'tempstack[tool]')\n"
        )
        sys.exit(2)
    from tempstack.cli import main as cli_main

    cli_main()
