"""A shared machine, attacked as a hostile local user would: tempstack runs as root, and a
second, unprivileged user (made by this test) tries to read a run's secrets, plants a home
or a state file, leaves decoy directories and processes. Each attack fails safe, with a
clear message where tempstack refuses."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tempstack

from .helpers import basic_stack, cli, home

pytestmark = pytest.mark.integration

INTRUDER = "tsintruder"


@pytest.fixture(scope="module")
def intruder() -> Iterator[pwd.struct_passwd]:
    """An unprivileged user of our own; removed again if this test made it."""
    assert os.geteuid() == 0, "these attacks are made against tempstack running as root"
    made = False
    try:
        pwd.getpwnam(INTRUDER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
            check=True,
        )
        made = True
    try:
        yield pwd.getpwnam(INTRUDER)
    finally:
        if made:
            subprocess.run(["userdel", INTRUDER], check=False)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder in /tmp that the intruder can reach (pytest's own tmp_path is private)."""
    path = Path(tempfile.mkdtemp(prefix="tempstack-security-", dir="/tmp"))
    path.chmod(0o1777)  # like /tmp (and /dev/shm): anyone may create, only owners remove
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as(user: pwd.struct_passwd) -> dict[str, object]:
    """Popen arguments that run a command as ``user`` alone (no groups of ours)."""
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


def as_user(user: pwd.struct_passwd, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv, capture_output=True, text=True, timeout=30, check=False, **_as(user)
    )


def as_user_popen(user: pwd.struct_passwd, argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, **_as(user))  # type: ignore[call-overload, no-any-return]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_another_user_reads_no_secret_of_a_run(write_stack, intruder: pwd.struct_passwd) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(basic_stack("private")))
    with stack.up() as run:
        run_dir = home() / "runs" / run.id
        state = run_dir / "state.json"
        password = run.env["DB_PASSWORD"]
        assert password in state.read_text()  # it is there, for tempstack env ...
        # ... and only for us: the home and run dir can be entered (PostgreSQL runs as an
        # unprivileged user), never listed; the state file is ours alone
        assert (_mode(home()), _mode(home() / "runs"), _mode(run_dir)) == (0o711, 0o711, 0o711)
        assert _mode(state) == 0o600 and _mode(run_dir / "web") == 0o700
        for argv in (["cat", str(state)], ["ls", str(run_dir)], ["ls", str(home())]):
            tried = as_user(intruder, argv)
            assert tried.returncode != 0 and "Permission denied" in tried.stderr, argv
        # Redis answers nobody who lacks the run's password
        port = int(run.env["CACHE_PORT"])
        ping = as_user(  # bash's /dev/tcp: nothing of this checkout needs to be readable
            intruder,
            [
                "bash",
                "-c",
                f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'PING\\r\\n' >&3; "
                "read -r r <&3; echo $r",
            ],
        )
        assert "NOAUTH" in ping.stdout, ping
        # ps shows no password unless asked; tempstack env stays the way to get them
        listed = cli("ps", "--json")
        assert listed.returncode == 0 and password not in listed.stdout
        assert "***" in listed.stdout
        shown = cli("ps", "--json", "--show-secrets")
        assert password in shown.stdout
        assert password in cli("env", run.id).stdout


