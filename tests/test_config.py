"""Settings (torchlint.config) called directly: rule selection, per-file ignores, test code,
target versions, finding and reading the config file, and merging it with the options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from torchlint import config, registry
from torchlint.config import (
    ConfigError,
    Settings,
    build_settings,
    did_you_mean,
    find_config,
    load_config,
    parse_target_version,
    validate_selector,
)
from torchlint.roles import DEFAULT_TEST_CODE

ALL = frozenset(registry.all_codes())
DEFAULT = frozenset(r.code for r in registry.all_rules() if r.default)


def _family(prefix: str) -> frozenset[str]:
    return frozenset(c for c in ALL if c.startswith(prefix))


def selected(**kwargs) -> frozenset[str]:
    return build_settings(None, **kwargs).selected_codes


# --- the selection -------------------------------------------------------------------------


def test_without_selectors_the_default_rules_are_selected() -> None:
    assert selected() == DEFAULT
    assert "TL607" in DEFAULT and "TL101" not in DEFAULT and "TL313" not in DEFAULT


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"select": ["TL102"]}, {"TL102"}),
        ({"select": ["TL1"]}, _family("TL1")),
        ({"select": ["ALL"]}, ALL),
        ({"select": []}, set()),
        ({"extend_select": ["TL102"]}, DEFAULT | {"TL102"}),
        ({"ignore": ["TL101"]}, DEFAULT - {"TL101"}),
        ({"ignore": ["ALL"]}, set()),
        ({"extend_select": ["ALL"], "ignore": ["ALL"]}, set()),  # a tie: ignore wins
        ({"select": ["TL101"], "ignore": ["TL101"]}, set()),  # a tie: ignore wins
        ({"select": ["TL1"], "ignore": ["TL101"]}, _family("TL1") - {"TL101"}),
        ({"select": ["TL101"], "ignore": ["TL1"]}, {"TL101"}),  # the code is more specific
        ({"select": ["ALL"], "ignore": ["TL1"]}, ALL - _family("TL1")),
        ({"select": ["TL"], "ignore": ["ALL"]}, ALL),  # `TL` is more specific than ALL
        ({"select": ["TL1"], "extend_select": ["TL201"]}, _family("TL1") | {"TL201"}),
    ],
)
def test_the_most_specific_selector_wins(options: dict, expected: set[str]) -> None:
    assert selected(**options) == frozenset(expected)


def test_settings_validate_their_selectors() -> None:
    assert Settings(select=("TL1",), extend_select=("ALL",), ignore=("TL101",))
    for field in ("select", "extend_select", "ignore"):
        with pytest.raises(ConfigError, match="unknown rule selector `TL99`"):
            Settings(**{field: ("TL99",)})
    with pytest.raises(ConfigError, match=r"unknown rule selector `TL99` in x\.toml"):
        Settings(per_file_ignores=(("*.py", ("TL101", "TL99")),), config_file=Path("x.toml"))


@pytest.mark.parametrize("selector", ["ALL", "TL", "TL1", "TL10", "TL101"])
def test_valid_selectors(selector: str) -> None:
    validate_selector(selector)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "empty rule selector"),
        ("TL99", "unknown rule selector `TL99` (did you mean `TL909`?)"),
        ("TL1011", "unknown rule selector `TL1011` (did you mean `TL101`?)"),
        ("TL1O1", "unknown rule selector `TL1O1` (did you mean `TL101`?)"),
        ("all", "unknown rule selector `all` (codes are upper case: `ALL`)"),
        ("tl101", "unknown rule selector `tl101` (codes are upper case: `TL101`)"),
        ("Dataloader-No-Workers",
         "unknown rule selector `Dataloader-No-Workers` (`dataloader-no-workers` is the name of "
         "TL101: use the code)"),
        ("XYZ", "unknown rule selector `XYZ`"),
    ],
)  # fmt: skip
def test_invalid_selectors_say_what_was_meant(selector: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate_selector(selector)
    assert str(error.value) == message
    with pytest.raises(ConfigError) as error:
        validate_selector(selector, where=Path("t.toml"))
    assert str(error.value).startswith(message.split(" (")[0] + " in t.toml")


def test_did_you_mean() -> None:
    assert did_you_mean("TL1O1", ["TL101", "TL611"]) == " (did you mean `TL101`?)"
    assert did_you_mean("TL1O1", ["TL611", "TL101"]) == " (did you mean `TL101`?)"
    assert did_you_mean("abcxx", ["abcyy"]) == " (did you mean `abcyy`?)"  # a ratio of 0.6
    assert did_you_mean("abcxx", ["abyyy"]) == ""
    assert did_you_mean("abc", []) == ""
    assert did_you_mean("ignroe", ["select", "ignore", "exclude"]) == " (did you mean `ignore`?)"


# --- per file --------------------------------------------------------------------------------


def _project(tmp_path: Path, toml: str = "") -> Settings:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n" + toml)
    return build_settings(tmp_path / "pyproject.toml")


def test_per_file_ignores_match_the_relative_path_the_name_or_the_path(tmp_path: Path) -> None:
    settings = _project(
        tmp_path,
        'select = ["TL101", "TL102", "TL201", "TL404"]\ntest-code = []\n'
        '[tool.torchlint.per-file-ignores]\n"src/*.py" = ["TL101"]\n"gen.py" = ["TL2"]\n'
        '"/abs/*" = ["TL404"]\n',
    )
    assert settings.enabled_codes(str(tmp_path / "x.py")) == {"TL101", "TL102", "TL201", "TL404"}
    assert settings.enabled_codes(str(tmp_path / "src" / "a.py")) == {"TL102", "TL201", "TL404"}
    assert settings.enabled_codes(str(tmp_path / "sub" / "gen.py")) == {"TL101", "TL102", "TL404"}
    assert settings.enabled_codes("/abs/a.py") == {"TL101", "TL102", "TL201"}
    assert settings.enabled_codes("/abs/a.py") == {"TL101", "TL102", "TL201"}  # cached
    assert settings.enabled_codes("src/a.py") == {"TL102", "TL201", "TL404"}  # elsewhere


def test_the_codes_of_a_path_are_worked_out_once(tmp_path: Path, monkeypatch) -> None:
    settings = _project(tmp_path, 'select = ["TL101", "TL204"]\n')
    asked: list[str] = []
    is_test_code = Settings.is_test_code

    def spy(self: Settings, path: str) -> bool:
        asked.append(path)
        return is_test_code(self, path)

    monkeypatch.setattr(Settings, "is_test_code", spy)
    test = str(tmp_path / "tests" / "a.py")
    assert settings.enabled_codes(test) == settings.enabled_codes(test) == {"TL204"}
    assert asked == [test]
    # A relative path is the same file from its directory, another file from another.
    monkeypatch.chdir(tmp_path)
    assert settings.enabled_codes("tests/a.py") == {"TL204"}
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    assert settings.enabled_codes("tests/a.py") == {"TL204"}
    assert settings.enabled_codes("a.py") == {"TL101", "TL204"}
    assert asked == [test, "tests/a.py", "a.py"]
    # Other settings (a copy with other ignores) start afresh.
    other = dataclasses.replace(settings, ignore=("TL204",))
    assert other.enabled_codes(test) == frozenset()


def test_test_code_loses_the_rules_not_for_tests(tmp_path: Path) -> None:
    settings = _project(tmp_path, 'select = ["TL101", "TL204"]\n')
    assert settings.test_code == DEFAULT_TEST_CODE
    assert settings.is_test_code(str(tmp_path / "tests" / "a.py"))
    assert not settings.is_test_code(str(tmp_path / "src" / "a.py"))
    assert settings.enabled_codes(str(tmp_path / "tests" / "a.py")) == {"TL204"}
    assert settings.enabled_codes(str(tmp_path / "src" / "a.py")) == {"TL101", "TL204"}
    none = _project(tmp_path, 'select = ["TL101", "TL204"]\ntest-code = []\n')
    assert not none.is_test_code(str(tmp_path / "tests" / "a.py"))
    assert none.enabled_codes(str(tmp_path / "tests" / "a.py")) == {"TL101", "TL204"}
    mine = _project(tmp_path, 'select = ["TL101"]\ntest-code = ["checks/"]\n')
    assert mine.is_test_code(str(tmp_path / "checks" / "a.py"))
    assert not mine.is_test_code(str(tmp_path / "tests" / "a.py"))


# --- target versions -------------------------------------------------------------------------


def test_supports_and_target_at_least() -> None:
    unknown = Settings()
    assert unknown.supports((2, 4)) and not unknown.target_at_least((1, 0))
    target = Settings(target_version=(2, 4))
    assert target.supports((2, 3)) and target.supports((2, 4)) and not target.supports((2, 5))
    assert target.target_at_least((2, 4)) and target.target_at_least("2.3")
    assert not target.target_at_least("2.5") and not target.target_at_least((2, 5))


@pytest.mark.parametrize("value", ["2.4", "2.4.1"])
def test_parse_target_version(value: str) -> None:
    assert parse_target_version(value, "here") == (2, 4)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.4, 'here: `target-version` must look like "2.1", got 2.4'),
        ("2", "here: `target-version` must look like \"2.1\", got '2'"),
        ("2.99", "here: `target-version` '2.99' is not a torch release torchlint knows (1.0 .."),
    ],
)
def test_parse_target_version_errors(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_target_version(value, "here")
    assert str(error.value).startswith(message)


def test_target_version_comes_from_the_option_the_file_or_the_project(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "requirements.txt").write_text("torch>=2.1\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    path = tmp_path / "pyproject.toml"
    declared = build_settings(path)
    assert (declared.target_version, declared.target_version_source) == (
        (2, 1), f"`torch>=2.1` in {tmp_path / 'requirements.txt'}")  # fmt: skip
    assert build_settings(None).target_version == (2, 1)  # from the project above
    assert build_settings(None, table={}).target_version is None  # in memory: stands alone
    option = build_settings(path, target_version="2.4")
    assert (option.target_version, option.target_version_source) == ((2, 4), "--target-version")
    path.write_text('[tool.torchlint]\ntarget-version = "2.3"\n')
    in_file = build_settings(path)
    assert (in_file.target_version, in_file.target_version_source) == (
        (2, 3), f"`target-version` in {path}")  # fmt: skip
    assert build_settings(path, target_version="2.4").target_version == (2, 4)
    assert build_settings(None, table={"target-version": "2.2"}).target_version == (2, 2)


def test_a_torchlint_toml_finds_the_project_above_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch>=2.2"]\n')
    (tmp_path / "config").mkdir()
    toml = tmp_path / "config" / "torchlint.toml"
    toml.write_text('select = ["TL101"]\n')
    settings = build_settings(toml)
    assert (settings.target_version, settings.root) == ((2, 2), tmp_path / "config")


# --- the config file -------------------------------------------------------------------------


def test_find_config_takes_the_nearest_file_with_a_torchlint_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nselect = ["TL101"]\n')
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text("[tool.black]\nline-length = 99\n")
    assert find_config(inner) == tmp_path / "pyproject.toml"
    assert find_config(inner / "x.py") == tmp_path / "pyproject.toml"
    (inner / "pyproject.toml").write_text("[tool.torchlint\n")  # broken: reported by load_config
    assert find_config(inner) == inner / "pyproject.toml"
    assert find_config(Path("/")) is None


def test_load_config(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[tool.torchlint]\nselect = ["TL101"]\n')
    assert load_config(pyproject) == {"select": ["TL101"]}
    pyproject.write_text('[project]\nname = "x"\n')
    assert load_config(pyproject) == {}
    toml = tmp_path / "torchlint.toml"
    toml.write_text('ignore = ["TL101"]\n')
    assert load_config(toml) == {"ignore": ["TL101"]}
    toml.write_text('[tool.torchlint]\nignore = ["TL102"]\n')
    assert load_config(toml) == {"ignore": ["TL102"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool]\ntorchlint = 1\n", "{path}: [tool.torchlint] must be a table"),
        ("[tool.torchlint]\nignroe = []\nfoo = 1\n",
         "{path}: unknown key(s) in [tool.torchlint]: foo, ignroe (did you mean `ignore`?)"),
        ("[tool.torchlint\n", "{path}: invalid TOML: "),
        (b"\xff\xfe", "{path}: invalid TOML: "),
    ],
)  # fmt: skip
def test_load_config_errors(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(message.format(path=path))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


BAD_TABLES = [
    ({"select": "TL101"}, "`select` must be a list of strings"),
    ({"select": ["TL101", 1]}, "`select` must be a list of strings"),
    ({"unsafe-fixes": "yes"}, "`unsafe-fixes` must be true or false"),
    ({"respect-gitignore": 1}, "`respect-gitignore` must be true or false"),
    ({"runtime-helpers": "yes"}, '`runtime-helpers` must be true, false or "auto"'),
    ({"per-file-ignores": ["TL101"]}, "`per-file-ignores` must be a table of pattern = [codes]"),
    ({"per-file-ignores": {"a.py": "TL101"}}, "`per-file-ignores.a.py` must be a list of codes"),
    ({"per-file-ignores": {"a.py": [1]}}, "`per-file-ignores.a.py` must be a list of codes"),
    ({"cache-dir": 1}, "`cache-dir` must be a string"),
    ({"max-file-size": -1}, "`max-file-size` must be a whole number of KiB (0: no limit), not -1"),
    ({"max-file-size": 1.5}, "`max-file-size` must be a whole number"),
    ({"max-file-size": True}, "`max-file-size` must be a whole number"),
    ({"max-nesting": -1}, "`max-nesting` must be a whole number of brackets (0: no limit), not -1"),
    ({"max-nesting": "40"}, "`max-nesting` must be a whole number"),
    (
        {"max-parse-memory": -1},
        "`max-parse-memory` must be a whole number of MiB (0: no limit), not -1",
    ),
    ({"max-parse-memory": 0.5}, "`max-parse-memory` must be a whole number"),
    ({"target-version": "9.9"}, "`target-version` '9.9' is not a torch release"),
]


@pytest.mark.parametrize(("table", "message"), BAD_TABLES)
def test_bad_values_name_the_file_and_the_key(tmp_path: Path, table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_settings(None, table=table)
    assert str(error.value).startswith(f"<command line>: {message}")


def test_max_parse_memory_is_read_and_changes_the_cache_key() -> None:
    default = build_settings(None, table={})
    assert default.max_parse_memory == 900
    chosen = build_settings(None, table={"max-parse-memory": 64})
    assert chosen.max_parse_memory == 64
    assert build_settings(None, table={"max-parse-memory": 0}).max_parse_memory == 0
    assert chosen.fingerprint() != default.fingerprint()


def test_unknown_keys_of_an_in_memory_table() -> None:
    with pytest.raises(ConfigError) as error:
        build_settings(None, table={"selct": [], "foo": 1})
    assert str(error.value) == "unknown key(s): foo, selct (did you mean `select`?)"


def test_unknown_selectors_of_the_options_are_not_blamed_on_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    for option in ("select", "extend_select", "ignore"):
        with pytest.raises(ConfigError) as error:
            build_settings(tmp_path / "pyproject.toml", **{option: ["TL99"]})
        assert str(error.value) == "unknown rule selector `TL99` (did you mean `TL909`?)"


# --- merging the file and the options ----------------------------------------------------------


def test_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = build_settings(None, table={})
    assert settings == Settings()
    assert (settings.unsafe_fixes, settings.runtime_helpers, settings.respect_gitignore) == (
        False, True, True)  # fmt: skip
    assert (settings.max_file_size, settings.cache_dir, settings.test_code) == (
        1024, ".torchlint_cache", DEFAULT_TEST_CODE)  # fmt: skip
    assert (settings.exclude, settings.extend_exclude, settings.per_file_ignores) == ((), (), ())
    assert (settings.select, settings.extend_select, settings.ignore) == (None, (), ())
    assert (settings.root, settings.config_file, settings.target_version) == (tmp_path, None, None)
    assert build_settings(None).root == tmp_path


def test_where_the_settings_came_from_does_not_make_them_different(tmp_path: Path) -> None:
    settings = Settings(target_version=(2, 4), target_version_source="a", root=tmp_path)
    assert settings == Settings(
        target_version=(2, 4), target_version_source="b", root=tmp_path / "x",
        config_file=tmp_path / "pyproject.toml")  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.select = ("TL101",)  # type: ignore[misc]
    assert hash(settings) == hash(Settings(target_version=(2, 4), root=tmp_path))


def test_the_file_is_read_and_the_options_win(tmp_path: Path) -> None:
    settings = _project(
        tmp_path,
        'select = ["TL1"]\nextend-select = ["TL201"]\nignore = ["TL101"]\nexclude = ["a/"]\n'
        'extend-exclude = ["b/"]\nunsafe-fixes = true\nruntime-helpers = false\n'
        'respect-gitignore = false\ncache-dir = "c"\ntest-code = ["t/"]\nmax-file-size = 0\n'
        '[tool.torchlint.per-file-ignores]\n"z.py" = ["TL102"]\n"y.py" = ["TL103"]\n',
    )
    assert (settings.select, settings.extend_select, settings.ignore) == (
        ("TL1",), ("TL201",), ("TL101",))  # fmt: skip
    assert (settings.exclude, settings.extend_exclude) == (("a/",), ("b/",))
    assert (settings.unsafe_fixes, settings.runtime_helpers, settings.respect_gitignore) == (
        True, False, False)  # fmt: skip
    assert (settings.cache_dir, settings.test_code, settings.max_file_size) == ("c", ("t/",), 0)
    assert settings.per_file_ignores == (("y.py", ("TL103",)), ("z.py", ("TL102",)))
    assert (settings.root, settings.config_file) == (tmp_path, tmp_path / "pyproject.toml")
    path = tmp_path / "pyproject.toml"
    options = build_settings(
        path, extend_select=["TL202"], ignore=["TL103"], unsafe_fixes=False,
        runtime_helpers=True, exclude=["e/"], extend_exclude=["f/"])  # fmt: skip
    assert (options.select, options.extend_select, options.ignore) == (
        ("TL1",), ("TL201", "TL202"), ("TL101", "TL103"))  # fmt: skip
    assert (options.exclude, options.extend_exclude) == (("e/",), ("b/", "f/"))
    assert (options.unsafe_fixes, options.runtime_helpers) == (False, True)
    assert build_settings(path, exclude=[]).exclude == ()
    # --select replaces the file's whole selection.
    replaced = build_settings(path, select=["TL2"], ignore=["TL201"])
    assert (replaced.select, replaced.extend_select, replaced.ignore) == (("TL2",), (), ("TL201",))


def test_runtime_helpers_auto_follows_the_declared_dependencies(tmp_path: Path) -> None:
    assert not _project(tmp_path, 'runtime-helpers = "auto"\n').runtime_helpers
    (tmp_path / "requirements.txt").write_text("torchlint>=0.1\n")
    assert _project(tmp_path, 'runtime-helpers = "auto"\n').runtime_helpers
    assert not _project(tmp_path, "runtime-helpers = false\n").runtime_helpers
    assert _project(tmp_path, "runtime-helpers = true\n").runtime_helpers
    assert _project(tmp_path).runtime_helpers


def test_fingerprint_names_what_changes_results() -> None:
    base = Settings()
    assert base.fingerprint() == Settings(exclude=("x",), unsafe_fixes=True).fingerprint()
    for other in (Settings(select=("TL1",)), Settings(runtime_helpers=False),
                  Settings(target_version=(2, 4)), Settings(test_code=()),
                  Settings(per_file_ignores=(("a.py", ("TL101",)),))):  # fmt: skip
        assert other.fingerprint() != base.fingerprint()


def test_project_directory_is_the_nearest_with_a_pyproject(tmp_path: Path) -> None:
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    assert config._project_directory(inner) == inner
    (tmp_path / "pyproject.toml").write_text("")
    assert config._project_directory(inner) == tmp_path
