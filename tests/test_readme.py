"""The README's first two commands stay literally true for a new user on Debian or Ubuntu:
no bare ``sudo`` (root in a container has none), nothing installed into the system's
Python (it is "externally managed", PEP 668), and the tests run in the virtual environment.
The fresh-machine check (scripts/fresh-machine) runs the first command for real in CI."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
FENCE = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
IN_VENV = re.compile(r'(\.venv|"?\$venv"?)/bin/(pip|python)\b')


def sh_blocks() -> list[str]:
    return FENCE.findall((ROOT / "README.md").read_text())


def scripts_called(command: str) -> list[Path]:
    return [ROOT / m for m in re.findall(r"(?:^|&&|;)\s*(scripts/[\w.-]+)", command)]


def commands_of(text: str) -> list[str]:
    """Lines of shell that run something (comments and blank lines dropped)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():  # continuation lines joined
        code = line.split(" #", 1)[0].strip()
        if code and not code.startswith("#"):
            out.append(code)
    return out


def test_the_first_command_needs_no_sudo_and_no_system_pip() -> None:
    first = sh_blocks()[0]
    assert "tempstack run -f examples/shop/tempstack.toml" in first
    texts = {"README.md": first} | {
        str(p.relative_to(ROOT)): p.read_text() for p in scripts_called(first)
    }
    assert len(texts) > 1, "the first command calls scripts/setup"
    for where, text in texts.items():
        assert "--break-system-packages" not in text, where
        for line in commands_of(text):
            if "pip install" in line:
                assert IN_VENV.search(line), f"{where}: pip outside a virtual environment: {line}"
            for use in re.finditer(r"\bsudo\b", line):
                # only as a value chosen when not root, or a look-up of whether it exists
                allowed = ('as_root="sudo"', "command -v sudo", "or install sudo")
                assert any(a in line for a in allowed), f"{where}: bare sudo: {line}"
                del use


def test_setup_makes_its_venv_from_the_system_python_before_installing() -> None:
    setup = (ROOT / "scripts" / "setup").read_text()
    assert setup.index("-m venv") < setup.index("-m pip install")
    assert 'if [ "$(id -u)" -eq 0 ]; then' in setup  # root runs apt-get itself


def test_the_test_command_runs_in_the_virtual_environment() -> None:
    second = sh_blocks()[1]
    assert "scripts/setup dev" in second and ". .venv/bin/activate" in second
    assert second.index(". .venv/bin/activate") < second.index("python -m pytest")


def test_no_path_outside_the_repository_is_named() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), path
