"""Failures on a real cluster are reported at once, with the reason, and cleaned up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tempstack import Stack
from tempstack.backends.kubernetes import names
from tempstack.backends.kubernetes.client import Clients

from .stacks import IMAGES
from .test_cluster_run import gone

HEAD = """
[stack]
name = "{name}"
backend = "kubernetes"

[services.db]
kind = "postgres"
"""


def stack(name: str, body: str) -> str:
    """A stack with postgres, ``body`` and the local cluster's images."""
    return HEAD.format(name=name) + body + IMAGES


def run(path: Path, tmp_path: Path, timeout: float = 120.0) -> tuple[int, str, float]:
    started = time.monotonic()
    result = Stack.load(path).run(
        report_dir=tmp_path / "report", echo=False, history=False, timeout=timeout
    )
    took = time.monotonic() - started
    tail = "\n".join(getattr(result.error, "log_tail", None) or [])
    return result.exit_code, f"{result.error}\n{tail}", took


def test_crash_looping_service_is_reported_with_its_reason(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    text = stack(
        "kcrash",
        """
[services.web]
command = ["sh", "-c", "echo cannot find config.yml >&2; exit 3"]
ready = { http = "/health", timeout = "100s" }
depends_on = ["db"]
""",
    )
    code, message, took = run(write_stack(text), tmp_path)
    assert code == 3, message
    # the container's exit, not a readiness timeout after 100 s
    assert "web" in message and "exited with code 3" in message, message
    assert "cannot find config.yml" in message
    assert took < 90


def test_failing_job_fails_the_run_with_its_log(write_stack, tmp_path: Path, kube: Clients) -> None:
    text = stack(
        "kjob",
        """
[services.migrate]
kind = "job"
command = ["sh", "-c", "echo 'relation users already exists'; exit 7"]
depends_on = ["db"]
""",
    )
    code, message, _ = run(write_stack(text), tmp_path)
    assert code == 3, message
    assert "job migrate failed with exit code 7" in message
    assert "relation users already exists" in message
    journal = json.loads((tmp_path / "report" / "journal.json").read_text())
    assert journal["result"]["exit_code"] == 3


def test_missing_image_is_reported_at_once_with_events(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    text = stack(
        "kpull",
        """
[services.web]
command = ["true"]
image = "tempstack.local/no-such-image:1"
ready = { tcp = true, timeout = "100s" }
""",
    )
    code, message, took = run(write_stack(text), tmp_path)
    assert code == 3, message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    assert "event" in message  # the pod's events come with it
    assert took < 90


def test_sigkill_mid_run_then_gc_leaves_no_namespace(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    text = stack(
        "kkill",
        """
[stages.wait]
kind = "command"
run = "sleep 600"
""",
    )
    path = write_stack(text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tempstack.cli", "run", "-f", str(path), "--no-history"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    namespace = None
    deadline = time.monotonic() + 120
    while namespace is None and time.monotonic() < deadline:
        for ns in kube.core.list_namespace(label_selector=names.SELECTOR).items:
            if ns.metadata.labels.get(names.STACK) == "kkill":
                pods = kube.core.list_namespaced_pod(ns.metadata.name).items
                if any(p.status.phase == "Running" for p in pods):
                    namespace = ns.metadata.name
        time.sleep(0.5)
    assert namespace is not None, "the run never got its postgres pod running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gc = subprocess.run(
        [sys.executable, "-m", "tempstack.cli", "gc", "--backend", "kubernetes"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gc.returncode == 0, gc.stderr
    assert gone(kube, namespace), f"{namespace} still there; gc said: {gc.stderr}"


def test_kept_run_prints_how_to_reach_it_and_down_deletes_it(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    text = stack(
        "kkeep",
        """
[services.web]
command = ["python3", "-m", "http.server", "${self.port}"]
ready = { http = "/" }

[stages.broken]
kind = "command"
run = "exit 1"
""",
    ).replace('backend = "kubernetes"', 'backend = "kubernetes"\npreview_host = "preview.test"')
    path = write_stack(text)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "300"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tempstack.cli", "run", "-f", str(path), "--no-history"),
            *("--keep-on-failure", "--ttl", "10m"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    kept = [line for line in done.stderr.splitlines() if line.startswith("kept: ")]
    assert kept, done.stderr
    run_id = kept[0].split()[1]
    namespace = names.namespace(run_id)
    assert f"kubectl -n {namespace} port-forward service/web" in done.stderr
    assert f"http://web.{namespace}.preview.test/" in done.stderr
    ns = kube.core.read_namespace(namespace)
    expires = float(ns.metadata.labels[names.EXPIRES])
    assert time.time() + 500 < expires < time.time() + 700  # the ttl, not the default
    (ingress,) = kube.networking.list_namespaced_ingress(namespace).items
    assert ingress.spec.rules[0].host == f"web.{namespace}.preview.test"
    down = subprocess.run(
        [sys.executable, "-m", "tempstack.cli", "down", run_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stderr
    assert gone(kube, namespace)
