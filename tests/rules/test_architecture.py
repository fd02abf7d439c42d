"""Behaviour of the TL4 rules beyond their documented examples."""

from __future__ import annotations

import textwrap

from tests.helpers import fix, lint, settings_for
from torchlint.diagnostics import Applicability


def found(source: str, code: str, **table) -> list[tuple[int, int]]:
    result = lint(textwrap.dedent(source), code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.start.column) for d in result.diagnostics if d.code == code]


def fixed(source: str, code: str, unsafe: bool = True) -> str:
    outcome = fix(textwrap.dedent(source), code, unsafe=unsafe)
    assert not outcome.errors, outcome.errors
    return outcome.source


# --- TL401 bias-before-batchnorm ---------------------------------------------------------------

BLOCK = """
from torch import nn
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3)
        self.bn = nn.BatchNorm2d(8)
    def forward(self, x):
        return self.bn(self.conv(x))
"""


def test_bias_anchor_is_the_conv_constructor() -> None:
    assert found(BLOCK, "TL401") == [(6, 21)]


def test_bias_fix_is_unsafe_only() -> None:
    assert fixed(BLOCK, "TL401", unsafe=False) == textwrap.dedent(BLOCK)
    assert "nn.Conv2d(8, 8, 3, bias=False)" in fixed(BLOCK, "TL401")
    diagnostic = lint(textwrap.dedent(BLOCK), "TL401").diagnostics[0]
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE


def test_bias_parameter_access_in_other_methods_is_not_a_use() -> None:
    source = BLOCK + "    def reset(self):\n        nn.init.zeros_(self.conv.weight)\n"
    assert found(source, "TL401") == [(6, 21)]


def test_bias_layer_used_without_the_norm_elsewhere_is_not_reported() -> None:
    source = BLOCK + "    def features(self, x):\n        return self.conv(x)\n"
    assert found(source, "TL401") == []


def test_bias_layer_assigned_twice_is_not_reported() -> None:
    source = BLOCK.replace(
        "self.bn = nn.BatchNorm2d(8)",
        "self.bn = nn.BatchNorm2d(8)\n        self.conv = nn.Conv2d(8, 8, 5)",
    )
    assert found(source, "TL401") == []


def test_bias_dimensions_must_match() -> None:
    assert (
        found(
            "from torch import nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm1d(8))\n",
            "TL401",
        )
        == []
    )
    assert (
        found(
            "from torch import nn\nm = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm2d(8))\n", "TL401"
        )
        == []
    )


def test_bias_init_after_forward_and_pair_used_twice() -> None:
    source = """
    import torch.nn as nn
    class Block(nn.Module):
        def forward(self, x):
            return self.bn(self.conv(x)) + self.bn(self.conv(-x))
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(4)
            self.conv = nn.Linear(4, 4)
    """
    assert found(source, "TL401") == [(9, 21)]


def test_bias_forward_of_another_class_is_not_mixed_up() -> None:
    source = """
    from torch import nn
    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3)
    class B(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(8)
        def forward(self, x):
            return self.bn(self.conv(x))
    """
    assert found(source, "TL401") == []


# --- TL402 softmax-before-cross-entropy ---------------------------------------------------------


def test_softmax_anchor_is_the_loss_input() -> None:
    source = "import torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(x, 1), y)\n"
    assert found(source, "TL402") == [(2, 24)]


def test_softmax_keyword_input_is_fixed() -> None:
    source = "import torch.nn.functional as F\nloss = F.cross_entropy(input=F.softmax(x, dim=1), target=y)\n"
    assert fixed(source, "TL402", unsafe=False).endswith("F.cross_entropy(input=x, target=y)\n")


def test_softmax_with_dtype_is_reported_without_fix() -> None:
    source = "import torch\nimport torch.nn.functional as F\nl = F.cross_entropy(F.softmax(x, 1, dtype=torch.float64), y)\n"
    assert found(source, "TL402") == [(3, 21)]
    assert fixed(source, "TL402") == source


def test_softmax_module_attribute_is_dropped() -> None:
    source = """
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.softmax = nn.Softmax(dim=1)
            self.loss = nn.CrossEntropyLoss()
        def step(self, x, y):
            return self.loss(self.softmax(x), y)
    """
    assert fixed(source, "TL402").endswith("return self.loss(x, y)\n")


def test_softmax_reassigned_criterion_is_not_resolved() -> None:
    source = """
    import torch.nn as nn, torch.nn.functional as F
    criterion = nn.CrossEntropyLoss()
    criterion = wrap(criterion)
    loss = criterion(F.softmax(x, 1), y)
    """
    assert found(source, "TL402") == []


def test_softmax_into_nll_module_reported_without_fix() -> None:
    source = """
    import torch.nn as nn, torch
    nll = nn.NLLLoss()
    loss = nll(torch.softmax(x, 1), y)
    ok = nll(torch.log_softmax(x, 1), y)
    """
    result = lint(textwrap.dedent(source), "TL402")
    assert [(d.start.line, d.fix) for d in result.diagnostics] == [(4, None)]
    assert "log_softmax" in result.diagnostics[0].message


def test_softmax_log_softmax_into_cross_entropy_is_fine() -> None:
    source = "import torch.nn.functional as F\nl = F.cross_entropy(F.log_softmax(x, 1), y)\n"
    assert found(source, "TL402") == []


def test_softmax_variable_dim_method_is_not_a_softmax() -> None:
    # ``obj.softmax(x)`` with a non-integer argument may be any object's method
    source = "import torch.nn.functional as F\nl = F.cross_entropy(head.softmax(x), y)\n"
    assert found(source, "TL402") == []


