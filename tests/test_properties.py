"""Property tests: generated PyTorch-like programs, fixed with every rule and every fix.

Programs are built from a grammar of snippets (imports with aliases, DataLoader calls with
random keyword arguments, device moves, torch.load, no_grad blocks, training loops, nested
functions and classes, noqa comments) rendered with random indentation and line endings.
For each: fixing is idempotent, keeps the file parseable and its line endings, reports no
internal error, and never touches a file without diagnostics.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.fixer import fix_source
from torchlint.registry import selected_rules

ALL = build_settings(None, select=["ALL"], unsafe_fixes=True)
DEFAULT = build_settings(None)
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the grammar ----------------------------------------------------------------------------

# (import line, the names it binds: torch / nn / F / DataLoader / data module)
IMPORTS = [
    ("import torch", {"torch": "torch"}),
    ("import torch as th", {"torch": "th"}),
    ("import torch.nn as nn", {"nn": "nn"}),
    ("from torch import nn, optim", {"nn": "nn"}),
    ("import torch.nn.functional as F", {"F": "F"}),
    ("from torch.nn import functional as fn", {"F": "fn"}),
    ("from torch.utils.data import DataLoader", {"DataLoader": "DataLoader"}),
    ("from torch.utils.data import DataLoader as DL", {"DataLoader": "DL"}),
    ("from torch.utils import data", {"DataLoader": "data.DataLoader"}),
    ("from torch.autograd import Variable", {"Variable": "Variable"}),
    ("import numpy as np", {}),
    ("import os, sys", {}),
]

LOADER_KWARGS = [
    "batch_size=32",
    "shuffle=True",
    "shuffle=False",
    "num_workers=0",
    "num_workers=4",
    "pin_memory=True",
    "pin_memory=False",
    "persistent_workers=True",
    "drop_last=True",
    "collate_fn=collate",
    "**loader_kwargs",
    "worker_init_fn=seed_worker",
    "generator=g",
]

NOQA = [
    "  # noqa",
    "  # noqa: TL101",
    "  # noqa: TL201, TL202",
    "  # noqa: TL701",
    "  # noqa:TL999",
    "  # a comment",
    "  # torchlint: noqa",
]


@dataclass(frozen=True)
class Env:
    torch: str
    nn: str
    F: str
    DataLoader: str


def _simple(env: Env) -> st.SearchStrategy[str]:
    t, nn, F, DL = env.torch, env.nn, env.F, env.DataLoader
    loader = st.builds(
        lambda name, args, kwargs: (
            f"{name} = {DL}({args}{', ' if kwargs else ''}{', '.join(kwargs)})"
        ),
        st.sampled_from(["loader", "train_loader", "val_loader", "test_dl"]),
        st.sampled_from(["dataset", "train_set", "ds", "*datasets"]),
        st.lists(st.sampled_from(LOADER_KWARGS), max_size=5, unique=True).map(
            lambda kw: (
                [k for k in kw if not k.startswith("**")] + [k for k in kw if k.startswith("**")]
            )
        ),
    )
    fixed = st.sampled_from(
        [
            "model = model.cuda()",
            "model.cuda()",
            "x = x.cuda(0)",
            "x = x.to('cuda')",
            'x = x.to("cuda:0")',
            "x.to(device)",
            "x = x.to(device, non_blocking=True)",
            f"t = {t}.zeros(3, 4).cuda()",
            f"t = {t}.randn(2, 3).to('cuda')",
            f"t = {t}.ones(5, device='cuda')",
            f"device = {t}.device('cuda' if {t}.cuda.is_available() else 'cpu')",
            f"device = {t}.device('cuda')",
            f"state = {t}.load(path)",
            f"state = {t}.load('model.pt', map_location='cpu')",
            f"state = {t}.load(f, weights_only=True)",
            f"model.load_state_dict({t}.load(path))",
            f"{t}.save(model, 'model.pt')",
            f"{t}.save(model.state_dict(), 'model.pt')",
            f"y = {F}.softmax(x)",
            f"y = {F}.softmax(x, dim=-1)",
            f"loss = {F}.cross_entropy({F}.softmax(out, dim=1), target)",
            f"loss = {F}.binary_cross_entropy({t}.sigmoid(out), target)",
            f"z = {t}.log(1 + x)",
            f"z = {t}.exp(x) - 1",
            f"model = {nn}.DataParallel(model)",
            f"{t}.backends.cudnn.benchmark = True",
            f"{t}.backends.cudnn.deterministic = True",
            f"{t}.use_deterministic_algorithms(True)",
            f"{t}.manual_seed(0)",
            f"{t}.autograd.set_detect_anomaly(True)",
            f"model = {t}.compile(model)",
            f"scaler = {t}.cuda.amp.GradScaler()",
            f"v = {t}.autograd.Variable(x)",
            "w = layer.weight.data",
            f"layer = {nn}.Conv2d(3, 16, 3)",
            f"net = {nn}.Sequential({nn}.Linear(4, 8), {nn}.BatchNorm1d(8), {nn}.ReLU())",
            f"{nn}.init.xavier_uniform(layer.weight)",
            f"y = {t}.tensor(x)",
            "model.eval()",
            "model.train()",
            "out = model(x)",
            "pass",
            "x = 1; y = 2",
            "print(x, y, sep='')",
            "del x",
            "results = [m(x) for m in models]",
            "s = 'cuda' + suffix",
            "text = '''a\nmulti-line string'''",
        ]
    )
    return st.one_of(loader, fixed)


def _parenthesize(line: str, depth: int) -> str:
    """Wrap the value of ``name = value`` (or a bare expression) in ``depth`` parentheses."""
    if depth > 3 or "\n" in line or line.startswith(("pass", "del ", "x = 1;")):
        return line
    target, sep, value = line.partition(" = ")
    if not sep:
        target, value = "", line
    elif "." in target or "[" in target:
        return line
    return f"{target}{sep}{'(' * depth}{value}{')' * depth}"


def _max_nesting(source: str) -> int:
    depth = best = 0
    for char in source:
        if char in "([{":
            depth += 1
            best = max(best, depth)
        elif char in ")]}":
            depth -= 1
    return best


def _render_simple(line: str, noqa: str | None) -> list[tuple[int, str]]:
    return [(0, line + (noqa or ""))]


@st.composite
def _block(draw: st.DrawFn, env: Env, depth: int) -> list[tuple[int, str]]:
    """Statements as (relative indentation level, text) pairs."""
    lines: list[tuple[int, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = ["simple", "simple", "simple"] + (["compound"] if depth < 4 else [])
        if draw(st.sampled_from(kinds)) == "simple":
            noqa = draw(st.none() | st.sampled_from(NOQA[:-1]))
            line = _parenthesize(draw(_simple(env)), draw(st.integers(0, 6)))
            lines.extend(_render_simple(line, noqa))
            continue
        t = env.torch
        header = draw(
            st.sampled_from(
                [
                    f"with {t}.no_grad():",
                    f"with {t}.inference_mode():",
                    f"with {t}.cuda.amp.autocast():",
                    "for epoch in range(epochs):",
                    "for x, y in loader:",
                    "for batch in train_loader:",
                    "while step < 10:",
                    f"if {t}.cuda.is_available():",
                    "if args.cuda:",
                    "def train(model, loader, optimizer):",
                    "def evaluate(model, loader):",
                    "async def fetch(x, *args, **kwargs):",
                    f"class Net({env.nn}.Module):",
                    "class Config:",
                    "try:",
                    "@decorator\ndef helper(a, b=1):",
                ]
            )
        )
        body = draw(_block(env, depth + 1))
        if header.startswith("for x, y") and draw(st.booleans()):
            body = [
                (0, "optimizer.zero_grad()"),
                (0, "out = model(x)"),
                (0, "loss = criterion(out, y)"),
                (0, "loss.backward()"),
                (0, "optimizer.step()"),
                *body,
            ]
        for part in header.split("\n"):
            lines.append((0, part))
        lines.extend((level + 1, text) for level, text in body)
        if header == "try:":
            lines.append((0, "except Exception:"))
            lines.append((1, "raise"))
        elif header.startswith("if ") and draw(st.booleans()):
            lines.append((0, "else:"))
            lines.extend((level + 1, text) for level, text in draw(_block(env, depth + 1)))
    return lines


@st.composite
def programs(draw: st.DrawFn) -> str:
    imports = draw(st.lists(st.sampled_from(IMPORTS), max_size=6, unique_by=lambda i: i[0]))
    names = {
        "torch": "torch",
        "nn": "torch.nn",
        "F": "torch.nn.functional",
        "DataLoader": "DataLoader",
    }
    for _, binds in imports:
        names.update(binds)
    env = Env(names["torch"], names["nn"], names["F"], names["DataLoader"])
    lines: list[tuple[int, str]] = []
    if draw(st.booleans()):
        lines.append((0, '"""A training script."""'))
    if draw(st.booleans()):
        lines.append((0, "from __future__ import annotations"))
    if draw(st.integers(0, 9)) == 0:
        lines.append((0, draw(st.sampled_from(["# torchlint: noqa", "# torchlint: noqa: TL101"]))))
    lines.extend((0, line) for line, _ in imports)
    lines.extend(draw(_block(env, 0)))
    if draw(st.booleans()):
        lines.extend([(0, 'if __name__ == "__main__":'), (1, "main()")])

    unit = draw(st.sampled_from(["    ", "  ", "\t", "        "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    blank = draw(st.booleans())
    out = []
    for level, text in lines:
        out.append(unit * level + text.replace("\n", newline + unit * level))
        if blank and level == 0 and text.endswith(":") is False and draw(st.integers(0, 4)) == 0:
            out.append("")
    trailing = draw(st.sampled_from([newline, "", newline + newline]))
    return newline.join(out) + trailing


# --- the properties ------------------------------------------------------------------------


def _parses(source: str) -> None:
    cst.parse_module(source)
    ast.parse(source)


def _fix(source: str, config):
    rules = selected_rules(config.selected_codes)
    return fix_source("example.py", source, config, rules, unsafe=config.unsafe_fixes)


@PROPERTY_SETTINGS
@given(programs(), st.sampled_from([ALL, DEFAULT]))
def test_fix_is_idempotent_and_keeps_the_file_parseable(source: str, config) -> None:
    _parses(source)  # the generator makes valid Python
    first = _fix(source, config)
    assert not first.errors, first.errors
    _parses(first.source)
    second = _fix(first.source, config)
    assert not second.errors, second.errors
    assert second.source == first.source
    assert second.fixed == 0
    # Fixes add a keyword or a helper call, never layers of parentheses.
    assert _max_nesting(first.source) <= _max_nesting(source) + 2


@PROPERTY_SETTINGS
@given(programs())
def test_fix_keeps_line_endings(source: str) -> None:
    fixed = _fix(source, ALL).source
    if "\r\n" in source:
        assert "\n" not in fixed.replace("\r\n", "")
    else:
        assert "\r" not in fixed


@PROPERTY_SETTINGS
@given(programs(), st.sampled_from([ALL, DEFAULT]))
def test_fix_never_changes_a_file_without_diagnostics(source: str, config) -> None:
    rules = selected_rules(config.selected_codes)
    result = lint_source("example.py", source, config, rules)
    assert not result.errors, result.errors
    fixable = [d for d in result.diagnostics if d.fix is not None]
    outcome = _fix(source, config)
    if not fixable:
        assert outcome.source == source
        assert outcome.fixed == 0


@PROPERTY_SETTINGS
@given(programs())
def test_lint_is_deterministic(source: str) -> None:
    rules = selected_rules(ALL.selected_codes)
    first = lint_source("example.py", source, ALL, rules)
    second = lint_source("example.py", source, ALL, rules)
    assert first.diagnostics == second.diagnostics
    assert [d.sort_key for d in first.diagnostics] == sorted(d.sort_key for d in first.diagnostics)
