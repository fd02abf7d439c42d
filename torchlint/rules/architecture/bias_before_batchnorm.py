"""TL401 bias-before-batchnorm."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import fetches_published_weights
from torchlint.diagnostics import Applicability
from torchlint.names import Scope, iter_children
from torchlint.rules.architecture._common import enclosing_method, init_attributes, self_name
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid
from torchlint.vocabulary import SEQUENTIAL

# qualified name -> (the BatchNorm dimensionality it pairs with, positional index of ``bias``)
LAYERS = {
    **{f"torch.nn.Conv{n}d": (n, 7) for n in (1, 2, 3)},
    **{f"torch.nn.modules.conv.Conv{n}d": (n, 7) for n in (1, 2, 3)},
    "torch.nn.Linear": (1, 2),
    "torch.nn.modules.linear.Linear": (1, 2),
}
BATCHNORMS = {
    **{f"torch.nn.BatchNorm{n}d": n for n in (1, 2, 3)},
    **{f"torch.nn.modules.batchnorm.BatchNorm{n}d": n for n in (1, 2, 3)},
}


class BiasBeforeBatchnorm(Rule):
    """
    ## What it does
    Reports a `Conv1d/2d/3d` (or a `Linear` before `BatchNorm1d`) that keeps its bias although
    a BatchNorm of the same dimensionality follows it directly: adjacent in `nn.Sequential(...)`,
    or in `forward` (both layers built in `__init__`) as `self.bn(self.conv(x))` or as
    `x = self.conv(x)` followed by `x = self.bn(x)`. Every use of the layer must feed that
    BatchNorm: a layer whose output is also used on its own keeps its bias.

    Not reported in a file that downloads published weights for its models
    (`load_state_dict_from_url`, `hf_hub_download`, the URL of a `.pth`/`.pt`/`.ckpt`
    file): a port of a released architecture must keep the parameters of the release, or
    its checkpoint no longer loads.

    Opt-in (`extend-select = ["TL401"]`): on the ecosystem check a third of its reports were
    models whose published weights are loaded elsewhere in the project, where dropping the
    bias would break every released checkpoint (`load_state_dict` is strict), and that
    cannot be seen from one file. Turn it on for models you train from scratch.

    ## Why is this bad?
    BatchNorm subtracts the per-channel mean right after the layer, which removes any constant
    the layer added: the bias is cancelled exactly, in training and in evaluation. It still
    costs parameters, memory, optimizer state and a kernel per step, and BatchNorm's own
    `beta` already plays its role.

    ## Example
    ```python
    from torch import nn

    block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
    ```

    ## Use instead
    ```python
    from torch import nn

    block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    ```
    `torchlint.runtime.ResidualBlock` is a complete conv-BatchNorm block built this way.

    ## Fix safety
    Unsafe: the model's output does not change, but the `state_dict` loses the `.bias` keys,
    so checkpoints saved before the fix no longer load with `strict=True`.

    ## References
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#disable-bias-for-convolutions-directly-followed-by-a-batch-norm
    - https://arxiv.org/abs/1502.03167
    """

    code = "TL401"
    name = "bias-before-batchnorm"
    applies_to_tests = False
    default = False
    summary = "bias before BatchNorm is cancelled by it: pass `bias=False`"
    fix_applicability = Applicability.UNSAFE
    requires = ("BatchNorm",)
    examples = (
        Invalid(
            """
            from torch import nn
            block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            """,
            fixed="""
            from torch import nn
            block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class MyNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1)
                    self.bn1 = nn.BatchNorm2d(16)
                    self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1)
                    self.bn2 = nn.BatchNorm2d(32)
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(3, 32, kernel_size=1, stride=1, padding=0),
                        nn.BatchNorm2d(32)
                    )

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = F.relu(self.bn2(self.conv2(out)))
                    return out + self.shortcut(x)
            """,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F

            class MyNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(16)
                    self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(32)
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(3, 32, kernel_size=1, stride=1, padding=0, bias=False),
                        nn.BatchNorm2d(32)
                    )

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = F.relu(self.bn2(self.conv2(out)))
                    return out + self.shortcut(x)
            """,
            count=3,
        ),
        Invalid(
            """
            import torch
            head = torch.nn.Sequential(torch.nn.Linear(128, 64, bias=True), torch.nn.BatchNorm1d(64))
            """,
            fixed="""
            import torch
            head = torch.nn.Sequential(torch.nn.Linear(128, 64, bias=False), torch.nn.BatchNorm1d(64))
            """,
        ),
        Invalid(
            """
            from torch.nn import BatchNorm1d as BN, Conv1d as C, Sequential
            stem = Sequential(
                C(8, 8, 3),
                BN(8),
            )
            """,
            fixed="""
            from torch.nn import BatchNorm1d as BN, Conv1d as C, Sequential
            stem = Sequential(
                C(8, 8, 3, bias=False),
                BN(8),
            )
            """,
        ),
        Invalid(
            """
            from torch import nn
            block = nn.Sequential(nn.Conv3d(4, 4, 3, 1, 1, 1, 1, True), nn.BatchNorm3d(4))
            """,
            fixed="""
            from torch import nn
            block = nn.Sequential(nn.Conv3d(4, 4, 3, 1, 1, 1, 1, False), nn.BatchNorm3d(4))
            """,
        ),
        Invalid(
            """
            from torch import nn

            class BasicBlock(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.conv = nn.Conv2d(channels, channels, 3, padding=1)
                    self.bn = nn.BatchNorm2d(channels)
                    self.relu = nn.ReLU()

                def forward(self, x):
                    out = self.conv(x)
                    out = self.bn(out)
                    return self.relu(out) + x
            """,
            fixed="""
            from torch import nn

            class BasicBlock(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(channels)
                    self.relu = nn.ReLU()

                def forward(self, x):
                    out = self.conv(x)
                    out = self.bn(out)
                    return self.relu(out) + x
            """,
        ),
        Valid(
            """
            from torch import nn
            block = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16))
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            URL = "https://github.com/example/keynet/raw/main/weights/keynet.pth"
            class KeyNet(nn.Module):
                def __init__(self, pretrained=False):
                    super().__init__()
                    self.block = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8))
                    if pretrained:
                        self.load_state_dict(torch.hub.load_state_dict_from_url(URL))
            """
        ),
        Valid(
            """
            from torch import nn

            class TwoOutputs(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(8, 8, 3)
                    self.bn = nn.BatchNorm2d(8)
                    self.conv2 = nn.Conv2d(8, 8, 3)
                    self.bn2 = nn.BatchNorm2d(8)

                def forward(self, x):
                    features = self.conv(x)
                    normed = self.bn(features)  # the raw features are used too
                    y = self.conv2(normed)
                    y = self.bn2(y)
                    return features, y, self.conv2(x)  # conv2 also used on its own
            """
        ),
        Valid(
            """
            from torch import nn
            def block(**kwargs):
                return nn.Sequential(nn.Conv2d(3, 16, 3, **kwargs), nn.BatchNorm2d(16))
            """
        ),
        Valid(
            """
            from torch import nn
            a = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.BatchNorm2d(16))
            b = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
            c = nn.Sequential(nn.Conv2d(3, 16, 3, bias=use_bias), nn.BatchNorm2d(16))
            """
        ),
        Valid(
            """
            from torch import nn
            class Conv2d(nn.Module):
                pass
            block = nn.Sequential(Conv2d(3, 16, 3), nn.BatchNorm2d(16))
            """
        ),
        Valid(
            """
            from torch import nn
            class Block(nn.Module):
                def __init__(self, conv):
                    super().__init__()
                    self.conv = conv
                    self.bn = nn.BatchNorm2d(16)
                    self.conv2 = nn.Conv2d(16, 16, 3)
                    self.bn2 = nn.BatchNorm2d(16)
                def forward(self, x):
                    x = self.bn(self.conv(x))
                    return self.bn2(self.relu(self.conv2(x)))
            """
        ),
        Valid(
            """
            from torch import nn
            class Fusable(nn.Module):
                def __init__(self, with_bn):
                    super().__init__()
                    self.conv = nn.Conv2d(5, 5, 2)
                    self.bn = nn.BatchNorm2d(5)
                    self.with_bn = with_bn
                def forward(self, x):
                    if self.with_bn:
                        return self.bn(self.conv(x))
                    return self.conv(x)
            """
        ),
    )

    def __init__(self, context) -> None:
        super().__init__(context)
        self._reported: set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value == "Sequential":
                self._check_sequential(node)
            elif len(node.args) == 1 and isinstance(node.args[0].value, cst.Call):
                self._check_forward(node, func, node.args[0].value)
            elif len(node.args) == 1:
                inner = self._assigned_just_before(node)
                if inner is not None:
                    self._check_forward(node, func, inner)
        elif isinstance(func, cst.Name):
            self._check_sequential(node)

    def _check_sequential(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in SEQUENTIAL:
            return
        scope = self.context.scope
        for first, second in zip(node.args, node.args[1:], strict=False):
            if first.star or second.star or first.keyword or second.keyword:
                continue
            if isinstance(first.value, cst.Call) and isinstance(second.value, cst.Call):
                self._check_pair(scope, first.value, second.value)

    def _assigned_just_before(self, node: cst.Call) -> cst.Call | None:
        """For ``x = self.bn(x)``: the call ``x`` was assigned by the statement just before
        (``x = self.conv(x)``), whose result is then gone; None for any other shape."""
        ancestors = self.context.ancestors
        if len(ancestors) < 3 or not isinstance(ancestors[-1], cst.Assign):
            return None
        statement, block = ancestors[-2], ancestors[-3]
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            return None
        index = next((i for i, s in enumerate(block.body) if s is statement), 0)
        if index == 0:
            return None
        pair = _rebinding_pair(block.body[index - 1], statement)
        return pair[0] if pair is not None and pair[1] is node else None

    def _check_forward(self, node: cst.Call, outer: cst.Attribute, inner: cst.Call) -> None:
        """``self.bn(self.conv(x))`` (or the two-statement form) in ``forward``, both layers
        assigned in ``__init__``."""
        if not isinstance(outer.value, cst.Name) or not isinstance(inner.func, cst.Attribute):
            return
        this = outer.value.value
        if not isinstance(inner.func.value, cst.Name) or inner.func.value.value != this:
            return
        if node.args[0].star or node.args[0].keyword:
            return
        method = enclosing_method(self.context.scope)
        if method is None or method[0].name.value != "forward" or self_name(method[0]) != this:
            return
        init = init_attributes(self.context, method[1])
        if init is None:
            return
        conv = inner.func.attr.value
        layer = init.calls.get(conv)
        norm = init.calls.get(outer.attr.value)
        if layer is None or norm is None:
            return
        classdef = method[1].node
        assert isinstance(classdef, cst.ClassDef)
        uses = self.context.fact(f"tl401-uses:{id(classdef)}", lambda _: _attribute_uses(classdef))
        # the layer must feed a BatchNorm everywhere: `self.conv(x) + y` elsewhere needs the bias
        if all(wrapper == outer.attr.value for wrapper in uses.get(conv, [None])):
            self._check_pair(init.scope, layer, norm)

    def _check_pair(self, scope: Scope, layer: cst.Call, norm: cst.Call) -> None:
        """Report ``layer`` when it keeps a bias and ``norm`` is its BatchNorm (names in ``scope``)."""
        layer_name = scope.qualified_name(layer.func) or ""
        found = LAYERS.get(layer_name)
        if found is None or id(layer) in self._reported or calls.has_star_args(layer):
            return
        dims, bias_index = found
        norm_name = scope.qualified_name(norm.func) or ""
        if BATCHNORMS.get(norm_name) != dims:
            return
        bias = calls.argument(layer, "bias", bias_index)
        if bias is not None and not calls.is_true(bias.value):
            return  # bias=False already, or an expression we cannot judge
        if fetches_published_weights(self.context):
            return  # the released checkpoint has the bias: dropping it breaks loading
        self._reported.add(id(layer))
        message = (
            f"`{layer_name.rsplit('.', 1)[-1]}` bias is cancelled by the "
            f"`{norm_name.rsplit('.', 1)[-1]}` after it: pass `bias=False`"
        )
        self.report(layer, message, fix=self._fix(layer, bias))

    def _fix(self, layer: cst.Call, bias: cst.Arg | None) -> PendingFix:
        edit = (
            Replace(layer, calls.add_keyword(layer, "bias", "False"))
            if bias is None
            else Replace(bias.value, "False")
        )
        return self.fix(Applicability.UNSAFE, "Pass `bias=False`", edit)


def _attribute_uses(classdef: cst.ClassDef) -> dict[str, list[str | None]]:
    """For each ``self.<attr>`` read in the class's methods other than ``__init__``: the
    attribute of the module it is directly wrapped in (``self.bn(self.conv(x))`` -> ``bn``),
    or None for any other use. ``self.conv.weight`` reads a parameter: not a use."""
    uses: dict[str, list[str | None]] = {}
    for statement in classdef.body.body:
        if not isinstance(statement, cst.FunctionDef) or statement.name.value == "__init__":
            continue
        this = self_name(statement)
        if this is None:
            continue
        wrapped: dict[int, str] = {}
        members: set[int] = set()
        stack: list[cst.CSTNode] = [statement.body]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Attribute):
                if _is_self(node.value, this) and id(node) not in members:
                    uses.setdefault(node.attr.value, []).append(wrapped.get(id(node)))
                members.add(id(node.value))
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                inner = node.args[0].value if len(node.args) == 1 else None
                if _is_self(node.func.value, this) and isinstance(inner, cst.Call):
                    wrapped[id(inner.func)] = node.func.attr.value
            elif isinstance(node, cst.IndentedBlock):
                for first, second in zip(node.body, node.body[1:], strict=False):
                    pair = _rebinding_pair(first, second)
                    if pair is not None and _is_self(pair[1].func.value, this):  # type: ignore[attr-defined]
                        wrapped[id(pair[0].func)] = pair[1].func.attr.value  # type: ignore[attr-defined]
            stack.extend(iter_children(node))
    return uses


def _single_assignment(statement: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    """``name = <call>`` alone on its line: (name, call)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    assign = statement.body[0]
    if (
        isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
        and isinstance(assign.value, cst.Call)
        and isinstance(assign.value.func, cst.Attribute)
    ):
        return assign.targets[0].target.value, assign.value
    return None


def _rebinding_pair(
    first: cst.BaseStatement, second: cst.BaseStatement
) -> tuple[cst.Call, cst.Call] | None:
    """``x = a.conv(...)`` then ``x = a.bn(x)``: the two calls. The name is rebound, so the
    first call's output reaches nothing but the second."""
    before, after = _single_assignment(first), _single_assignment(second)
    if before is None or after is None or before[0] != after[0]:
        return None
    call = after[1]
    if len(call.args) != 1 or call.args[0].star or call.args[0].keyword:
        return None
    argument = call.args[0].value
    if not isinstance(argument, cst.Name) or argument.value != before[0]:
        return None
    return before[1], call


def _is_self(node: cst.BaseExpression, this: str) -> bool:
    return isinstance(node, cst.Name) and node.value == this