def _victims(tmp_path: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    """A root-owned directory and a root-owned process that nothing may touch."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    return victim, proc


def _forged_state(run_dir: Path, victim: Path, pid: int, created: float) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "state.json").write_text(
        json.dumps(
            {
                "marker": "tempstack-run",
                "schema": 1,
                "run_id": run_dir.name,
                "stack": "evil",
                "status": "ready",
                "created_ts": created,
                "run_dir": str(victim),
                "supervisor": {"pid": 999999, "create_time": 1.0},
                "dirs": [str(victim)],
                "ports": [],
                "services": {"x": {"pid": pid, "pgid": os.getpgid(pid), "process": {"pid": pid}}},
            }
        )
    )


def test_a_home_another_user_planted_is_refused(
    shared_tmp: Path, intruder: pwd.struct_passwd
) -> None:
    tmp_path = shared_tmp
    victim, proc = _victims(tmp_path)
    try:
        planted = tmp_path / "planted-home"
        as_user(intruder, ["mkdir", "-p", str(planted / "runs" / "evil-20260101T000000-abcd")])
        forged = tmp_path / "forged.json"
        _forged_state(tmp_path / "forged", victim, proc.pid, time.time() - 3600)
        (tmp_path / "forged" / "state.json").rename(forged)
        forged.chmod(0o644)
        target = planted / "runs" / "evil-20260101T000000-abcd" / "state.json"
        as_user(intruder, ["cp", str(forged), str(target)])
        assert target.stat().st_uid == intruder.pw_uid

        for home_path in (planted,):
            done = cli("gc", env={"TEMPSTACK_HOME": str(home_path)})
            assert done.returncode == 2, done.stdout + done.stderr
            (line,) = done.stderr.strip().splitlines()
            assert str(home_path) in line and f"owned by uid {intruder.pw_uid}" in line
            assert "TEMPSTACK_HOME" in line and "Traceback" not in done.stderr

        # a symbolic link planted where the home would be is never followed
        link = tmp_path / "link-home"
        as_user(intruder, ["ln", "-s", str(victim), str(link)])
        done = cli("ps", env={"TEMPSTACK_HOME": str(link)})
        assert done.returncode == 2 and "is a symbolic link" in done.stderr
        # a home of ours that others may write is refused too
        loose = tmp_path / "loose-home"
        loose.mkdir(mode=0o777)
        loose.chmod(0o777)
        done = cli("gc", env={"TEMPSTACK_HOME": str(loose)})
        assert done.returncode == 2 and "writable by others (mode 777)" in done.stderr

        assert (victim / "precious").read_text() == "keep me"
        assert proc.poll() is None, "a process named by a planted state file was killed"
    finally:
        proc.kill()
        proc.wait()


def test_gc_kills_and_removes_only_what_is_ours(
    tmp_path: Path, intruder: pwd.struct_passwd
) -> None:
    victim, proc = _victims(tmp_path)
    other = as_user_popen(intruder, ["sleep", "300"])
    try:
        runs = home() / "runs"
        # a state of our own naming a process that began before the run, a process of
        # another user, and a directory outside the run without our marker
        forged_dir = runs / "forged-20260101T000000-abcd"
        _forged_state(forged_dir, victim, proc.pid, time.time() + 5)
        state = json.loads((forged_dir / "state.json").read_text())
        state["services"]["y"] = {"pid": other.pid, "pgid": os.getpgid(other.pid)}
        (forged_dir / "state.json").write_text(json.dumps(state))
        (forged_dir / "state.json").chmod(0o600)
        # a directory of someone else's (no marker, no state), old enough to look stray
        decoy = runs / "decoy-20260101T000000-abcd"
        decoy.mkdir()
        (decoy / "data").write_text("not tempstack's")
        old = time.time() - 7200
        os.utime(decoy, (old, old))

        done = cli("gc")

        assert done.returncode == 0, done.stdout + done.stderr
        assert "removing forged-20260101T000000-abcd: orphaned" in done.stderr
        assert f"left alone: {decoy}" in done.stderr
        assert f"left {victim} alone" in done.stderr
        assert decoy.is_dir() and (victim / "precious").read_text() == "keep me"
        assert proc.poll() is None and other.poll() is None
        assert not forged_dir.exists()
    finally:
        for p in (proc, other):
            p.kill()
            p.wait()
        (decoy / "data").unlink(missing_ok=True)
        if decoy.is_dir():
            decoy.rmdir()


LEAKY_STACK = """
[stack]
name = "leaky"

[env]
PAYMENTS_API_KEY = "given-api-key-0123456789"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.files]
kind = "s3"

[services.auth]
kind = "oidc"
clients = [{ id = "shop", redirect_uris = ["http://127.0.0.1/cb"] }]

[services.chatty]
command = ["python3", "-c", "import os, time; print('settings:', dict(os.environ), flush=True); \
time.sleep(600)"]
ready = { log = "settings:" }
env = { DB_URL = "${db.url}", S3_SECRET = "${files.aws_secret_access_key}" }

