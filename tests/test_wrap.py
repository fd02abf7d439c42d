"""Lines a fix made too long are wrapped as ``ruff format`` would wrap them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import fix
from torchlint.config import Settings, build_settings
from torchlint.fixer import apply_edits
from torchlint.wrap import line_length, wrap_edits

CASES = [
    "def f():\n"
    "    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)\n",
    "loader = make_loader(Noise(), batch_size=4, shuffle=True, drop_last=True, pin_memory=False, "
    "num_workers=min(8, os.cpu_count() or 1))\n",
    "def f():\n    if x:\n        model.load_state_dict(torch.load(args.resume_from_this_checkpoint_path, "
    "map_location=device), strict=False)\n",
    "x = Net(alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa, lambda_)"
    ".to(device, non_blocking=True)\n",
    "from torchlint.runtime import best_device, make_loader, evaluating, seed_everything, to_device, "
    "ResNet\n",
    "def f():\n    with torch.amp.autocast(device.type, enabled=args.amp_is_enabled_for_this_run, "
    "dtype=torch.bfloat16):\n        pass\n",
    "def f():\n    return x.to(device, non_blocking=True), y.to(device, non_blocking=True), "
    "z.to(device, non_blocking=True)\n",
    "loader = DataLoader(\n    dataset, batch_size=32, shuffle=True, pin_memory=True, "
    "num_workers=min(8, os.cpu_count() or 1)\n)\n",
    "loader = DataLoader(\n    dataset,\n    batch_size=32,\n    collate_fn=functools.partial("
    "collate, pad_token=tokenizer.pad_token_id, max_length=512, device=device),\n)\n",
    "result = some_function_name(argument_one)[index].method_call(argument_two, argument_three, "
    "arg4)\n",
    'state = torch.load(os.path.join(args.output_dir, "checkpoint_best.pth"), map_location=device)\n',
    "def f():\n    training_images = torch.randn(8, 3, 128, 128).to(device) # images are "
    "normalized from 0 to 1\n",
    "class A:\n    def f(self):\n        self.encoder = build_encoder(self.config.hidden_size, "
    "self.config.layers).to(self.device)\n",
]


def _ruff() -> str | None:
    return shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed")
@pytest.mark.parametrize("limit", [88, 60])
@pytest.mark.parametrize("source", CASES)
def test_wrapped_as_ruff_format_wraps(source: str, limit: int) -> None:
    wrapped = apply_edits(source, wrap_edits(source, "", limit))
    formatted = subprocess.run(
        [_ruff(), "format", "--line-length", str(limit), "-"],  # type: ignore[list-item]
        input=wrapped,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert wrapped == formatted
    assert wrap_edits(wrapped, "", limit) == []  # a second pass changes nothing


def test_only_new_lines_are_wrapped() -> None:
    long = "x = f(" + ", ".join(f"a{i}" for i in range(30)) + ")\n"
    assert wrap_edits(long, long, 88) == []  # it was already so: not the fix's doing
    assert wrap_edits(long, "", 88) != []


def test_a_comment_on_the_line_above_does_not_stop_the_wrap() -> None:
    source = "def f():\n    # load it\n    x = f(" + ", ".join(f"a{i}" for i in range(30)) + ")\n"
    wrapped = apply_edits(source, wrap_edits(source, "", 88))
    assert wrapped.startswith("def f():\n    # load it\n    x = f(\n        a0,\n")


def test_lines_with_a_comment_are_left_alone() -> None:
    args = ", ".join(f"a{i}" for i in range(30))
    for source in (f"x = f({args})  # noqa: TL101\n", f"x = f(  # why\n    {args}\n)\n"):
        assert wrap_edits(source, "", 88) == []


def test_line_endings_are_kept() -> None:
    source = "x = f(" + ", ".join(f"a{i}" for i in range(30)) + ")\r\n"
    wrapped = apply_edits(source, wrap_edits(source, "", 88, newline="\r\n"))
    assert "\n" not in wrapped.replace("\r\n", "")
    assert wrapped.count("\r\n") > 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.ruff]\nline-length = 120\n[tool.black]\nline-length = 100\n", 120),
        ("[tool.black]\nline-length = 100\n", 100),
        ("[tool.torchlint]\n", 88),
    ],
)
def test_line_length_comes_from_the_projects_formatter(
    tmp_path: Path, text: str, expected: int
) -> None:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    assert line_length(Settings(root=tmp_path, config_file=tmp_path / "pyproject.toml")) == (
        expected
    )


def test_ruff_toml_counts_too(tmp_path: Path) -> None:
    (tmp_path / "ruff.toml").write_text("line-length = 72\n", encoding="utf-8")
    assert line_length(Settings(root=tmp_path)) == 72


def test_a_fix_wraps_the_line_it_made_too_long() -> None:
    # TL703's `map_location=device` takes the call past 100 (this repository's ruff limit).
    source = (
        "import torch\n"
        "def restore(model, optimizer, scheduler, path_to_the_checkpoint_file, device):\n"
        "    model.load_state_dict(torch.load(path_to_the_checkpoint_file, weights_only=True)"
        "['model'])\n"
    )
    fixed = fix(source, "TL703").source
    assert max(len(line) for line in fixed.splitlines()) <= line_length(build_settings(None))
    assert "map_location=device" in fixed
    assert fix(fixed, "TL703").source == fixed
