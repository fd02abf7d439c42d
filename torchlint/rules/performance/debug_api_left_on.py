"""TL501 debug-api-left-on."""

from __future__ import annotations

from pathlib import PurePath

import libcst as cst

from torchlint import calls
from torchlint.rules.base import Invalid, Rule, Valid

SET_ANOMALY = frozenset(
    {"torch.autograd.set_detect_anomaly", "torch.autograd.anomaly_mode.set_detect_anomaly"}
)
ALWAYS_ON = frozenset(
    {
        "torch.autograd.detect_anomaly",
        "torch.autograd.anomaly_mode.detect_anomaly",
        "torch.autograd.profiler.emit_nvtx",
    }
)
TEST_DIRECTORIES = frozenset({"test", "tests"})
# words in a function's name saying the function *is* the debugging path (called on demand)
DEBUG_WORDS = frozenset(
    {"debug", "debugging", "anomaly", "anomalies", "nan", "nans", "check", "checks"}
    | {"profile", "profiler", "profiling", "nvtx"}
)


def is_test_path(path: str) -> bool:
    """Test files may turn debugging on on purpose."""
    parts = PurePath(path.replace("\\", "/")).parts
    name = parts[-1] if parts else ""
    return (
        any(part in TEST_DIRECTORIES for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def _is_debug_name(name: str) -> bool:
    return any(word in DEBUG_WORDS for word in name.lower().split("_"))


class DebugApiLeftOn(Rule):
    """
    ## What it does
    Reports `torch.autograd.set_detect_anomaly(True)`, `torch.autograd.detect_anomaly()` and
    `torch.autograd.profiler.emit_nvtx()` outside test files (in a `test`/`tests` directory,
    `test_*.py`, `*_test.py`, `conftest.py`) and not under an `if`. Calls in
    a function whose name marks it as a debugging path (`debug`, `anomaly`, `nan`, `check`,
    `profile`, `nvtx` as a word of the name) are not reported either: such a function runs on
    demand.

    ## Why is this bad?
    These are debugging tools. Anomaly detection records a traceback for every operation of
    the forward pass and checks every backward result for NaN, which slows training several
    times over; `emit_nvtx` annotates every operator for the Nsight profiler. Left on
    unconditionally, they make every run slow.

    ## Example
    ```python
    import torch

    torch.autograd.set_detect_anomaly(True)
    train(model)
    ```

    ## Use instead
    ```python
    import torch

    if args.debug:
        torch.autograd.set_detect_anomaly(True)
    train(model)
    ```

    ## Fix safety
    No fix: only the author knows whether the debugging run is over.

    ## References
    - https://pytorch.org/docs/stable/autograd.html#anomaly-detection
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#disable-debugging-apis
    """

    code = "TL501"
    name = "debug-api-left-on"
    applies_to_tests = False
    summary = "autograd debugging API left on: it slows every step"
    requires = ("detect_anomaly", "emit_nvtx")
    examples = (
        Invalid(
            """
            import torch
            torch.autograd.set_detect_anomaly(True)
            """
        ),
        Invalid(
            """
            import torch
            def train(model, x):
                with torch.autograd.detect_anomaly():
                    model(x).sum().backward()
            """
        ),
        Invalid(
            """
            from torch.autograd import profiler
            with profiler.emit_nvtx(record_shapes=True):
                step()
            """
        ),
        Invalid(
            """
            from torch.autograd import set_detect_anomaly as anomaly
            anomaly(mode=True, check_nan=False)
            """
        ),
        Valid(
            """
            import torch
            if args.debug:
                torch.autograd.set_detect_anomaly(True)
            else:
                ctx = torch.autograd.detect_anomaly()
            """
        ),
        Valid(
            """
            import torch
            def run_with_anomaly_detection(fn):
                with torch.autograd.detect_anomaly():
                    return fn()
            def debug_step(model, x):
                torch.autograd.set_detect_anomaly(True)
                model(x).sum().backward()
            """
        ),
        Valid(
            """
            import torch
            torch.autograd.set_detect_anomaly(False)
            torch.autograd.set_detect_anomaly(args.debug)
            """
        ),
        Valid(
            """
            import torch
            torch.autograd.set_detect_anomaly(True)
            """,
            path="tests/test_model.py",
        ),
        Valid(
            """
            import torch
            with torch.autograd.detect_anomaly():
                step()
            """,
            path="src/model_test.py",
        ),
        Valid(
            """
            def detect_anomaly():
                pass
            with detect_anomaly():
                step()
            """
        ),
        Valid(
            """
            import torch
            def enable(**kwargs):
                torch.autograd.set_detect_anomaly(**kwargs)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if last not in ("set_detect_anomaly", "detect_anomaly", "emit_nvtx") and not isinstance(
            func, cst.Name
        ):
            return
        qualified = self.qualified_name(func)
        if qualified in SET_ANOMALY:
            mode = calls.argument(node, "mode", 0)
            if mode is None or not calls.is_true(mode.value):
                return
        elif qualified not in ALWAYS_ON:
            return
        if is_test_path(self.context.path):
            return
        for ancestor in self.context.ancestors:
            if isinstance(ancestor, (cst.If, cst.IfExp)):
                return  # switched on by a flag
            if isinstance(ancestor, cst.FunctionDef) and _is_debug_name(ancestor.name.value):
                return  # a debugging helper, run on demand
        shown = {
            "set_detect_anomaly": "torch.autograd.set_detect_anomaly(True)",
            "detect_anomaly": "torch.autograd.detect_anomaly()",
        }.get(qualified.rsplit(".", 1)[-1], "torch.autograd.profiler.emit_nvtx()")
        self.report(node, f"`{shown}` left on: it slows every step")
