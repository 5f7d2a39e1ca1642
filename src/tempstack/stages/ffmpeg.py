"""Video recording for Playwright without Playwright's own downloads.

Playwright records video with its private ffmpeg build, fetched by ``playwright install``;
closed machines cannot fetch it. It looks for that binary at
``$PLAYWRIGHT_BROWSERS_PATH/ffmpeg-<revision>/ffmpeg-linux``, so we lay out such a
directory in tempstack's cache with a link to the system's ffmpeg (Debian's has the VP8
encoder Playwright asks for). Only used when the browser is a system one too, since the
variable also moves where Playwright looks for its browsers.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib.util import find_spec
from pathlib import Path

from tempstack.backends.local.paths import cache_dir


def _revision() -> str | None:
    spec = find_spec("playwright")
    if spec is None or not spec.submodule_search_locations:
        return None
    browsers = Path(next(iter(spec.submodule_search_locations))) / "driver/package/browsers.json"
    try:
        data = json.loads(browsers.read_text())
    except (OSError, ValueError):
        return None
    found = next((b for b in data.get("browsers", []) if b.get("name") == "ffmpeg"), None)
    return str(found["revision"]) if found else None


def browsers_path_with_ffmpeg() -> Path | None:
    """A ``PLAYWRIGHT_BROWSERS_PATH`` whose ffmpeg is the system's, or None if impossible."""
    system = shutil.which("ffmpeg")
    revision = _revision()
    if system is None or revision is None:
        return None
    root = cache_dir() / "playwright-browsers"
    link = root / f"ffmpeg-{revision}" / "ffmpeg-linux"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".ffmpeg-linux.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(system)
        tmp.replace(link)  # atomic: parallel runs never see a half-made link
    return root
