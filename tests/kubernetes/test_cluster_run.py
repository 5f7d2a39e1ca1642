"""The demo-like stack on a real cluster: up, stages outside and inside, reports, teardown."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tempstack import Stack
from tempstack.backends.kubernetes import names
from tempstack.backends.kubernetes.client import ApiException, Clients

from .stacks import TEST_FILE, demo_stack


def gone(kube: Clients, namespace: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.5)
    return False


def test_stack_runs_with_stages_through_forwards_and_in_cluster(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    path = write_stack(demo_stack("kdemo"))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text(TEST_FILE)
    result = Stack.load(path).run(
        report_dir=tmp_path / "report", echo=False, history=False, wait=True
    )
    journal = json.loads((tmp_path / "report" / "journal.json").read_text())
    assert result.exit_code == 0, (result.error, [o.reason for o in result.outcomes])

    # both stages ran both tests; from outside the db is the forward, inside its service
    by_stage = {o.stage: o for o in result.outcomes}
    assert {t.name for t in by_stage["outside"].tests} == {
        "test_items_through_the_app",
        "test_database_directly",
    }
    assert by_stage["inside"].counts.passed == 2
    inside_log = Path(by_stage["inside"].log or "").read_text()
    outside_log = Path(by_stage["outside"].log or "").read_text()
    assert "2 passed" in inside_log and "2 passed" in outside_log
    junit = tmp_path / "report" / "stages" / "inside" / "junit.xml"
    assert junit.exists() and "test_database_directly" in junit.read_text()

    # the namespace carried the run's labels, and is gone (run with wait=True)
    namespace = names.namespace(result.run_id)
    assert gone(kube, namespace, timeout=5)
    states = {s["name"]: s for s in journal["services"]}
    assert "completed" in states["migrate"]["timings"]
    assert states["web"]["state"] == "stopped"
    # logs and events were collected before the namespace went
    web_log = (tmp_path / "report" / states["web"]["log"]).read_text()
    assert "GET /items" in web_log
    migrate_log = (tmp_path / "report" / states["migrate"]["log"]).read_text()
    assert "migrated" in migrate_log
    events = (tmp_path / "report" / "kubernetes" / "events.log").read_text()
    assert "Pod/db-0" in events and "Started" in events


def test_namespace_is_labelled_and_services_reach_each_other(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    stack = Stack.load(write_stack(demo_stack("klabels")))
    with stack.up(report_dir=tmp_path / "report") as run:
        namespace = names.namespace(run.id)
        ns = kube.core.read_namespace(namespace)
        labels = ns.metadata.labels
        assert labels[names.RUN] == run.id
        assert labels[names.STACK] == "klabels"
        assert labels[names.OWNER] and labels[names.HOST]
        assert float(labels[names.EXPIRES]) > time.time()
        kinds = {
            "Deployment": kube.apps.list_namespaced_deployment(namespace).items,
            "StatefulSet": kube.apps.list_namespaced_stateful_set(namespace).items,
            "Service": kube.core.list_namespaced_service(namespace).items,
            "Secret": [
                s for s in kube.core.list_namespaced_secret(namespace).items if s.type == "Opaque"
            ],
            "Job": kube.batch.list_namespaced_job(namespace).items,
        }
        assert {o.metadata.name for o in kinds["StatefulSet"]} == {"db", "cache"}
        assert {o.metadata.name for o in kinds["Deployment"]} == {"web"}
        assert {o.metadata.name for o in kinds["Job"]} == {"migrate"}
        # a password in a command is not in the Job's spec, only in its Secret
        (job,) = kinds["Job"]
        command = job.spec.template.spec.containers[0].command
        assert run.env["DB_PASSWORD"] not in repr(command)
        assert command[-1] == "$(TS_SECRET_0)"
        for objects in kinds.values():
            for obj in objects:
                assert obj.metadata.labels[names.RUN] == run.id, obj.metadata.name
        # pods know their run, but are not tagged as this machine's processes to sweep
        (web_env,) = [s for s in kinds["Secret"] if s.metadata.name == "web-env"]
        assert "TEMPSTACK_RUN_ID" in web_env.data and "TEMPSTACK_OWNER" not in web_env.data
        # exports on this machine are forwards to 127.0.0.1
        assert run.env["DB_HOST"] == "127.0.0.1"
        import httpx

        body = httpx.get(run.env["WEB_URL"] + "/items", timeout=10).json()
        assert body["items"] == ["apple", "pear"]
    assert gone(kube, namespace)


def test_two_runs_at_once_get_separate_namespaces(
    write_stack, tmp_path: Path, kube: Clients
) -> None:
    import threading

    text = demo_stack("ktwo", stages=False)
    a = Stack.load(write_stack(text, "a.toml"))
    b = Stack.load(write_stack(text, "b.toml"))
    seen: dict[str, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2, timeout=180)

    def bring_up(stack: Stack, key: str) -> None:
        try:
            with stack.up(report_dir=tmp_path / key) as run:
                import httpx

                seen[key] = names.namespace(run.id)
                assert httpx.get(run.env["WEB_URL"] + "/items", timeout=10).json()["visits"] == 1
                barrier.wait()  # both up at the same time
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=bring_up, args=(s, k)) for s, k in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen["a"] != seen["b"]
    assert gone(kube, seen["a"]) and gone(kube, seen["b"])
