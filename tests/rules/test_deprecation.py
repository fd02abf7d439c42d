"""Behaviour of the TL6 rules beyond their documented examples."""

from __future__ import annotations

import textwrap
import warnings

import libcst as cst
import pytest

from tests.helpers import fix, lint
from torchlint.diagnostics import Applicability
from torchlint.rules.deprecation.legacy_reduction_args import legacy_get_string


def found(source: str, code: str, **table) -> list:
    result = lint(textwrap.dedent(source), code, **table)
    assert not result.errors, result.errors
    return [d for d in result.diagnostics if d.code == code]


def fixed(source: str, code: str, unsafe: bool = True, **table) -> str:
    outcome = fix(textwrap.dedent(source), code, unsafe=unsafe, **table)
    assert not outcome.errors, outcome.errors
    cst.parse_module(outcome.source)
    return outcome.source


# --- shared name handling -------------------------------------------------------------------


def test_a_chain_is_reported_once_at_its_full_extent() -> None:
    diagnostics = found("import torch\nwith torch.cuda.amp.autocast():\n    pass\n", "TL601")
    assert [(d.start.line, d.start.column, d.end.column) for d in diagnostics] == [(2, 6, 29)]


def test_a_member_of_a_deprecated_name_is_not_a_use() -> None:
    source = """
    import torch
    engine = torch.autograd.Variable._execution_engine
    bases = torch.cuda.amp.GradScaler.__mro__
    """
    assert found(source, "TL602") == []
    assert found(source, "TL601") == []


def test_an_import_alias_is_followed() -> None:
    source = """
    import torch
    from torch.cuda.amp import autocast as ac
    with ac(enabled=True):
        pass
    """
    assert len(found(source, "TL601")) == 2
    assert 'with torch.amp.autocast("cuda", enabled=True):' in fixed(source, "TL601")


def test_keywords_and_imports_of_other_modules_are_not_uses() -> None:
    source = """
    import torch
    import torch.cuda.amp
    from torch.cuda import amp
    run(autocast=True, GradScaler=None)
    def autocast(): pass
    """
    assert found(source, "TL601") == []


def test_assignment_to_a_deprecated_name_is_not_a_use() -> None:
    source = """
    import torch
    torch.nn.functional.upsample = my_upsample
    """
    assert found(source, "TL605") == []


def test_fix_uses_the_torch_alias_of_the_file() -> None:
    source = """
    import torch as th
    from torch.cuda.amp import GradScaler
    scaler = GradScaler()
    """
    assert 'scaler = th.amp.GradScaler("cuda")' in fixed(source, "TL601")


# --- TL601 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("torch.cuda.amp.autocast(False)", 'torch.amp.autocast("cuda", enabled=False)'),
        (
            "torch.cuda.amp.autocast(True, torch.float16, False)",
            'torch.amp.autocast("cuda", enabled=True, dtype=torch.float16, cache_enabled=False)',
        ),
        (
            "torch.cuda.amp.autocast(True, cache_enabled=False)",
            'torch.amp.autocast("cuda", enabled=True, cache_enabled=False)',
        ),
        ("torch.cuda.amp.autocast(**cfg)", 'torch.amp.autocast("cuda", **cfg)'),
        ("torch.cuda.amp.GradScaler(*args)", 'torch.amp.GradScaler("cuda", *args)'),
        ("torch.cuda.amp.custom_fwd(fn)", 'torch.amp.custom_fwd(fn, device_type="cuda")'),
    ],
)
def test_amp_calls_keep_every_argument_in_its_slot(call: str, expected: str) -> None:
    assert fixed(f"import torch\nx = {call}\n", "TL601") == f"import torch\nx = {expected}\n"


def test_autocast_with_star_args_is_reported_without_fix() -> None:
    source = "import torch\nwith torch.cuda.amp.autocast(*flags):\n    pass\n"
    (diagnostic,) = found(source, "TL601")
    assert diagnostic.fix is None


def test_amp_fix_needs_torch_2_4() -> None:
    source = "import torch\nscaler = torch.cuda.amp.GradScaler()\n"
    (old,) = found(source, "TL601", target_version="2.3")
    (new,) = found(source, "TL601", target_version="2.4")
    assert old.fix is None and new.fix is not None


def test_amp_decorator_without_parentheses_on_a_module_alias() -> None:
    source = """
    import torch
    from torch.cuda import amp
    @amp.custom_fwd
    def forward(ctx, x):
        return x
    """
    assert '@torch.amp.custom_fwd(device_type="cuda")' in fixed(source, "TL601")


# --- TL602 / TL603 / TL604 ------------------------------------------------------------------


def test_variable_with_other_arguments_has_no_fix() -> None:
    source = "import torch\nv = torch.autograd.Variable(t, requires_grad=flag)\n"
    (diagnostic,) = found(source, "TL613")
    assert diagnostic.fix is None


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ("Variable(t)", "TL613"),
        ("Variable(t, requires_grad=True)", "TL613"),
        ("Variable(t, volatile=False)", "TL613"),
        ("Variable(t, volatile=True)", "TL602"),
        ("Variable(t, volatile=not train)", "TL602"),
    ],
)
def test_variable_calls_are_reported_by_exactly_one_code(call: str, code: str) -> None:
    """TL602 (on by default) takes `volatile=`, which torch ignores; TL613 (opt-in) the
    wrappers that do what they say."""
    source = f"from torch.autograd import Variable\nx = {call}\n"
    result = lint(source, "ALL")
    assert [d.code for d in result.diagnostics if d.code in ("TL602", "TL613")] == [code]


