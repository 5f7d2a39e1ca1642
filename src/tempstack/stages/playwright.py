"""``kind = "playwright"``: pytest-playwright on a local Chromium, artifacts kept on failure.

Traces, screenshots and videos go to ``<stage dir>/artifacts/<test>/``; pytest-playwright
names them in the JUnit file, so each lands on its test in the journal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import tempstack
from tempstack.plugins import EXECUTABLE_VAR
from tempstack.services.process import cwd_of
from tempstack.spec.stages import DEFAULT_CHROMIUM, PlaywrightStage
from tempstack.stages.ffmpeg import browsers_path_with_ffmpeg
from tempstack.stages.outcome import Outcome
from tempstack.stages.process import StageContext
from tempstack.stages.pytest import run_pytest

PLUGIN = "tempstack.plugins.playwright"  # loaded by pytest, never imported here


def executable_of(spec: PlaywrightStage) -> str | None:
    if spec.executable:
        return spec.executable
    return shutil.which("chromium") or (
        DEFAULT_CHROMIUM if os.path.exists(DEFAULT_CHROMIUM) else None
    )


def _has_core(python: str) -> bool:
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('tempstack.plugins') is None)"
    try:
        return subprocess.run([python, "-c", probe], timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def plugin_path(ctx: StageContext) -> dict[str, str]:
    """``PYTHONPATH`` for a project's Python that lacks tempstack's core, so it can load the
    plugin: a directory in the run dir holding only ``tempstack/__init__.py`` and
    ``tempstack/plugins`` (links to this installation's), nothing of the tool's."""
    if ctx.runner is not None or ctx.python == sys.executable or _has_core(ctx.python):
        return {}
    shim = Path(ctx.env["TEMPSTACK_RUN_DIR"]) / "plugin-path"
    package = shim / "tempstack"
    if not package.is_dir():
        real = Path(tempstack.__file__).parent
        package.mkdir(parents=True)
        (package / "__init__.py").symlink_to(real / "__init__.py")
        (package / "plugins").symlink_to(real / "plugins", target_is_directory=True)
    rest = [ctx.env["PYTHONPATH"]] if ctx.env.get("PYTHONPATH") else []
    return {"PYTHONPATH": os.pathsep.join([str(shim), *rest])}


def run_playwright_stage(ctx: StageContext, spec: PlaywrightStage) -> Outcome:
    artifacts = ctx.out_dir / "artifacts"
    extra = [
        "-p",
        PLUGIN,
        "--browser",
        "chromium",
        "--output",
        str(artifacts),
        "--tracing",
        spec.tracing,
        "--video",
        spec.video,
        "--screenshot",
        spec.screenshot,
    ]
    if spec.base_url:
        extra += ["--base-url", spec.base_url]
    if spec.headed:
        extra.append("--headed")
    ctx.env = {**ctx.env, **plugin_path(ctx)}
    executable = executable_of(spec)
    notes: list[str] = []
    if executable:
        ctx.env = {**ctx.env, EXECUTABLE_VAR: executable}
        if spec.video != "off" and "PLAYWRIGHT_BROWSERS_PATH" not in ctx.env:
            browsers = browsers_path_with_ffmpeg()
            if browsers is None:
                extra[extra.index("--video") + 1] = "off"
                notes.append("tempstack: video off, no ffmpeg found (apt-get install ffmpeg)")
            else:
                ctx.env["PLAYWRIGHT_BROWSERS_PATH"] = str(browsers)
    if notes:
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        with ctx.log_path.open("a") as log:
            log.write("\n".join(notes) + "\n")
    outcome = run_pytest(ctx, spec.args, spec.cwd, "playwright", extra)
    base = cwd_of(spec.cwd, ctx.stack_dir)  # pytest-playwright names them relative to it
    for test in outcome.tests:
        test.artifacts = [str(_absolute(a, base)) for a in test.artifacts]
    if artifacts.is_dir():
        outcome.artifacts += sorted(str(p) for p in artifacts.rglob("*") if p.is_file())
    return outcome


def _absolute(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (base / p)
