"""The torch versions a project supports, both ends, and what the version rules make of them.

Each declaration format gives the range it declares; no diagnostic where no supported
release warns; no fix whose replacement is newer than the floor (a walk of the catalog).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import settings_for
from torchlint.analysis import api_versions
from torchlint.config import ConfigError, Resolver, build_settings
from torchlint.engine import lint_source
from torchlint.fixer import fix_source
from torchlint.registry import all_rules, rule_by_code, selected_rules
from torchlint.rules.base import Invalid
from torchlint.torch_versions import KNOWN_RELEASES, declared_ranges, spec_range

AMP = "import torch\nscaler = torch.cuda.amp.GradScaler()\nwith torch.cuda.amp.autocast():\n    pass\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (">=2.1,<2.3", ((2, 1), (2, 2))),
        ("==2.0.1", ((2, 0), (2, 0))),
        ("==2.3.*", ((2, 3), (2, 3))),
        ("~=2.1.0", ((2, 1), (2, 1))),
        ("~=2.1", ((2, 1), (2, 13))),
        ("<2.3.1", (None, (2, 3))),
        ("<2.0", (None, (1, 13))),
        ("<=2.2,>1.13", ((1, 13), (2, 2))),
        ("!=2.0.0", (None, None)),
    ],
)
def test_specifier_ranges(specs: str, expected) -> None:
    assert spec_range(specs) == expected


FORMATS = {
    "pyproject": {
        "pyproject.toml": '[project]\nname = "p"\ndependencies = ["numpy", "torch>=2.1,<2.3"]\n'
    },
    "optional dependencies": {
        "pyproject.toml": (
            '[project]\nname = "p"\ndependencies = ["numpy"]\n'
            '[project.optional-dependencies]\ntrain = ["torch>=2.1,<2.3"]\n'
        )
    },
    "poetry": {
        "pyproject.toml": (
            '[tool.poetry]\nname = "p"\n[tool.poetry.dependencies]\npython = "^3.10"\n'
            'torch = { version = ">=2.1,<2.3", source = "pytorch" }\n'
        )
    },
    "setup.py": {
        "setup.py": (
            "from setuptools import setup\n"
            "BASE = ['numpy']\n"
            "setup(name='p', install_requires=BASE + ['torch>=2.1,<2.3'],\n"
            "      extras_require={'dev': ['pytest']})\n"
        )
    },
    "setup.cfg": {
        "setup.cfg": "[options]\ninstall_requires =\n    numpy\n    torch>=2.1,<2.3\n",
    },
    "requirements": {
        "requirements.txt": "-r requirements/base.txt\nnumpy\n",
        "requirements/base.txt": "torch>=2.1,<2.3  # training\n",
    },
    "conda": {
        "environment.yml": (
            "name: p\nchannels: [pytorch]\ndependencies:\n  - python=3.11\n"
            "  - pytorch>=2.1,<2.3\n  - pip:\n    - numpy\n"
        )
    },
}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_declaration_format_gives_its_range(tmp_path: Path, kind: str) -> None:
    for name, text in FORMATS[kind].items():
        write(tmp_path / name, text)
    torch = declared_ranges(tmp_path)["torch"]
    assert (torch.lower, torch.upper) == ((2, 1), (2, 2)), kind
    assert torch.lower_source and torch.upper_source
    settings = Resolver(cwd=tmp_path).for_file(tmp_path / "train.py")
    assert (settings.target_version, settings.max_target_version) == ((2, 1), (2, 2))


def test_a_poetry_constraint_with_spaces_after_the_operators(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.poetry]\nname = "p"\n[tool.poetry.dependencies]\ntorch = ">=1.10.1, < 1.13.0"\n',
    )
    torch = declared_ranges(tmp_path)["torch"]
    assert (torch.lower, torch.upper) == ((1, 10), (1, 12))


def test_an_exact_pin_is_both_ends(tmp_path: Path) -> None:
    write(
        tmp_path / "setup.py",
        "import setuptools\nsetuptools.setup(install_requires=['torch==2.0.1'])\n",
    )
    write(tmp_path / "environment.yml", "dependencies:\n  - pytorch=1.13\n")  # setup.py first
    torch = declared_ranges(tmp_path)["torch"]
    assert (torch.lower, torch.upper) == ((2, 0), (2, 0))
    (tmp_path / "setup.py").unlink()
    conda = declared_ranges(tmp_path)["torch"]  # conda's `=1.13` is any 1.13.x
    assert (conda.lower, conda.upper) == ((1, 13), (1, 13))


def test_a_conda_channel_is_not_a_dependency(tmp_path: Path) -> None:
    """``channels: - pytorch`` names where conda looks, not an open-ended torch."""
    write(
        tmp_path / "environment.yaml",
        "name: p\nchannels:\n  - pytorch\n  - defaults\ndependencies:\n  - python=3.8\n"
        "  - pytorch=1.12.1\n  - pip:\n      - einops==0.3.0\n",
    )
    torch = declared_ranges(tmp_path)["torch"]
    assert (torch.lower, torch.upper) == ((1, 12), (1, 12))


def test_setup_py_is_read_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        tmp_path / "setup.py",
        f"open({str(marker)!r}, 'w').close()\nfrom setuptools import setup\n"
        "setup(install_requires=['torch>=2.2'])\n",
    )
    assert declared_ranges(tmp_path)["torch"].lower == (2, 2)
    assert not marker.exists()


VERSION_RULES = ("TL601", "TL610", "TL612", "TL701")
OPT_IN_TL601 = '[tool.torchlint]\nextend-select = ["TL601"]\n'


def _codes(tmp_path: Path, source: str, **table) -> list[tuple[str, bool]]:
    path = write(tmp_path / "train.py", source)
    settings = Resolver(cwd=tmp_path).for_file(path)
    if table:
        settings = build_settings(None, table=table)
    # the version rules these tests read, opt-in since round 2026-12-07d
    settings = replace(settings, extend_select=(*settings.extend_select, *VERSION_RULES))
    found = lint_source(str(path), source, settings, selected_rules(settings.selected_codes))
    return [(d.code, d.fix is not None) for d in found.diagnostics]


def test_a_project_capped_below_2_4_gets_no_tl601(tmp_path: Path) -> None:
    write(
        tmp_path / "setup.py",
        "from setuptools import setup\nsetup(install_requires=['torch>=2.1,<2.4'])\n",
    )
    assert _codes(tmp_path, AMP) == []
    write(
        tmp_path / "setup.py",
        "from setuptools import setup\nsetup(install_requires=['torch==2.0.1'])\n",
    )
    assert _codes(tmp_path, AMP) == []


def test_no_diagnostic_where_no_supported_release_warns(tmp_path: Path) -> None:
    """assert_allclose warns from 1.12, though assert_close is there from 1.9."""
    source = "import torch\ntorch.testing.assert_allclose(a, b)\n"
    write(tmp_path / "requirements.txt", "torch>=1.9,<1.12\n")
    assert _codes(tmp_path, source) == []
    write(tmp_path / "requirements.txt", "torch>=1.9,<1.13\n")
    assert [code for code, _ in _codes(tmp_path, source)] == ["TL610"]


def test_no_fix_where_the_floor_lacks_the_replacement(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\ndependencies = ["torch>=2.1"]\n' + OPT_IN_TL601,
    )
    path = write(tmp_path / "train.py", AMP)
    settings = Resolver(cwd=tmp_path).for_file(path)
    found = lint_source(str(path), AMP, settings, selected_rules(frozenset({"TL601"}))).diagnostics
    assert [d.fix for d in found] == [None, None]
    assert all("torch 2.1 to 2.3, which this project supports, lack it" in d.message for d in found)
    # torch>=2.4: the fix, with no word of an assumption
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\ndependencies = ["torch>=2.4"]\n' + OPT_IN_TL601,
    )
    settings = Resolver(cwd=tmp_path).for_file(path)
    found = lint_source(str(path), AMP, settings, selected_rules(frozenset({"TL601"}))).diagnostics
    assert all(d.fix is not None and "assumes" not in d.message for d in found)
    # nothing declared: the fix, and the message says what it assumed
    unknown = lint_source("t.py", AMP, settings_for("TL601"), selected_rules(frozenset({"TL601"})))
    assert all("the fix assumes torch >= 2.4" in d.message for d in unknown.diagnostics)


def test_torchvision_and_torch_load_follow_their_ranges(tmp_path: Path) -> None:
    vision = "import torchvision\nnet = torchvision.models.resnet18(pretrained=True)\n"
    write(tmp_path / "requirements.txt", "torch>=1.10\ntorchvision>=0.11,<0.13\n")
    assert _codes(tmp_path, vision) == []  # no torchvision it supports warns
    write(tmp_path / "requirements.txt", "torch>=1.10\ntorchvision>=0.12\n")
    assert _codes(tmp_path, vision) == [("TL612", False)]  # 0.12 has no `weights=`
    write(tmp_path / "requirements.txt", "torch>=2.0\n")  # torchvision 0.15 follows torch 2.0
    assert _codes(tmp_path, vision) == [("TL612", True)]
    load = "import torch\nstate = torch.load(path)\n"
    write(tmp_path / "requirements.txt", "torch>=1.8,<1.13\n")
    assert _codes(tmp_path, load) == []  # no `weights_only` on any supported torch
    write(tmp_path / "requirements.txt", "torch>=1.12\n")
    assert _codes(tmp_path, load) == []  # ...nor on the oldest: nothing to pass there
    write(tmp_path / "requirements.txt", "torch>=1.13\n")
    assert _codes(tmp_path, load) == [("TL701", True)]
    write(tmp_path / "requirements.txt", "torch>=2.6\n")
    assert _codes(tmp_path, load) == []  # safe by default on every supported torch


def test_an_import_of_a_removed_module_caps_the_range(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=1.9"]\n')
    write(tmp_path / "pkg/compat.py", "from torch._six import inf\n")
    settings = Resolver(cwd=tmp_path).for_file(tmp_path / "pkg/train.py")
    assert settings.max_target_version == (1, 13)
    assert "torch._six" in settings.max_target_version_source
    assert _codes(tmp_path, AMP) == []  # 2.4's deprecations are moot on 1.13
    # A fallback (inside try, or an if) is no evidence.
    write(
        tmp_path / "pkg/compat.py",
        "try:\n    from torch._six import inf\nexcept ImportError:\n    from torch import inf\n",
    )
    from torchlint import config

    config._code_cap.cache_clear()
    assert Resolver(cwd=tmp_path).for_file(tmp_path / "pkg/train.py").max_target_version is None


def test_max_target_version_setting(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nmax-target-version = "2.3"\n')
    settings = Resolver(cwd=tmp_path).for_file(tmp_path / "a.py")
    assert settings.max_target_version == (2, 3)
    assert _codes(tmp_path, AMP) == []
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint]\ntarget-version = "2.4"\nmax-target-version = "2.3"\n',
    )
    with pytest.raises(ConfigError, match="older than `target-version`"):
        Resolver(cwd=tmp_path).for_file(tmp_path / "a.py")


def _floors() -> list[tuple[int, int]]:
    """The releases where some replacement appears, and the one before each."""
    floors = set()
    for table in api_versions.FACTS.values():
        for facts in table.values():
            if facts.since is not None and facts.package == "torch":
                index = KNOWN_RELEASES.index(facts.since) if facts.since in KNOWN_RELEASES else 0
                floors.update(KNOWN_RELEASES[max(index - 1, 0) : index + 1])
    return sorted(floors)


def _marker(replacement: str) -> re.Pattern[str]:
    """How a fix spells a replacement: its last two parts, not preceded by another part
    (`torch.amp.GradScaler`, not `torch.cuda.amp.GradScaler`); a keyword as written."""
    if replacement.endswith("="):
        return re.compile(rf"\b{re.escape(replacement)}")
    tail = ".".join(replacement.split(".")[-2:])
    return re.compile(rf"(?<![\w.])(?:\w+\.)?{re.escape(tail)}\b")


def test_no_fix_in_the_catalog_emits_an_api_newer_than_its_floor() -> None:
    checked = 0
    for code, table in api_versions.FACTS.items():
        rule = rule_by_code(code)
        assert rule is not None, code
        newer = [f for f in table.values() if f.since is not None and f.package == "torch"]
        for example in rule.examples:
            if not isinstance(example, Invalid) or example.fixed is None:
                continue
            source = example.code
            for floor in _floors():
                table_settings = {**example.settings, "target-version": f"{floor[0]}.{floor[1]}"}
                settings = settings_for(code, **table_settings)
                rules = selected_rules(settings.selected_codes)
                fixed = fix_source(example.path, source, settings, rules, unsafe=True).source
                for facts in newer:
                    if facts.since <= floor:  # type: ignore[operator]
                        continue
                    marker = _marker(facts.replacement)
                    added = len(marker.findall(fixed)) - len(marker.findall(source))
                    assert added <= 0, (code, floor, facts.replacement, fixed)
                checked += 1
    assert checked > 50  # the walk really ran over the version rules' examples


def test_every_version_rule_of_the_table_exists() -> None:
    codes = {rule.code for rule in all_rules()}
    assert set(api_versions.FACTS) <= codes