def test_both_variable_rules_are_opt_in() -> None:
    """TL602 (3 of 5 unseen labels) and TL613 (0 of 15) are under the 90 % of a default."""
    from torchlint.registry import rule_by_code

    assert not rule_by_code("TL602").default and not rule_by_code("TL613").default


def test_data_suggestion_is_display_only() -> None:
    source = """
    loss = model(x).sum()
    for p in model.parameters():
        p.data.add_(1.0)
        g = p.grad.data
        p.data = q
    loss.backward()
    """
    (diagnostic,) = found(source, "TL603")  # a read, a gradient and a swap are not reported
    assert diagnostic.fix.applicability is Applicability.DISPLAY
    assert diagnostic.fix.edits[0].content == "p"


@pytest.mark.parametrize(
    "body",
    [
        # the loss is assigned again after the change: that graph sees the new values
        "loss = f(w)\nw.data.mul_(2)\nloss = f(w)\nloss.backward()",
        # the change follows backward()
        "loss = f(w)\nloss.backward()\nw.data.mul_(2)",
        # another value is back-propagated, built after the change
        "old = f(w)\nw.data.mul_(2)\nnew = f(w)\nnew.backward()",
        # a read
        "loss = f(w)\nv = w.data * 2\nloss.backward()",
    ],
)
def test_data_without_a_pending_graph_is_not_reported(body: str) -> None:
    source = "def step(w, f):\n" + textwrap.indent(body, "    ") + "\n"
    assert found(source, "TL603") == []


@pytest.mark.parametrize(
    "body",
    [
        "loss = f(w)\nw.data.mul_(2)\nloss.backward()",
        "loss = f(w)\nw.data += 1\n(loss * 2).backward()",
        "loss = f(w)\nw.data.mul_(2)\nscaler.scale(loss).backward()",
        "out = f(w)\nw.data.mul_(2)\ntorch.autograd.grad(out, w)",
        "w.data.mul_(2)\nloss.backward()",  # `loss` comes from the caller: built before
    ],
)
def test_data_changed_while_a_graph_waits_is_reported(body: str) -> None:
    source = "import torch\ndef step(w, f, loss, scaler):\n" + textwrap.indent(body, "    ") + "\n"
    assert len(found(source, "TL603")) == 1


def test_tensor_from_global_with_a_global_statement_is_not_provable() -> None:
    source = """
    import torch
    a = torch.zeros(3)
    def f():
        global a
        return torch.tensor(a)
    """
    assert found(source, "TL604") == []


# --- TL605 / TL607 / TL608 ------------------------------------------------------------------


@pytest.mark.parametrize("size_average", [True, False, None])
@pytest.mark.parametrize("reduce", [True, False, None])
def test_reduction_matches_torch(size_average, reduce) -> None:
    from torch.nn import _reduction  # the installed torch is the reference (tests may import it)

    expected = _reduction.legacy_get_string(size_average, reduce, emit_warning=False)
    assert legacy_get_string(size_average, reduce) == expected


def test_reduction_fix_with_one_argument_per_line() -> None:
    source = """
    import torch.nn as nn
    loss = nn.MSELoss(
        size_average=False,
        reduce=True,
    )
    """
    assert fixed(source, "TL607") == textwrap.dedent(
        """
        import torch.nn as nn
        loss = nn.MSELoss(
            reduction="sum",
        )
        """
    )


def test_legacy_constructor_aliases_and_star_args() -> None:
    source = """
    import torch
    from torch.cuda import LongTensor as LT
    a = LT([1, 2])
    b = torch.FloatTensor(*shape)
    c = torch.LongTensor([1, 2])
    """
    diagnostics = found(source, "TL608")
    assert [d.start.line for d in diagnostics] == [4, 5]
    assert diagnostics[1].fix is None
    assert 'a = torch.tensor([1, 2], dtype=torch.int64, device="cuda")' in fixed(source, "TL608")


def test_legacy_constructor_messages_name_the_misleading_form() -> None:
    source = "import torch\na = torch.Tensor(3, 4)\nb = torch.cuda.FloatTensor([1.0])\n"
    sizes, cuda = found(source, "TL608")
    assert "uninitialised memory" in sizes.message
    assert "warn since torch 2.1" in cuda.message and "hard-code the device" in cuda.message


