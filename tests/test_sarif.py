"""CI output formats: SARIF 2.1.0 (code scanning) and GitHub annotations.

The SARIF schema is not available offline, so the tests assert the properties the 2.1.0
schema requires (and the ones GitHub code scanning reads) on real output, and apply the
SARIF fixes to the source to prove their regions are right.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from torchlint.cli import main
from torchlint.diagnostics import Diagnostic, Location
from torchlint.registry import all_rules
from torchlint.report import FORMATS
from torchlint.report.github import write_github
from torchlint.report.sarif import artifact_uri, to_sarif, write_sarif

SOURCE = (
    "import torch\n"
    "import torchvision; from torch.utils.data import DataLoader\n"
    "loader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
    "y = torch.log(1 + x)  # ünïcode before: columns count code points\n"
    "z = 'é' + str(torch.log(1 + x))\n"
)
LEVELS = {"none", "note", "warning", "error"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "pkg dir").mkdir()
    (tmp_path / "pkg dir" / "train.py").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    # TL405 and TL101 are opt-in: the fix-region tests apply the one, the results show both.
    (tmp_path / "pyproject.toml").write_text(
        '[tool.torchlint]\nextend-select = ["TL101", "TL405"]\n'
    )
    return tmp_path


def sarif_of(*args: str) -> tuple[dict[str, Any], int]:
    done = CliRunner().invoke(main, ["check", "--output-format", "sarif", *args])
    return json.loads(done.stdout), done.exit_code


def check_message(message: Any) -> None:
    assert isinstance(message, dict) and isinstance(message["text"], str) and message["text"]


def check_region(region: dict[str, Any]) -> None:
    for key in ("startLine", "startColumn", "endLine", "endColumn"):
        assert isinstance(region[key], int) and region[key] >= 1, (key, region)
    assert (region["endLine"], region["endColumn"]) >= (region["startLine"], region["startColumn"])


def check_artifact_location(location: dict[str, Any]) -> None:
    uri = location["uri"]
    assert isinstance(uri, str) and "\\" not in uri and not uri.startswith("/")
    assert location["uriBaseId"] == "%SRCROOT%"


def validate_sarif(log: dict[str, Any]) -> None:
    """The required structure of a SARIF 2.1.0 log, as far as torchlint writes it."""
    assert log["version"] == "2.1.0"
    assert "sarif" in log["$schema"] and "2.1.0" in log["$schema"]
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "torchlint"
    assert isinstance(driver["version"], str) and driver["version"]
    assert driver["informationUri"].startswith("https://")
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    rules = driver["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule["id"].startswith("TL") and rule["name"]
        for key in ("shortDescription", "fullDescription"):
            check_message(rule[key])
        check_message(rule["help"])
        assert rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in LEVELS
    for result in run["results"]:
        check_message(result["message"])
        assert result["level"] in LEVELS
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["locations"], result
        for location in result["locations"]:
            physical = location["physicalLocation"]
            check_artifact_location(physical["artifactLocation"])
            if "region" in physical:
                check_region(physical["region"])
        for fix in result.get("fixes", []):
            check_message(fix["description"])
            assert fix["artifactChanges"]
            for change in fix["artifactChanges"]:
                check_artifact_location(change["artifactLocation"])
                assert change["replacements"]
                for replacement in change["replacements"]:
                    check_region(replacement["deletedRegion"])
                    assert isinstance(replacement["insertedContent"]["text"], str)


def apply_sarif_fix(source: str, fix: dict[str, Any]) -> str:
    """Apply a SARIF fix's replacements the way a SARIF consumer would (code point columns)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    replacements = fix["artifactChanges"][0]["replacements"]
    for replacement in sorted(
        replacements,
        key=lambda r: (r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
        reverse=True,
    ):
        region = replacement["deletedRegion"]
        start = offset(region["startLine"], region["startColumn"])
        end = offset(region["endLine"], region["endColumn"])
        source = source[:start] + replacement["insertedContent"]["text"] + source[end:]
    return source


def test_sarif_is_registered_as_a_format() -> None:
    assert FORMATS["sarif"] is write_sarif


def test_sarif_structure_and_results(project: Path) -> None:
    log, code = sarif_of("pkg dir/train.py", "broken.py")
    assert code == 1
    validate_sarif(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.code for r in all_rules()]
    results = run["results"]
    by_rule = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]): r
        for r in results
    }
    assert set(by_rule) == {("TL000", 1), ("TL101", 3), ("TL405", 4), ("TL405", 5)}
    syntax = by_rule["TL000", 1]
    assert syntax["level"] == "error"
    assert syntax["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.py"
    assert "fixes" not in syntax
    workers = by_rule["TL101", 3]
    assert workers["level"] == "error"
    location = workers["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg%20dir/train.py"
    assert location["region"] == {"startLine": 3, "startColumn": 10, "endLine": 3, "endColumn": 86}
    assert "DataLoader without num_workers" in workers["message"]["text"]
    # the unsafe fix needs an import: the replacement is there, the import is named
    fix = workers["fixes"][0]
    assert fix["properties"]["applicability"] == "unsafe"
    assert fix["properties"]["requiredModuleLines"] == ["from torchlint.runtime import make_loader"]
    assert "from torchlint.runtime import make_loader" in fix["description"]["text"]


def test_sarif_fix_regions_apply_to_the_source(project: Path) -> None:
    log, _ = sarif_of("pkg dir/train.py")
    results = [r for r in log["runs"][0]["results"] if r["ruleId"] == "TL405"]
    assert len(results) == 2
    line4 = apply_sarif_fix(SOURCE, results[0]["fixes"][0]).splitlines()[3]
    assert line4 == "y = torch.log1p(x)  # ünïcode before: columns count code points"
    line5 = apply_sarif_fix(SOURCE, results[1]["fixes"][0]).splitlines()[4]
    assert line5 == "z = 'é' + str(torch.log1p(x))"  # column after a non-ASCII character
    assert results[1]["locations"][0]["physicalLocation"]["region"]["startColumn"] == 15


def test_sarif_rule_metadata_comes_from_the_docstring(project: Path) -> None:
    log, _ = sarif_of("pkg dir/train.py")
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    tl101 = rules["TL101"]
    assert tl101["name"] == "dataloader-no-workers"
    assert tl101["shortDescription"]["text"].startswith("DataLoader without num_workers")
    assert "Worker processes" in tl101["fullDescription"]["text"]
    doc = next(r for r in all_rules() if r.code == "TL101").documentation()
    assert tl101["help"]["markdown"].startswith(doc)
    assert "## Why is this bad?" in tl101["help"]["text"]
    opt_in = next(r for r in all_rules() if not r.default)
    assert rules[opt_in.code]["defaultConfiguration"]["enabled"] is False


def test_sarif_clean_run_is_valid_and_exits_zero(project: Path) -> None:
    (project / "ok.py").write_text("import torch\n")
    log, code = sarif_of("ok.py")
    assert code == 0
    validate_sarif(log)
    assert log["runs"][0]["results"] == []


def test_sarif_notebook_results_name_the_cell(project: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ["import torch\n", "y = torch.log(1 + x)"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "nb.ipynb").write_text(json.dumps(notebook, indent=1))
    log, _ = sarif_of("nb.ipynb")
    validate_sarif(log)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "TL405"
    assert result["properties"]["cell"] == 2
    assert result["properties"]["cellRegion"]["startLine"] == 2
    assert "region" not in result["locations"][0]["physicalLocation"]
    assert result["message"]["text"].startswith("cell 2, line 2, column 5: ")
    assert "fixes" not in result


def test_artifact_uri(tmp_path: Path) -> None:
    inside = tmp_path / "a b" / "c.py"
    assert artifact_uri(str(inside), tmp_path) == "a%20b/c.py"
    assert artifact_uri("./x/y.py", tmp_path) == "x/y.py"
    outside = Path("/elsewhere/z.py")
    assert artifact_uri(str(outside), tmp_path) == "file:///elsewhere/z.py"


def test_to_sarif_is_deterministic(project: Path) -> None:
    diagnostic = Diagnostic(
        "a.py", Location(1, 1), Location(1, 2), "TL101", "dataloader-no-workers", "m"
    )
    assert to_sarif([diagnostic]) == to_sarif([diagnostic])
    out = io.StringIO()
    write_sarif([diagnostic], out, color=True)  # colour never changes SARIF
    assert "\x1b[" not in out.getvalue() and out.getvalue().endswith("}\n")


# --- GitHub Actions annotations ---


def test_github_format_from_the_cli(project: Path) -> None:
    done = CliRunner().invoke(
        main, ["check", "--output-format", "github", "pkg dir/train.py", "broken.py"]
    )
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("::error title=torchlint (TL000),file=broken.py,line=1,col=")
    assert lines[1] == (
        "::error title=torchlint (TL101),file=pkg dir/train.py,line=3,col=10,endLine=3,endColumn=86::"
        "TL101 `DataLoader` without `num_workers` loads every batch in the main process"
        ": `ImageFolder` reads and decodes a file per item"
    )
    assert len(lines) == 4 and all(line.startswith("::error ") for line in lines)


def test_github_format_escapes_properties_and_data() -> None:
    diagnostic = Diagnostic(
        "dir,with:odd/file.py",
        Location(2, 3),
        Location(4, 5),
        "TL101",
        "n",
        "100% sure\nsecond line\r",
    )
    out = io.StringIO()
    write_github([diagnostic], out, color=False)
    assert out.getvalue() == (
        "::error title=torchlint (TL101),file=dir%2Cwith%3Aodd/file.py,"
        "line=2,col=3,endLine=4,endColumn=5::TL101 100%25 sure%0Asecond line%0D\n"
    )


def test_github_format_for_notebooks_names_the_cell() -> None:
    diagnostic = Diagnostic("nb.ipynb", Location(2, 5), Location(2, 9), "TL405", "n", "msg", cell=3)
    out = io.StringIO()
    write_github([diagnostic], out, color=False)
    assert (
        out.getvalue() == "::error title=torchlint (TL405),file=nb.ipynb::cell 3:2:5: TL405 msg\n"
    )
