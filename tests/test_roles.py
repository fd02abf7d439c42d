"""File roles: which files are test code, and which rules check them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import lint
from torchlint.registry import all_rules
from torchlint.roles import DEFAULT_TEST_CODE, is_test_code

SELECT = ["TL201", "TL203", "TL701"]
CUDA_IN_TEST = "import torch\nx = torch.zeros(3).cuda()\ny = torch.load('f.pt')\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_model.py",
        "tests/unit/helpers.py",
        "pkg/test/utils.py",
        "test_model.py",
        "pkg/model_test.py",
        "conftest.py",
        "pkg/tests/conftest.py",
    ],
)
def test_default_patterns_find_test_code(path: str) -> None:
    assert is_test_code(path, DEFAULT_TEST_CODE)


@pytest.mark.parametrize(
    "path",
    ["train.py", "pkg/testing.py", "pkg/attest/model.py", "latest/model.py", "contest.py"],
)
def test_other_files_are_not_test_code(path: str) -> None:
    assert not is_test_code(path, DEFAULT_TEST_CODE)


def test_every_rule_declares_whether_it_checks_tests() -> None:
    for rule in all_rules():
        assert "applies_to_tests" in vars(rule), f"{rule.code} does not declare it"
        assert "## Test code" in rule.documentation()


def test_api_rules_check_tests_and_portability_rules_do_not() -> None:
    in_tests = {rule.code for rule in all_rules() if rule.applies_to_tests}
    assert {"TL000", "TL001", "TL313", "TL601", "TL608", "TL701"} <= in_tests
    assert not {"TL101", "TL201", "TL202", "TL205", "TL301", "TL401", "TL801"} & in_tests


def test_test_code_skips_rules_that_do_not_apply() -> None:
    def codes(path: str) -> list[str]:
        return sorted(
            d.code
            for d in lint(
                CUDA_IN_TEST, None, path=path, select=SELECT, target_version="2.1"
            ).diagnostics
        )

    assert codes("train.py") == ["TL201", "TL203", "TL701"]
    assert codes("tests/test_train.py") == ["TL701"]


def test_test_code_is_configurable() -> None:
    found = lint(
        CUDA_IN_TEST,
        None,
        path="tests/test_train.py",
        test_code=[],
        select=SELECT,
        target_version="2.1",
    )
    assert sorted(d.code for d in found.diagnostics) == ["TL201", "TL203", "TL701"]
    found = lint(
        CUDA_IN_TEST,
        None,
        path="checks/train.py",
        test_code=["checks/"],
        select=SELECT,
        target_version="2.1",
    )
    assert [d.code for d in found.diagnostics] == ["TL701"]


def test_noqa_for_a_rule_skipped_in_tests_is_not_unused() -> None:
    source = "import torch\nx = torch.zeros(3).cuda()  # noqa: TL201\n"
    found = lint(source, None, path="tests/test_train.py", select=SELECT, target_version="2.1")
    assert found.diagnostics == []


def test_cli_reads_test_code_from_the_config(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.torchlint]\nselect = ["TL201", "TL203", "TL701"]\ntest-code = ["checks/"]\ntarget-version = "2.1"\n'
    )
    for folder in ("checks", "tests"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.py").write_text(CUDA_IN_TEST)
    done = run_cli("check", "--output-format", "concise", "--no-cache", ".")
    lines = done.stdout.decode().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("checks/")] == ["TL701"]
    assert sorted(line.split()[1] for line in lines if line.startswith("tests/")) == [
        "TL201",
        "TL203",
        "TL701",
    ]
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\ntest-code = "tests/"\n')
    wrong = run_cli("check", ".")
    assert wrong.returncode == 2
    assert "`test-code` must be a list of strings" in wrong.stderr.decode()