@pytest.mark.parametrize(
    "statement",
    [
        "ids = torch.LongTensor([0] * len(tokens))",
        "ids = torch.LongTensor(tokens + [eos])",
        "ids = torch.LongTensor([len(s) for s in seqs])",
        "x = torch.Tensor(3, 4).cuda().fill_(0)",
        "x = torch.FloatTensor(n).to(device).zero_()",
        "x = torch.Tensor(n, m).normal_()",
        "x = torch.Tensor(n, m)\nx.uniform_(-1, 1)",
        "self.buf = torch.Tensor(n)\nself.buf.data.fill_(0)",
        "w = torch.Tensor(n, m)\nnn.init.xavier_uniform_(w)",
    ],
)
def test_legacy_constructor_data_and_initialised_sizes_are_not_reported(statement: str) -> None:
    assert found(f"import torch\nimport torch.nn as nn\n{statement}\n", "TL608") == []


@pytest.mark.parametrize(
    "statement",
    [
        "ids = torch.LongTensor(len(tokens) * 2)",
        "x = torch.Tensor(3, 4).cuda()",
        "x = torch.Tensor(3, 4).cuda().sum()",
        "x = torch.Tensor(n, m)\ny = x + 1\nx.zero_()",
        "x = torch.Tensor(n, m)\nother.zero_()",
        "x = torch.Tensor(n, m)\nx.resize_(2, 2)",
        "w = torch.Tensor(n, m)\nnn.init.xavier_uniform_(v)",
        "x = torch.cuda.LongTensor([0] * n)",
        "x = torch.cuda.FloatTensor(1).fill_(0)",
    ],
)
def test_legacy_constructor_sizes_read_uninitialised_are_reported(statement: str) -> None:
    assert len(found(f"import torch\nimport torch.nn as nn\n{statement}\n", "TL608")) == 1


def test_cuda_constructor_with_a_repeated_list_is_data_in_the_fix() -> None:
    source = "import torch\nx = torch.cuda.LongTensor([0] * n)\n"
    assert 'torch.tensor([0] * n, dtype=torch.int64, device="cuda")' in fixed(source, "TL608")


# --- TL610 / TL612 ------------------------------------------------------------------------------


def test_range_with_variables_gets_a_display_suggestion() -> None:
    (diagnostic,) = found("import torch\nr = torch.range(0, n)\n", "TL610")
    assert diagnostic.fix.applicability is Applicability.DISPLAY
    assert diagnostic.fix.edits[0].content == "torch.arange(0, n + 1)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [("0, 5", "0.0, 6.0"), ("1, 10, 3", "1.0, 11.0, 3"), ("5, -5, -5", "5.0, -6.0, -5")],
)
def test_range_with_literals_matches_torch(args: str, expected: str) -> None:
    import torch

    source = f"import torch\nr = torch.range({args})\n"
    new = fixed(source, "TL610")
    assert new == f"import torch\nr = torch.arange({expected})\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old_value = eval(f"torch.range({args})")
    new_value = eval(f"torch.arange({expected})")
    assert old_value.dtype == new_value.dtype and torch.equal(old_value, new_value)


def test_functorch_mixed_import_fixes_the_uses_instead() -> None:
    source = """
    import torch
    from functorch import vmap, make_fx
    f = vmap(g)
    """
    assert "f = torch.func.vmap(g)" in fixed(source, "TL610")


def test_pretrained_positional_with_more_arguments_has_no_fix() -> None:
    source = "import torchvision\nm = torchvision.models.resnet18(True, False)\n"
    (diagnostic,) = found(source, "TL612")
    assert diagnostic.fix is None


def test_pretrained_quantized_builder_gets_no_enum() -> None:
    source = "import torchvision\nm = torchvision.models.quantization.resnet50(pretrained=True)\n"
    (diagnostic,) = found(source, "TL612")
    assert diagnostic.fix is None


# --- applicability of renames -------------------------------------------------------------


def test_a_renamed_function_used_as_a_value_is_an_unsafe_fix() -> None:
    source = """
    import torch
    import torch.nn.functional as F
    y = F.upsample(x)
    IGNORED = {F.upsample, torch.ger}
    """
    by_line = {d.start.line: d.fix.applicability for d in found(source, "TL605")}
    assert by_line == {4: Applicability.SAFE, 5: Applicability.UNSAFE}
    (ger,) = found(source, "TL610")
    assert ger.fix.applicability is Applicability.UNSAFE
    assert "IGNORED = {F.upsample, torch.ger}" in fixed(source, "TL605", unsafe=False)


@pytest.mark.parametrize(
    ("use", "expected"),
    [("f = vmap(g)", Applicability.SAFE), ("TRANSFORMS = [vmap]", Applicability.UNSAFE)],
)
def test_import_rewrite_is_safe_only_when_the_name_is_only_called(use, expected) -> None:
    (diagnostic, *_) = found(f"from functorch import vmap\n{use}\n", "TL610")
    assert diagnostic.fix.applicability is expected


def test_a_public_alias_is_the_same_object_so_references_are_safe() -> None:
    source = "import torch\nfn = torch.utils.data._utils.collate.default_collate\n"
    (diagnostic,) = found(source, "TL611")
    assert diagnostic.fix.applicability is Applicability.SAFE


def test_data_before_a_loop_that_builds_and_back_propagates_is_not_reported() -> None:
    source = """
    def step(params, losses):
        for p in params:
            p.data.add_(1.0)
        for loss in losses:
            loss.backward()
        a, (b, loss) = f()
    """
    assert found(source, "TL603") == []
