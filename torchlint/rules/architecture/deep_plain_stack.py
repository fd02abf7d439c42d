"""TL407 deep-plain-stack."""

from __future__ import annotations

import libcst as cst

from torchlint.calls import class_method
from torchlint.names import iter_children
from torchlint.rules.architecture._common import enclosing_method
from torchlint.rules.base import Invalid, Rule, Valid
from torchlint.vocabulary import SEQUENTIAL

LAYERS = frozenset(
    {
        *(
            f"torch.nn.{kind}{n}d"
            for kind in ("Conv", "ConvTranspose", "LazyConv")
            for n in (1, 2, 3)
        ),
        *(
            f"torch.nn.modules.conv.{kind}{n}d"
            for kind in ("Conv", "ConvTranspose")
            for n in (1, 2, 3)
        ),
        "torch.nn.Linear",
        "torch.nn.LazyLinear",
        "torch.nn.modules.linear.Linear",
    }
)
MIN_LAYERS = 20
# calls that join a block's input back in (residual add, dense concatenation)
SKIP_CALLS = frozenset({"add", "add_", "cat", "concat", "concatenate"})

_PLAIN_20 = "        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),\n" * MIN_LAYERS


class DeepPlainStack(Rule):
    """
    ## What it does
    Reports an `nn.Sequential(...)` with 20 or more conv/linear layers, and a module class
    whose `__init__` builds 20 or more while none of its other methods adds anything (`+`,
    `+=`, `torch.add`, `torch.cat`): a deep stack with no residual connection.

    ## Why is this bad?
    Plain stacks this deep train worse than shallower ones: gradients fade or explode through
    the long chain, and He et al. showed a 56-layer plain network reaching *higher* training
    error than a 20-layer one. Residual connections (`out = block(x) + x`) give the gradient a
    direct path and let the extra depth help.

    ## Example
    ```python
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        # ... 18 more of the same ...
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
    )
    ```

    ## Use instead
    ```python
    from torchlint.runtime import ResNet

    model = ResNet(num_classes=10, blocks_per_stage=(3, 3, 3))
    ```
    or group the layers into residual blocks (`torchlint.runtime.ResidualBlock`).

    ## Fix safety
    No fix: restructuring a network is a design decision. Layers built in a loop are counted
    once, so only stacks written out literally are found. Off by default (opt-in).

    ## References
    - https://arxiv.org/abs/1512.03385
    """

    code = "TL407"
    name = "deep-plain-stack"
    applies_to_tests = False
    summary = "deep plain stack of conv/linear layers without residual connections"
    default = False
    requires = ("Conv", "Linear")
    examples = (
        Invalid(
            "from torch import nn\nmodel = nn.Sequential(\n" + _PLAIN_20 + ")\n",
        ),
        Invalid(
            "import torch.nn as nn\n"
            "class Plain(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.features = nn.Sequential(\n" + _PLAIN_20 + "        )\n"
            "        self.head = nn.Linear(64, 10)\n"
            "    def forward(self, x):\n"
            "        return self.head(self.features(x).mean((2, 3)))\n",
        ),
        Invalid(
            "import torch\n"
            "model = torch.nn.Sequential(\n"
            "    torch.nn.Sequential(\n" + _PLAIN_20.replace("nn.", "torch.nn.") + "    ),\n"
            "    torch.nn.Linear(64, 10),\n"
            ")\n",
        ),
        Invalid(
            "from torch.nn import Linear as L, ReLU, Sequential\n"
            "mlp = Sequential(\n" + "    L(32, 32), ReLU(),\n" * 24 + ")\n",
        ),
        Valid(
            "from torch import nn\nmodel = nn.Sequential(\n"
            + "        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),\n" * (MIN_LAYERS - 1)
            + ")\n",
        ),
        Valid(
            "import torch.nn as nn\n"
            "class Residual(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = nn.Sequential(\n" + _PLAIN_20 + "        )\n"
            "    def forward(self, x):\n"
            "        return x + self.body(x)\n",
        ),
        Valid(
            "from torch import nn\n"
            "layers = nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1) for _ in range(50)])\n",
        ),
        Valid(
            "class nn:\n    pass\nmodel = nn.Sequential(\n" + _PLAIN_20 + ")\n",
        ),
        Valid(
            "import torch.nn as nn\n"
            "class Dense(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.layers = nn.ModuleList([\n" + _PLAIN_20 + "        ])\n"
            "    def forward(self, x):\n"
            "        for layer in self.layers:\n"
            "            x = torch.cat([x, layer(x)], 1)\n"
            "        return x\n",
        ),
    )

    def __init__(self, context) -> None:
        super().__init__(context)
        self._layers: dict[int, int] = {}  # id(class) -> layers built in its __init__
        self._joins: set[int] = set()  # id(class) of classes that add or concatenate somewhere

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        method = enclosing_method(self.context.scope)
        in_init = method is not None and method[0].name.value == "__init__"
        joins = isinstance(func, cst.Attribute) and func.attr.value in SKIP_CALLS
        if method is not None and not in_init and joins:
            self._joins.add(id(method[1].node))
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        qualified = self.qualified_name(func)
        if in_init:
            if qualified in LAYERS:
                class_id = id(method[1].node)  # type: ignore[index]
                self._layers[class_id] = self._layers.get(class_id, 0) + 1
        elif qualified in SEQUENTIAL:  # a Sequential in __init__ counts toward its class
            self._check_sequential(node)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Add):
            self._join()

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign):
            self._join()

    def _join(self) -> None:
        method = enclosing_method(self.context.scope)
        if method is not None and method[0].name.value != "__init__":
            self._joins.add(id(method[1].node))

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        count = self._layers.get(id(node), 0)
        if count < MIN_LAYERS or id(node) in self._joins or class_method(node, "forward") is None:
            return
        self.report(
            node.name,
            f"`{node.name.value}` builds {count} conv/linear layers and never adds a residual: "
            "consider residual blocks (`torchlint.runtime.ResNet`)",
        )

    def _check_sequential(self, node: cst.Call) -> None:
        """A ``Sequential`` outside ``__init__`` (those count toward their class)."""
        scope = self.context.scope
        count = 0
        stack: list[cst.CSTNode] = list(node.args)
        while stack:
            child = stack.pop()
            if isinstance(child, cst.Call) and scope.qualified_name(child.func) in LAYERS:
                count += 1
            stack.extend(iter_children(child))
        if count < MIN_LAYERS:
            return
        for ancestor in self.context.ancestors:
            if isinstance(ancestor, cst.Call) and scope.qualified_name(ancestor.func) in SEQUENTIAL:
                return  # the outer Sequential is reported
        self.report(
            node,
            f"`Sequential` of {count} conv/linear layers without residual connections: "
            "consider residual blocks (`torchlint.runtime.ResNet`)",
        )
