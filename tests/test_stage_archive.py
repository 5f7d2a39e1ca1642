"""A cluster stage's files come back as a tar: nothing in it lands outside the stage dir,
with or without tarfile's extraction filters (Debian 12's Python 3.11.2 has none)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tempstack.backends.kubernetes import stage_job


def _archive(entries: dict[str, bytes], link: str | None = None) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("link")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r")


def test_only_files_inside_the_stage_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as on Debian 12's Python; where filters exist, tarfile's own "data" filter is used
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    out = tmp_path / "out"
    out.mkdir()
    stage_job.extract_data(_archive({"junit.xml": b"<x/>", "sub/log.txt": b"ok"}), out)
    assert (out / "junit.xml").read_bytes() == b"<x/>" and (out / "sub/log.txt").exists()
    stage_job.extract_data(_archive({"../escaped.txt": b"no"}, link="/etc/passwd"), out)
    assert not (tmp_path / "escaped.txt").exists() and not (out / "link").exists()
