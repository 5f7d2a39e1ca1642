#!/usr/bin/env python3
"""Wrap one root filesystem tarball into a docker-archive image tarball.

`ctr -n k8s.io images import` reads the result. No Docker, no registry: the archive is
`manifest.json` + one config JSON per image + the layer, which all images share.

    mkimage.py --layer rootfs.tar [--layer more.tar ...] --out image.tar \
        --image '{"tags": ["tempstack.local/pause:3.4"], "Entrypoint": ["/pause"]}' ...

Each --image is a JSON object: "tags" (list of names) plus any of the image config keys
(Env, Entrypoint, Cmd, WorkingDir, User, StopSignal, Labels), and optionally
"extra_layers" (more layer tars on top, for that image alone). All images share the
--layer layers, bottom first. Layers are stored uncompressed: import is then a plain copy.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
import time

CONFIG_KEYS = ("Env", "Entrypoint", "Cmd", "WorkingDir", "User", "StopSignal", "Labels")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--layer", action="append", required=True, help="uncompressed layer tar, bottom first"
    )
    ap.add_argument("--out", required=True)
    ap.add_argument("--image", action="append", required=True, help="JSON: tags + config keys")
    args = ap.parse_args()

    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    now = time.time()
    specs = [json.loads(spec_json) for spec_json in args.image]
    paths = list(args.layer)
    for spec in specs:
        paths += [p for p in spec.get("extra_layers", []) if p not in paths]
    digests = {path: sha256_file(path) for path in paths}
    layers = [(path, digests[path]) for path in paths]

    tmp = args.out + ".tmp"
    manifest = []
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, digest in layers:
            name = f"{digest}/layer.tar"
            dir_info = tarfile.TarInfo(digest)
            dir_info.type = tarfile.DIRTYPE
            dir_info.mode = 0o755
            dir_info.mtime = int(now)
            tar.addfile(dir_info)
            info = tar.gettarinfo(path, arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as f:
                tar.addfile(info, f)

        for spec in specs:
            tags = spec.pop("tags")
            own = list(args.layer) + spec.pop("extra_layers", [])
            diff_ids = [f"sha256:{digests[p]}" for p in own]
            layer_names = [f"{digests[p]}/layer.tar" for p in own]
            unknown = set(spec) - set(CONFIG_KEYS)
            if unknown:
                raise SystemExit(f"unknown image config keys: {sorted(unknown)}")
            config = {
                "architecture": "amd64",
                "os": "linux",
                "created": created,
                "config": spec,
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [
                    {"created": created, "created_by": "tempstack scripts/local-k8s"}
                    for _ in own
                ],
            }
            config_bytes = json.dumps(config, sort_keys=True).encode()
            config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
            add_bytes(tar, config_name, config_bytes, now)
            manifest.append({"Config": config_name, "RepoTags": tags, "Layers": layer_names})

        add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode(), now)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
