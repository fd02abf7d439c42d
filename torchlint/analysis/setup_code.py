"""Is the node being visited one-time setup code?

Performance rules weigh a cost by how often it is paid. Code that runs once per program
(a constructor, a script's ``main()`` or ``if __name__ == "__main__":`` block) pays it
once, and a maintainer will not change it for speed; the same line in a loop, a
``forward`` or any other function that may run per step pays it every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls

if TYPE_CHECKING:
    from torchlint.context import FileContext

# Functions that run once per object or per program.
ONCE_FUNCTIONS = frozenset(
    {"__init__", "__post_init__", "main", "setup", "reset_parameters", "init_weights"}
)
_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def is_main_guard(test: cst.BaseExpression) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    sides = (test.left, target.comparator)
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    return len(names) == 1 and any(calls.string_literal(s) == "__main__" for s in sides)


def runs_once(context: FileContext) -> bool:
    """True in a constructor, ``main()``, ``reset_parameters()``... or the ``__main__``
    block, outside any loop of theirs; False anywhere else (module-level code included)."""
    for node in reversed(context.ancestors):
        if isinstance(node, _LOOPS):
            return False
        if isinstance(node, cst.Lambda):
            return False
        if isinstance(node, cst.FunctionDef):
            return node.name.value in ONCE_FUNCTIONS
        if isinstance(node, cst.If) and is_main_guard(node.test):
            return True
    return False