[stages.api]
kind = "pytest"
args = ["-q", "test_leak.py"]
"""

LEAKY_TEST = """
import base64, json, os, urllib.parse

SECRETS = {
    "db": os.environ["DB_PASSWORD"],
    "cache": os.environ["CACHE_PASSWORD"],
    "s3": os.environ["FILES_AWS_SECRET_ACCESS_KEY"],
    "oidc": os.environ["AUTH_SHOP_CLIENT_SECRET"],
    "given": os.environ["PAYMENTS_API_KEY"],
}


def test_prints_its_settings_and_fails():
    with open(os.environ["SECRETS_OUT"], "w") as f:
        json.dump(SECRETS, f)
    print("environment:", dict(os.environ))
    user = os.environ["DB_USER"]
    basic = base64.b64encode(f"{user}:{SECRETS['db']}".encode()).decode()
    print("Authorization: Basic", basic)
    print("encoded:", urllib.parse.quote(SECRETS["s3"], safe=""))
    assert SECRETS["oidc"] == SECRETS["db"], f"{SECRETS} and {os.environ['DB_URL']}"
"""


def test_every_report_file_is_masked(tmp_path: Path) -> None:
    """A stage prints every secret (plain, URL-encoded, in a Basic header) and fails with
    them in its message; a service logs them: no file of the report directory, and
    nothing on the terminal, holds any of them."""
    (tmp_path / "tempstack.toml").write_text(LEAKY_STACK)
    (tmp_path / "test_leak.py").write_text(LEAKY_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "secrets.json"
    report = tmp_path / "report"
    done = cli(
        "run",
        "-f",
        str(tmp_path / "tempstack.toml"),
        "--report-dir",
        str(report),
        env={"SECRETS_OUT": str(out)},
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    secrets = json.loads(out.read_text())
    assert len(set(secrets.values())) == 5
    files = [p for p in report.rglob("*") if p.is_file()]
    assert {"journal.json", "summary.md", "report.html", "junit.xml", "output.log"} <= {
        p.name for p in files
    }
    from urllib.parse import quote

    for name, secret in secrets.items():
        forms = {secret, quote(secret, safe="")}
        for form in forms:
            for path in files:
                assert form.encode() not in path.read_bytes(), f"{name} secret in {path}"
            assert form not in done.stdout + done.stderr, f"{name} secret on the terminal"
    assert "***" in (report / "summary.md").read_text()


def test_a_default_home_precreated_by_another_user_is_refused(
    intruder: pwd.struct_passwd,
) -> None:
    """``/dev/shm`` is world-writable: the intruder creates the default home of a victim
    user (not root's, which this machine's own runs use) before the victim's first run."""
    victim_name = "tsvictim"
    made = False
    try:
        pwd.getpwnam(victim_name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", victim_name], check=True)
        made = True
    victim = pwd.getpwnam(victim_name)
    planted = Path("/dev/shm") / f"tempstack-{victim.pw_uid}"
    assert not planted.exists(), f"{planted} exists already; remove it to run this test"
    try:
        as_user(intruder, ["mkdir", "-m", "0777", str(planted)])
        said = _home_as(victim)
        assert said.startswith(f"{planted} (tempstack's home) is owned by uid {intruder.pw_uid}")
        assert "TEMPSTACK_HOME" in said
        assert not any(planted.iterdir())  # nothing of the victim's went into it
    finally:
        shutil.rmtree(planted, ignore_errors=True)
        if made:
            subprocess.run(["userdel", victim_name], check=False)


def _home_as(user: pwd.struct_passwd) -> str:
    """What ``paths.home()`` says when ``user`` (without TEMPSTACK_HOME) asks for its
    default home: in a forked child that becomes that user (the code is already loaded, so
    the checkout need not be readable by it)."""
    from tempstack.backends.local import paths
    from tempstack.errors import UsageError

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.environ.pop("TEMPSTACK_HOME", None)
            try:
                message = f"accepted {paths.home()}"
            except UsageError as exc:
                message = str(exc)
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        said = fh.read()
    os.waitpid(pid, 0)
    return said
