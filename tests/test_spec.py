"""Unit tests of the stack-file logic: durations, signals, interpolation, graph, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempstack.errors import SpecErrors, UsageError
from tempstack.spec.graph import find_cycle, teardown_waves, topo_order
from tempstack.spec.interpolate import (
    InterpolationSyntaxError,
    Ref,
    parse,
    resolver,
    substitute,
)
from tempstack.spec.load import find_stack_file, load
from tempstack.spec.model import Condition, parse_duration, parse_signal

# -- parse_duration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (2.5, 2.5),
        ("30", 30.0),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        (" 10 s ", 10.0),
        ("0.5m", 30.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [True, False, 0, 0.0, -1, "0s", "0ms", "-5s", "", "s", "5 minutes", "1w", "1.2.3s", None, [5]],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_parse_duration_messages() -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration(-5)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


# -- parse_signal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("SIGTERM", "SIGTERM"),
        ("TERM", "SIGTERM"),
        ("sigterm", "SIGTERM"),
        ("term", "SIGTERM"),
        ("int", "SIGINT"),
        ("SIGQUIT", "SIGQUIT"),
        (15, "SIGTERM"),
        (2, "SIGINT"),
        (9, "SIGKILL"),
    ],
)
def test_parse_signal(value: object, name: str) -> None:
    assert parse_signal(value) == name


@pytest.mark.parametrize("value", ["SIGFOO", "FOO", "", "SIG", True, False, 0, 999, -1, None, 1.0])
def test_parse_signal_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="not a signal"):
        parse_signal(value)


# -- interpolation -----------------------------------------------------------------------


def test_parse_plain_text_has_no_refs() -> None:
    assert parse("") == []
    assert parse("python -m http.server") == []
    assert parse("$HOME and $1 stay as they are") == []


def test_parse_service_and_self_refs() -> None:
    assert parse("postgres at ${db.url}") == [Ref("${db.url}", service="db", attr="url")]
    assert parse("--port ${self.port}") == [Ref("${self.port}", service="self", attr="port")]
    assert parse("${my-api.host}:${my-api.port}") == [
        Ref("${my-api.host}", service="my-api", attr="host"),
        Ref("${my-api.port}", service="my-api", attr="port"),
    ]


def test_parse_env_refs_and_defaults() -> None:
    assert parse("${HOME}") == [Ref("${HOME}", var="HOME")]
    assert parse("${LEVEL:-info}") == [Ref("${LEVEL:-info}", var="LEVEL", default="info")]
    assert parse("${EMPTY:-}") == [Ref("${EMPTY:-}", var="EMPTY", default="")]
    (ref,) = parse("${URL:-http://x:80/a}")
    assert (ref.var, ref.default) == ("URL", "http://x:80/a")


def test_parse_dollar_escapes() -> None:
    assert parse("$$") == []
    assert parse("cost: $$5") == []
    assert parse("$${db.url}") == []  # escaped: a literal ${db.url}
    assert parse("$$${db.url}") == [Ref("${db.url}", service="db", attr="url")]
    assert parse("$$$${db.url}") == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("${db url}", "is not a reference"),
        ("${}", "is not a reference"),
        ("${db.}", "is not a reference"),
        ("${1abc}", "is not a reference"),
        ("${a.b.c}", "is not a reference"),
        ("${", "unclosed"),
        ("postgres://${db.url", "unclosed"),
        ("${db.url} and ${", "unclosed"),
    ],
)
def test_parse_rejects(text: str, match: str) -> None:
    with pytest.raises(InterpolationSyntaxError, match=match):
        parse(text)


EXPORTS = {
    "db": {"url": "postgresql://u:p@127.0.0.1:5432/app", "port": "5432"},
    "api": {"port": "8000", "host": "127.0.0.1"},
}


def test_substitute_refs_and_escapes() -> None:
    lookup = resolver(EXPORTS, {"HOME": "/home/me", "EMPTY": ""}, "api")
    assert substitute("${db.url}", lookup) == EXPORTS["db"]["url"]
    assert substitute("--port ${self.port}", lookup) == "--port 8000"
    assert substitute("${api.host}:${self.port}", lookup) == "127.0.0.1:8000"
    assert substitute("${HOME}/x", lookup) == "/home/me/x"
    assert substitute("${HOME:-/tmp}", lookup) == "/home/me"
    assert substitute("${MISSING:-fallback}", lookup) == "fallback"
    assert substitute("${MISSING:-}", lookup) == ""
    assert substitute("$$", lookup) == "$"
    assert substitute("$${db.url}", lookup) == "${db.url}"
    assert substitute("$$${db.port}", lookup) == "$5432"
    assert substitute("price $$5, $HOME", lookup) == "price $5, $HOME"
    assert substitute("no refs", lookup) == "no refs"


def test_substitute_unset_variable_raises() -> None:
    lookup = resolver(EXPORTS, {}, None)
    with pytest.raises(KeyError):
        substitute("${MISSING}", lookup)


def test_substitute_self_uses_the_owner() -> None:
    assert substitute("${self.port}", resolver(EXPORTS, {}, "db")) == "5432"
    assert substitute("${self.port}", resolver(EXPORTS, {}, "api")) == "8000"


# -- graph -------------------------------------------------------------------------------

# api needs migrate and cache; migrate needs db; worker needs api; db and cache need nothing
DEPS: dict[str, dict[str, object]] = {
    "api": {"migrate": "completed", "cache": "ready"},
    "migrate": {"db": "ready"},
    "db": {},
    "cache": {},
    "worker": {"api": "started"},
}


def test_find_cycle_none() -> None:
    assert find_cycle({}) is None
    assert find_cycle(DEPS) is None
    diamond = {"a": {"b": 1, "c": 1}, "b": {"d": 1}, "c": {"d": 1}, "d": {}}
    assert find_cycle(diamond) is None


def test_find_cycle_two_and_three() -> None:
    assert find_cycle({"a": {"b": 1}, "b": {"a": 1}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]


def test_find_cycle_self_loop_and_tail() -> None:
    assert find_cycle({"a": {"a": 1}}) == ["a", "a"]
    # x leads into the cycle but is not part of it
    cycle = find_cycle({"x": {"a": 1}, "a": {"b": 1}, "b": {"a": 1}})
    assert cycle == ["a", "b", "a"]


def test_find_cycle_ignores_unknown_targets() -> None:
    assert find_cycle({"a": {"ghost": 1}}) is None


def test_topo_order_respects_deps_and_declaration_order() -> None:
    order = topo_order(DEPS)
    assert order == ["db", "cache", "migrate", "api", "worker"]
    for name, targets in DEPS.items():
        for t in targets:
            assert order.index(t) < order.index(name)


def test_topo_order_keeps_declaration_order_for_independent_services() -> None:
    assert topo_order({"c": {}, "a": {}, "b": {}}) == ["c", "a", "b"]


def test_teardown_waves_stop_dependents_first() -> None:
    waves = teardown_waves(DEPS, list(DEPS))
    assert waves == [["worker"], ["api"], ["migrate", "cache"], ["db"]]
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    for name, targets in DEPS.items():
        for t in targets:
            # t stops only after every service that depends on it
            assert wave_of[t] > wave_of[name], (t, name)


def test_teardown_waves_diamond() -> None:
    diamond = {"a": {"b": 1, "c": 1}, "b": {"d": 1}, "c": {"d": 1}, "d": {}, "e": {"d": 1}}
    waves = teardown_waves(diamond, list(diamond))
    assert waves == [["a", "e"], ["b", "c"], ["d"]]


def test_teardown_waves_of_a_subset() -> None:
    # only some services were started; the order among them still holds
    waves = teardown_waves(DEPS, ["db", "migrate"])
    assert [set(w) for w in waves] == [{"migrate"}, {"db"}]
    assert teardown_waves(DEPS, []) == []


# -- loading a valid stack ---------------------------------------------------------------

VALID = """\
[stack]
name = "shop"
description = "a shop"

