"""`torchlint fix`: fixpoint, imports, noqa, verification, atomic writes that keep the file's bytes."""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from tests.helpers import fix

BAD = (
    "from torch.utils.data import DataLoader\nfrom torchvision.datasets import ImageFolder\n"
    "loader = DataLoader(ImageFolder(d), batch_size=2, shuffle=True)\n"
)
FIXED = (
    "from torchlint.runtime import make_loader\nfrom torchvision.datasets import ImageFolder\n"
    "loader = make_loader(ImageFolder(d), batch_size=2, shuffle=True)\n"
)


def test_unsafe_fix_needs_the_flag(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    done = run_cli("fix", "a.py")
    assert target.read_text() == BAD
    assert done.returncode == 1
    assert "(1 fixable with `--unsafe-fixes`.)" in done.stderr.decode()  # nothing fixed: no "more"
    done = run_cli("fix", "--unsafe-fixes", "a.py")
    assert target.read_text() == FIXED
    assert done.returncode == 0
    assert "Fixed 1 error." in done.stderr.decode()


def test_config_enables_unsafe_fixes(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nunsafe-fixes = true\n")
    (tmp_path / "a.py").write_text(BAD)
    run_cli("fix", "a.py")
    assert (tmp_path / "a.py").read_text() == FIXED


def test_check_fix_is_fix(tmp_path: Path, run_cli) -> None:
    (tmp_path / "a.py").write_text(BAD)
    run_cli("check", "--fix", "--unsafe-fixes", "a.py")
    assert (tmp_path / "a.py").read_text() == FIXED


def test_diff_shows_exactly_what_fix_writes(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    diff = run_cli("fix", "--diff", "--unsafe-fixes", "a.py")
    assert diff.returncode == 1
    assert target.read_text() == BAD
    patch = diff.stdout.decode()
    assert patch.startswith("--- a/a.py\n+++ b/a.py\n")
    assert patch.endswith(
        "-from torch.utils.data import DataLoader\n"
        "+from torchlint.runtime import make_loader\n"
        " from torchvision.datasets import ImageFolder\n"
        "-loader = DataLoader(ImageFolder(d), batch_size=2, shuffle=True)\n"
        "+loader = make_loader(ImageFolder(d), batch_size=2, shuffle=True)\n"
    )
    run_cli("fix", "--unsafe-fixes", "a.py")
    assert target.read_text() == FIXED
    again = run_cli("fix", "--diff", "--unsafe-fixes", "a.py")
    assert again.returncode == 0 and again.stdout == b""


def test_fixing_twice_changes_nothing(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    run_cli("fix", "--unsafe-fixes", "a.py")
    first = target.read_bytes()
    run_cli("fix", "--unsafe-fixes", "a.py")
    assert target.read_bytes() == first


def test_imports_added_once_for_many_fixes() -> None:
    source = BAD + "other = DataLoader(ImageFolder(d), shuffle=True)\n"
    outcome = fix(source, "TL101")
    assert outcome.source.count("from torchlint.runtime import make_loader") == 1
    assert outcome.fixed == 2


def test_existing_import_is_reused() -> None:
    source = "from torchlint.runtime import make_loader\n" + BAD
    outcome = fix(source, "TL101")
    assert outcome.source.count("import make_loader") == 1


def test_import_goes_after_docstring_and_future() -> None:
    source = (
        '"""Doc."""\nfrom __future__ import annotations\n\nimport torch\nimport torchvision\n'
        "x = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(d), shuffle=True)\n"
    )
    outcome = fix(source, "TL101")
    assert outcome.source == (
        '"""Doc."""\nfrom __future__ import annotations\n\nimport torchvision\n'
        "from torchlint.runtime import make_loader\n"
        "x = make_loader(torchvision.datasets.ImageFolder(d), shuffle=True)\n"
    )


def test_noqa_line_is_not_fixed(tmp_path: Path, run_cli) -> None:
    source = BAD.rstrip("\n") + "  # noqa: TL101\n"
    (tmp_path / "a.py").write_text(source)
    run_cli("fix", "--unsafe-fixes", "a.py")
    assert (tmp_path / "a.py").read_text() == source


def test_unused_noqa_is_removed_by_safe_fix(tmp_path: Path, run_cli) -> None:
    (tmp_path / "a.py").write_text("x = 1  # noqa: TL101\n")
    done = run_cli("fix", "a.py")
    assert (tmp_path / "a.py").read_text() == "x = 1\n"
    assert done.returncode == 0


def _roundtrip(tmp_path: Path, run_cli, raw: bytes) -> bytes:
    target = tmp_path / "a.py"
    target.write_bytes(raw)
    run_cli("fix", "--unsafe-fixes", "a.py")
    return target.read_bytes()


def test_crlf_is_kept(tmp_path: Path, run_cli) -> None:
    result = _roundtrip(tmp_path, run_cli, BAD.replace("\n", "\r\n").encode())
    assert result == FIXED.replace("\n", "\r\n").encode()


def test_bom_is_kept(tmp_path: Path, run_cli) -> None:
    result = _roundtrip(tmp_path, run_cli, codecs.BOM_UTF8 + BAD.encode())
    assert result == codecs.BOM_UTF8 + FIXED.encode()


def test_latin1_is_kept(tmp_path: Path, run_cli) -> None:
    header = "# -*- coding: latin-1 -*-\n# Données d'entraînement\n"
    result = _roundtrip(tmp_path, run_cli, (header + BAD).encode("latin-1"))
    assert result == (header + FIXED).encode("latin-1")


def test_permissions_are_kept(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    os.chmod(target, 0o751)
    run_cli("fix", "--unsafe-fixes", "a.py")
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert target.read_text() == FIXED
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]  # no temporary file left behind


def test_read_only_file_is_left_untouched(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    os.chmod(target, 0o444)
    done = run_cli("fix", "--unsafe-fixes", "a.py")
    assert target.read_text() == BAD
    assert done.returncode == 2
    assert "read-only" in done.stderr.decode()


def test_fix_that_would_not_parse_is_refused(monkeypatch) -> None:
    from torchlint.diagnostics import Applicability
    from torchlint.rules.base import Replace
    from torchlint.rules.data.dataloader_no_workers import DataloaderNoWorkers

    def broken_fix(self, node, workers):
        return self.fix(Applicability.UNSAFE, "broken", Replace(node, "make_loader(("))

    monkeypatch.setattr(DataloaderNoWorkers, "_fix", broken_fix)
    outcome = fix(BAD, "TL101")
    assert outcome.source == BAD
    assert outcome.fixed == 0
    assert any("does not parse" in error for error in outcome.errors)


def test_runtime_helpers_false_writes_plain_pytorch() -> None:
    outcome = fix(BAD, "TL101", runtime_helpers=False)
    assert "torchlint" not in outcome.source
    assert "num_workers=min(8, os.cpu_count() or 1)" in outcome.source
    assert "import os\n" in outcome.source


def test_each_fixed_version_is_parsed_once(monkeypatch) -> None:
    """The parse that checks a fix's result is reused to lint it again."""
    import libcst

    parsed: list[str] = []
    real = libcst.parse_module

    def counting(source: str, *args, **kwargs):
        parsed.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(libcst, "parse_module", counting)
    source = "import torch\nstate = torch.load('w.pt')\n"
    outcome = fix(source, "TL701", target_version="2.1")
    assert outcome.fixed == 1
    assert "weights_only=True" in outcome.source
    assert parsed == [source, outcome.source]