# --- TL403 sigmoid-before-bce -------------------------------------------------------------------


def test_sigmoid_fix_reuses_an_existing_functional_alias() -> None:
    source = """
    import torch.nn.functional as fn
    from torch.nn.functional import binary_cross_entropy
    loss = binary_cross_entropy(fn.sigmoid(z), y)
    """
    assert fixed(source, "TL403", unsafe=False).endswith(
        "loss = fn.binary_cross_entropy_with_logits(z, y)\n"
    )


def test_sigmoid_no_fix_without_a_resolvable_name() -> None:
    source = """
    from torch import sigmoid
    from torch.nn.functional import binary_cross_entropy
    torch = None
    loss = binary_cross_entropy(sigmoid(z), y)
    """
    assert found(source, "TL403") == [(5, 29)]
    assert fixed(source, "TL403") == textwrap.dedent(source)


def test_sigmoid_with_out_argument_is_reported_without_fix() -> None:
    source = "import torch\nimport torch.nn.functional as F\nl = F.binary_cross_entropy(torch.sigmoid(z, out=buf), y)\n"
    assert found(source, "TL403") == [(3, 28)]
    assert fixed(source, "TL403") == source


def test_sigmoid_bare_bceloss_call_has_no_fix() -> None:
    source = "import torch\nfrom torch.nn import BCELoss\nl = BCELoss()(torch.sigmoid(z), y)\n"
    assert found(source, "TL403") == [(3, 15)]
    assert fixed(source, "TL403") == source


def test_sigmoid_probabilities_are_not_reported() -> None:
    source = "import torch.nn.functional as F\nl = F.binary_cross_entropy(probs, y)\nm = F.binary_cross_entropy(model(x), y)\n"
    assert found(source, "TL403") == []


# --- TL404 softmax-implicit-dim ------------------------------------------------------------------


def test_implicit_dim_fix_is_display_only() -> None:
    source = "import torch.nn.functional as F\np = F.softmax(x)\n"
    result = lint(source, "TL404")
    (diagnostic,) = result.diagnostics
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.DISPLAY
    assert diagnostic.fix.edits[0].content == "F.softmax(x, dim=-1)"
    assert fixed(source, "TL404") == source


def test_implicit_dim_positional_none_and_stacklevel() -> None:
    source = "import torch.nn.functional as F\na = F.softmax(x, None)\nb = F.softmax(x, 1, 3)\n"
    assert found(source, "TL404") == [(2, 5)]


def test_implicit_dim_tensor_method_is_not_reported() -> None:
    assert found("y = x.softmax(1)\nz = x.log_softmax(dim=-1)\n", "TL404") == []


# --- TL405 / TL406 -----------------------------------------------------------------------------


def test_log_one_plus_only_literal_one() -> None:
    source = "import torch\na = torch.log(1 + x)\nb = torch.log(one + x)\nc = torch.log(x + 1.0)\nd = torch.log(x + 10)\n"
    assert found(source, "TL405") == [(2, 5), (4, 5)]


def test_log_one_plus_keeps_other_calls_and_is_stable() -> None:
    source = "import torch\ny = torch.log(1 + torch.exp(x))\n"
    once = fixed(source, "TL405", unsafe=False)
    assert once == "import torch\ny = torch.log1p(torch.exp(x))\n"
    assert fixed(once, "TL405") == once


def test_exp_minus_one_anchor_is_the_subtraction() -> None:
    source = "import torch\ny = 3 + (torch.exp(x) - 1)\n"
    assert found(source, "TL406") == [(2, 10)]
    assert fixed(source, "TL406", unsafe=False) == "import torch\ny = 3 + torch.expm1(x)\n"


def test_exp_minus_one_method_form_is_not_in_the_catalog() -> None:
    assert found("import torch\ny = x.exp() - 1\n", "TL406") == []


# --- TL407 deep-plain-stack ----------------------------------------------------------------------

LAYERS = "            nn.Linear(8, 8), nn.ReLU(),\n" * 20


def test_deep_plain_stack_is_opt_in() -> None:
    assert "TL407" not in settings_for().selected_codes
    assert "TL405" not in settings_for().selected_codes  # value-blind numerics: opt-in too
    source = "from torch import nn\nm = nn.Sequential(\n" + LAYERS + ")\n"
    assert found(source, "TL407") == [(2, 5)]


def test_deep_plain_stack_residual_in_a_helper_method_counts() -> None:
    source = (
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(\n" + LAYERS + "        )\n"
        "    def forward(self, x):\n"
        "        return self._impl(x)\n"
        "    def _impl(self, x):\n"
        "        return self.body(x) + x\n"
    )
    assert found(source, "TL407") == []
    plain = source.replace("self.body(x) + x", "self.body(x)")
    assert found(plain, "TL407") == [(2, 7)]


def test_deep_plain_stack_class_without_forward_is_not_reported() -> None:
    source = (
        "from torch import nn\n"
        "class Layers(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(\n" + LAYERS + "        )\n"
    )
    assert found(source, "TL407") == []


# --- TL404: softmax modules never applied ------------------------------------------------------


def test_softmax_module_read_by_name_or_through_children_is_reported() -> None:
    source = """
        from torch import nn
        class ByName(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.Softmax()
            def forward(self, x):
                return getattr(self, "act")(x)
        class ByChildren(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.Softmax()
            def forward(self, x):
                for layer in self.children():
                    x = layer(x)
                return x
        class Unread(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.Softmax()
                self.fn = nn.functional.softmax(self.weight)
        """
    assert found(source, "TL404") == [(6, 20), (12, 20), (21, 19)]