[env]
LOG_LEVEL = "${LOG_LEVEL:-info}"

[services.api]
command = ["python", "-m", "http.server", "${self.port}"]
depends_on = ["migrate", "cache"]
env = { DATABASE_URL = "${db.url}", REDIS_URL = "${cache.url}", PRICE = "$$5" }
ready = { http = "/health", timeout = "30s" }

[services.migrate]
kind = "job"
command = "alembic upgrade head"
depends_on = ["db"]
timeout = "2m"

[services.db]
kind = "postgres"
databases = ["shop", "shop_test"]

[services.cache]
kind = "redis"

[services.worker]
command = "python worker.py"
depends_on = { api = "started" }
stop_signal = "INT"

[stages.test]
run = "pytest -x"
env = { API_URL = "${api.url}" }
"""


def test_valid_stack_loads(tmp_path: Path) -> None:
    path = tmp_path / "tempstack.toml"
    path.write_text(VALID)
    loaded = load(path, environ={})
    assert loaded.name == "shop"
    assert loaded.prefix == ""
    assert loaded.path == path.resolve()
    assert loaded.order == ["db", "cache", "migrate", "api", "worker"]
    assert loaded.deps == {
        "api": {"migrate": Condition.COMPLETED, "cache": Condition.READY},
        "migrate": {"db": Condition.READY},
        "db": {},
        "cache": {},
        "worker": {"api": Condition.STARTED},
    }
    # api is referenced through ${self.port} and by the stage; worker and migrate by nobody
    assert loaded.referenced == {"db", "cache", "api"}
    spec = loaded.spec
    assert spec.services["api"].kind == "process"
    assert spec.services["migrate"].timeout == 120.0  # type: ignore[union-attr]
    assert spec.services["db"].stop_signal == "SIGINT"
    assert spec.services["worker"].stop_signal == "SIGINT"
    assert spec.stages["test"].run == "pytest -x"


def test_list_depends_on_means_completed_for_a_job(tmp_path: Path) -> None:
    path = tmp_path / "tempstack.toml"
    path.write_text(
        '[stack]\nname = "s"\n'
        '[services.migrate]\nkind = "job"\ncommand = "true"\n'
        '[services.seed]\nkind = "job"\ncommand = "true"\ndepends_on = ["migrate"]\n'
        '[services.api]\ncommand = "true"\ndepends_on = ["migrate", "seed"]\n'
        '[services.web]\ncommand = "true"\ndepends_on = ["api"]\n'
    )
    loaded = load(path, environ={})
    assert loaded.deps["seed"] == {"migrate": Condition.COMPLETED}
    assert loaded.deps["api"] == {"migrate": Condition.COMPLETED, "seed": Condition.COMPLETED}
    assert loaded.deps["web"] == {"api": Condition.READY}
    assert loaded.referenced == set()


def test_environment_decides_unset_variables(tmp_path: Path) -> None:
    path = tmp_path / "tempstack.toml"
    path.write_text('[stack]\nname = "s"\n[env]\nTOKEN = "${TOKEN}"\n')
    assert load(path, environ={"TOKEN": "x"}).spec.env == {"TOKEN": "${TOKEN}"}
    with pytest.raises(SpecErrors) as info:
        load(path, environ={})
    assert [e.key for e in info.value.errors] == ["env.TOKEN"]


# -- finding the stack file --------------------------------------------------------------

PYPROJECT = """\
[project]
name = "shop"

[tool.tempstack.stack]
name = "shop"

[tool.tempstack.services.db]
kind = "postgres"
"""


def test_pyproject_is_found_without_tempstack_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert find_stack_file(None, cwd=tmp_path) == (tmp_path / "pyproject.toml").resolve()
    monkeypatch.chdir(tmp_path)
    loaded = load(environ={})
    assert loaded.prefix == "tool.tempstack"
    assert loaded.name == "shop"
    assert loaded.order == ["db"]


def test_tempstack_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "tempstack.toml").write_text('[stack]\nname = "other"\n')
    assert find_stack_file(None, cwd=tmp_path) == (tmp_path / "tempstack.toml").resolve()


def test_pyproject_without_table_is_not_a_stack_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.ruff]\n')
    with pytest.raises(UsageError, match=r"no tempstack\.toml"):
        find_stack_file(None, cwd=tmp_path)


def test_explicit_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such stack file"):
        find_stack_file(tmp_path / "nope.toml")


def test_pyproject_errors_carry_the_prefix(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT + 'databases = "shop"\n')
    with pytest.raises(SpecErrors) as info:
        load(path, environ={})
    assert [e.key for e in info.value.errors] == ["tool.tempstack.services.db.databases"]
