"""The headline rules (TL101, TL201/TL202, TL301, TL701) in the form they are on by default."""

from __future__ import annotations

from tests.helpers import lint


def messages(source: str, code: str, **table) -> list[tuple[int, str]]:
    result = lint(source, code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.message) for d in result.diagnostics]


# --- TL701 ---------------------------------------------------------------------------------


def test_load_of_a_whole_model_says_what_to_do_instead() -> None:
    source = (
        "import torch\n"
        "def restore(path):\n"
        "    model = torch.load(path, map_location='cpu')\n"
        "    model.eval()\n"
        "    state = torch.load(path)\n"
        "    net = torch.load(path).to('cpu')\n"
        "    return model, state, net(x), torch.load(path)(x)\n"
    )
    found = messages(source, "TL701")
    whole = [line for line, message in found if "state_dict()" in message]
    plain = [line for line, message in found if "state_dict()" not in message]
    assert whole == [3, 6, 7]
    assert plain == [5]


def test_unknown_target_version_reports_and_a_new_one_does_not() -> None:
    source = "import torch\nstate = torch.load(path)\n"
    assert len(messages(source, "TL701")) == 1
    assert messages(source, "TL701", **{"target-version": "2.5"})
    assert messages(source, "TL701", **{"target-version": "2.6"}) == []


# --- TL201 / TL202 -------------------------------------------------------------------------

SELECTS_ON_LINE_3 = (
    "import torch\n"
    "\n"
    'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'
    "model = Net().cuda()\n"
    'mask = torch.ones(3, device="cuda")\n'
)


def test_hard_coded_cuda_names_the_device_selection() -> None:
    for code, line in (("TL201", 4), ("TL202", 5)):
        [(found, message)] = messages(SELECTS_ON_LINE_3, code)
        assert found == line
        assert "this file selects a device at line 3" in message


def test_cuda_only_code_is_silent_unless_strict() -> None:
    source = 'import torch\nmodel = Net().cuda()\nmask = torch.ones(3, device="cuda")\n'
    for code in ("TL201", "TL202"):
        assert messages(source, code) == []
        assert len(messages(source, code, portability="strict")) == 1


def test_stopping_without_cuda_is_not_a_device_selection() -> None:
    source = (
        "import sys, torch\n"
        "def to_gpu_batch(x):\n"
        "    return x.cuda()\n"
        "def main():\n"
        "    if not torch.cuda.is_available():\n"
        "        sys.exit('needs a GPU')\n"
        "    return step(Net().cuda())\n"
    )
    helper = source.replace("to_gpu_batch", "prepare")
    assert messages(helper, "TL201") == []
    selecting = helper.replace("sys.exit('needs a GPU')", "print('CPU it is')")
    assert [line for line, _ in messages(selecting, "TL201")] == [3, 7]


def test_device_options_are_a_device_selection() -> None:
    for option in ("--device", "--cpu", "--no-cuda"):
        source = (
            "import argparse\n"
            "parser = argparse.ArgumentParser()\n"
            f"parser.add_argument({option!r})\n"
            "model = Net().cuda()\n"
        )
        [(_, message)] = messages(source, "TL201")
        assert f"`{option}` option" in message
