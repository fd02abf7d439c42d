"""TL610 removed-or-deprecated-function."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import in_try_attempt
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use


@dataclass(frozen=True)
class Entry:
    advice: str  # what to use instead, for the message
    target: str | None = None  # same arguments, same result: a safe rename anywhere
    show: str | None = None  # a rename worth showing for calls, but not exact
    version: tuple[int, int] = (0, 0)  # the torch version the replacement needs
    removed: bool = False
    special: str | None = None  # a call rewrite of its own (see `_special`)
    note: str = ""  # appended to the message
    caution: str = ""  # what the shown (display-only) replacement changes


FUNCTORCH = ("vmap", "grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "functionalize")
TABLE: dict[str, Entry] = {
    "torch.solve": Entry("torch.linalg.solve(A, B)", removed=True, note="arguments swapped"),
    "torch.symeig": Entry("torch.linalg.eigh", removed=True),
    "torch.matrix_rank": Entry("torch.linalg.matrix_rank", removed=True),
    "torch.lstsq": Entry("torch.linalg.lstsq(A, B)", removed=True, note="arguments swapped"),
    "torch.qr": Entry("torch.linalg.qr", version=(1, 9), special="qr"),
    "torch.cholesky": Entry("torch.linalg.cholesky", version=(1, 9), special="cholesky"),
    "torch.chain_matmul": Entry(
        "torch.linalg.multi_dot([...])", version=(1, 9), special="chain_matmul"
    ),
    "torch.ger": Entry("torch.outer", target="torch.outer", version=(1, 8)),
    "torch.range": Entry(
        "torch.arange", special="range", note="which excludes `end` and infers the dtype"
    ),
    "torch.lu": Entry("torch.linalg.lu_factor", show="torch.linalg.lu_factor", version=(1, 13)),
    "torch.lu_solve": Entry("torch.linalg.lu_solve(LU, pivots, B)", version=(1, 13)),
    "torch.triangular_solve": Entry("torch.linalg.solve_triangular", version=(1, 11)),
    "torch.testing.assert_allclose": Entry(
        "torch.testing.assert_close", show="torch.testing.assert_close", version=(1, 9)
    ),
    "torch.backends.cuda.sdp_kernel": Entry("torch.nn.attention.sdpa_kernel", version=(2, 3)),
    "torch.utils._pytree._register_pytree_node": Entry(
        "torch.utils._pytree.register_pytree_node",
        show="torch.utils._pytree.register_pytree_node",
        version=(2, 2),
    ),
}
# Warns (FutureWarning) on every call; the replacement (torch 2.1) loads old checkpoints but
# saves other keys, so it is shown, never applied.
WEIGHT_NORM_CAUTION = (
    "it loads checkpoints of the old one, but saves `weight_g` / `weight_v` as "
    "`parametrizations.weight.original0` / `original1`: checkpoints written after the change "
    "need the new keys"
)
for _module in ("torch.nn.utils", "torch.nn.utils.weight_norm"):
    TABLE[f"{_module}.weight_norm"] = Entry(
        "torch.nn.utils.parametrizations.weight_norm",
        show="torch.nn.utils.parametrizations.weight_norm",
        version=(2, 1),
        caution=WEIGHT_NORM_CAUTION,
    )
for _name in FUNCTORCH:
    TABLE[f"functorch.{_name}"] = Entry(
        f"torch.func.{_name}", target=f"torch.func.{_name}", version=(2, 0)
    )


class RemovedOrDeprecatedFunction(DeprecatedNameRule):
    """
    ## What it does
    Reports functions that torch removed (`torch.solve`, `symeig`, `matrix_rank`,
    `lstsq`) or deprecated (`torch.qr`, `cholesky`, `chain_matmul`, `ger`, `range`, `lu`,
    `lu_solve`, `triangular_solve`, `testing.assert_allclose`,
    `backends.cuda.sdp_kernel`,
    `utils._pytree._register_pytree_node`, `nn.utils.weight_norm`, and
    `functorch.vmap/grad/vjp/jvp/jacrev/jacfwd/hessian/functionalize`), in calls,
    references and imports, through any alias. `nn.UpsamplingNearest2d` and
    `nn.UpsamplingBilinear2d` are deprecated in the documentation only: they neither warn
    nor go away, so they are not reported.

    `torch.nn.utils.weight_norm` is reported although its replacement,
    `torch.nn.utils.parametrizations.weight_norm`, saves other state-dict keys
    (`parametrizations.weight.original0/1` for `weight_g` / `weight_v`): it warns
    (`FutureWarning`) on every call on the torch releases a project supports, which is what
    decides a report; what the change does to checkpoints decides only its fix, which is
    shown and never applied.

    Not reported: a use in the fallback branch for another torch (an `except ImportError`
    / `AttributeError` handler, a branch of an `if` or conditional expression that reads
    the torch version, a version flag such as `TORCH_GE_2_4`, or probes with `hasattr` /
    `getattr`, and the code after such an `if` that returns), where the old name is kept
    on purpose; and a removed function tried in the body of a `try` whose handler catches
    the `AttributeError` / `ImportError` it raises on current torch.

    ## Why is this bad?
    Removed functions fail with an `AttributeError` on current torch; deprecated ones warn
    and will follow. Several replacements differ in subtle ways (`torch.range` includes
    `end` and returns floats, `torch.arange` does not), so each needs a deliberate change.

    Opt-in (`extend-select = ["TL610"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 27 of 31 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were
    `torch.ger` (deprecated in the documentation, with no warning) and projects that target an
    old torch in files torchlint does not read.

    ## Example
    ```python
    from functorch import vmap

    outer = torch.ger(a, b)
    prod = torch.chain_matmul(a, b, c)
    idx = torch.range(0, 9)
    ```

    ## Use instead
    ```python
    from torch.func import vmap

    outer = torch.outer(a, b)
    prod = torch.linalg.multi_dot([a, b, c])
    idx = torch.arange(0.0, 10.0)
    ```

    ## Fix safety
    Safe only where the rewrite is exact (for calls; a renamed function used as a value is
    a different object, so that fix is unsafe), and only when `target-version` has the
    replacement: `ger` -> `outer`, `functorch.X` -> `torch.func.X` (imports included),
    `chain_matmul(a, b, ...)` -> `linalg.multi_dot([a, b, ...])`, `qr(A[, some])` ->
    `linalg.qr(A[, mode=])`, `cholesky(A[, upper])` -> `linalg.cholesky(A)[.mH]`,
    and `torch.range` with integer-literal arguments (the end moves by one and float
    literals keep the floating dtype). Not exact, so only shown: `torch.range` with other
    arguments, `assert_allclose` -> `assert_close` (different tolerances), `lu`,
    `_register_pytree_node`, and `weight_norm` -> `parametrizations.weight_norm` (torch 2.1;
    it saves new checkpoint keys). Removed functions and the rest get no fix.

    ## References
    - https://pytorch.org/docs/stable/linalg.html
    - https://pytorch.org/docs/stable/func.migrating.html
    - https://pytorch.org/docs/stable/generated/torch.range.html
    - https://github.com/pytorch-labs/torchfix#deprecated-apis
    """

    code = "TL610"
    default = False
    name = "removed-or-deprecated-function"
    applies_to_tests = True
    summary = "removed or deprecated torch function"
    fix_applicability = Applicability.SAFE
    names = TABLE
    examples = (
        Invalid(
            """
            import torch
            outer = torch.ger(a, b)
            prod = torch.chain_matmul(a, b, c)
            """,
            fixed="""
            import torch
            outer = torch.outer(a, b)
            prod = torch.linalg.multi_dot([a, b, c])
            """,
            count=2,
        ),
        Invalid(
            """
            from functorch import vmap, grad as g
            batched = vmap(g(f))
            """,
            fixed="""
            from torch.func import vmap, grad as g
            batched = vmap(g(f))
            """,
            count=4,
        ),
        Invalid(
            """
            import torch
            a = torch.range(0, 5)
            b = torch.range(10, 0, -2, dtype=torch.int64, device=d)
            c = torch.range(-3, 3, 2)
            """,
            fixed="""
            import torch
            a = torch.arange(0.0, 6.0)
            b = torch.arange(10, -1, -2, dtype=torch.int64, device=d)
            c = torch.arange(-3.0, 4.0, 2)
            """,
            count=3,
        ),
        Invalid(
            """
            import torch
            q, r = torch.qr(A)
            q2, r2 = torch.qr(A, some=False)
            L = torch.cholesky(A)
            """,
            fixed="""
            import torch
            q, r = torch.linalg.qr(A)
            q2, r2 = torch.linalg.qr(A, mode="complete")
            L = torch.linalg.cholesky(A)
            """,
            count=3,
        ),
        Valid(
            """
            import torch.nn as nn
            up = nn.UpsamplingBilinear2d(scale_factor=2)  # deprecated in the docs only
            """
        ),
        Invalid(
            """
            import torch
            x = torch.solve(b, A)
            idx = torch.range(0, n)
            torch.testing.assert_allclose(actual, expected)
            """,
            fixed=None,
            count=3,
        ),
        Invalid(
            """
            import torch
            outer = torch.ger(a, b)
            """,
            fixed=None,
            settings={"target-version": "1.7"},
        ),
        Invalid(
            """
            import functorch
            jac = functorch.jacrev(f)
            """,
            fixed="""
            import torch
            jac = torch.func.jacrev(f)
            """,
        ),
        Valid(
            """
            import torch
            outer = torch.outer(a, b)
            q, r = torch.linalg.qr(A)
            idx = torch.arange(5)
            torch.testing.assert_close(actual, expected)
            """
        ),
        Valid(
            """
            import numpy as np
            for i in range(5):
                x = np.linalg.solve(A, b) + np.linalg.qr(A)[0]
            """
        ),
        Valid(
            """
            from torch.func import vmap, grad
            batched = vmap(grad(f))
            """
        ),
        Valid(
            """
            import torch
            def f(torch, a, b):
                return torch.ger(a, b)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            up = nn.Upsample(scale_factor=2, mode="nearest")
            """
        ),
        Valid(
            """
            import torch
            from packaging.version import Version
            if Version(torch.__version__) < Version("1.8.0"):
                torch_outer = torch.ger
            else:
                torch_outer = torch.outer
            if not hasattr(torch.testing, "assert_close"):
                close = torch.testing.assert_allclose
            """
        ),
        Valid(
            """
            import torch
            def solve(A, B):
                try:
                    return torch.solve(B, A)[0]
                except AttributeError:
                    return torch.linalg.solve(A, B)
            def outer(a, b):
                if not hasattr(torch, "outer"):
                    return torch.ger(a, b)
                return torch.outer(a, b)
            def outer_new_first(a, b):
                if hasattr(torch, "outer"):
                    return torch.outer(a, b)
                return torch.ger(a, b)
            """
        ),
        Invalid(
            """
            import torch
            def outer(a, b, use_outer):
                if use_outer:
                    return torch.outer(a, b)
                try:
                    return torch.ger(a, b)
                except AttributeError:
                    return None
            """,
            fixed="""
            import torch
            def outer(a, b, use_outer):
                if use_outer:
                    return torch.outer(a, b)
                try:
                    return torch.outer(a, b)
                except AttributeError:
                    return None
            """,
        ),
        Valid(
            """
            import torch
            try:
                from torch.func import vmap
            except ImportError:
                from functorch import vmap
            if is_torch_version("<", "2.2"):
                torch.utils._pytree._register_pytree_node(cls, flatten, unflatten)
            """
        ),
        Invalid(
            """
            import torch.nn as nn
            conv = nn.utils.weight_norm(nn.Conv1d(4, 4, 3))
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch.nn as nn
            from torch.nn.utils.parametrizations import weight_norm
            conv = weight_norm(nn.Conv1d(4, 4, 3))
            """
        ),
        Valid(
            """
            import torch.nn as nn
            if hasattr(nn.utils.parametrizations, "weight_norm"):
                weight_norm = nn.utils.parametrizations.weight_norm
            else:
                weight_norm = nn.utils.weight_norm
            norm = nn.utils.weight_norm if not TORCH_GE_2_1 else None
            """
        ),
    )

    def check_use(self, use: Use) -> None:
        if TABLE[use.qualified].removed and in_try_attempt(self.context.ancestors, use.node):
            return  # `try: torch.solve(...)` / `except AttributeError:`: the attempt, on purpose
        super().check_use(use)

    def message(self, qualified: str) -> str:
        entry = TABLE[qualified]
        verb = "was removed from torch" if entry.removed else "is deprecated"
        note = f" ({entry.note})" if entry.note else ""
        return f"`{qualified}` {verb}: use `{entry.advice}`{note}"

    def import_target(self, qualified: str) -> str | None:
        entry = TABLE.get(qualified)
        if (
            entry is None
            or entry.target is None
            or not self.context.settings.supports(entry.version)
        ):
            return None
        return entry.target

    def fix_use(self, use: Use) -> PendingFix | None:
        entry = TABLE[use.qualified]
        if not self.context.settings.supports(entry.version):
            return None
        if entry.target is not None:
            return self.rename_fix(use, entry.target, f"Use `{entry.target}`")
        call = use.call
        if call is None or calls.has_star_args(call):
            return None
        if entry.show is not None:
            if calls.keyword(call, "get_infos") is not None:
                return None  # torch.lu(..., get_infos=True) is linalg.lu_factor_ex
            spelled = self.spell(use.node, entry.show)
            if spelled is None:
                return None
            caution = entry.caution or "not an exact equivalent"
            return self.fix(
                Applicability.DISPLAY,
                f"Consider `{entry.show}` ({caution})",
                Replace(use.node, spelled[0]),
                preamble=spelled[1],
            )
        if entry.special is not None:
            return self._special(entry.special, use, call)
        return None

    def _special(self, kind: str, use: Use, call: cst.Call) -> PendingFix | None:
        positional = calls.positional(call)
        keywords = [arg for arg in call.args if arg.keyword is not None]
        code = self.context.code_for
        if kind == "chain_matmul":
            if len(positional) < 2 or keywords:
                return None
            spelled = self.spell(use.node, "torch.linalg.multi_dot")
            if spelled is None:
                return None
            matrices = ", ".join(code(arg.value) for arg in positional)
            return self._safe(
                "torch.linalg.multi_dot", call, f"{spelled[0]}([{matrices}])", spelled
            )
        if kind == "qr":
            some = calls.argument(call, "some", 1)
            if len(positional) not in (1, 2) or len(call.args) - (some is not None) != 1:
                return None
            if some is not None and not (calls.is_true(some.value) or calls.is_false(some.value)):
                return None
            spelled = self.spell(use.node, "torch.linalg.qr")
            if spelled is None:
                return None
            mode = ', mode="complete"' if some is not None and calls.is_false(some.value) else ""
            text = f"{spelled[0]}({code(positional[0].value)}{mode})"
            return self._safe("torch.linalg.qr", call, text, spelled)
        if kind == "cholesky":
            upper = calls.argument(call, "upper", 1)
            if len(positional) not in (1, 2) or len(call.args) - (upper is not None) != 1:
                return None
            if upper is not None and not (
                calls.is_true(upper.value) or calls.is_false(upper.value)
            ):
                return None
            transpose = upper is not None and calls.is_true(upper.value)
            if transpose and not self.context.settings.supports((1, 11)):
                return None  # `.mH` appeared in torch 1.11
            spelled = self.spell(use.node, "torch.linalg.cholesky")
            if spelled is None:
                return None
            text = f"{spelled[0]}({code(positional[0].value)})" + (".mH" if transpose else "")
            return self._safe("torch.linalg.cholesky", call, text, spelled)
        if kind == "range":
            return self._range(use, call, positional, keywords)
        return None

    def _range(
        self, use: Use, call: cst.Call, positional: list[cst.Arg], keywords: list[cst.Arg]
    ) -> PendingFix | None:
        if len(positional) not in (2, 3) or len(positional) + len(keywords) != len(call.args):
            return None
        spelled = self.spell(use.node, "torch.arange")
        if spelled is None:
            return None
        arange = spelled[0]
        code = self.context.code_for
        values = [calls.signed_int(arg.value) for arg in positional]
        dtype = calls.keyword(call, "dtype")
        extra = [self._arg_code(arg) for arg in keywords]
        dtype_none = (
            dtype is not None
            and isinstance(dtype.value, cst.Name)
            and (dtype.value.value == "None")
        )
        if all(v is not None for v in values) and not dtype_none:
            start, end, step = values[0], values[1], values[2] if len(values) == 3 else 1
            if step:
                end += 1 if step > 0 else -1  # type: ignore[operator]
                # Float bounds keep torch.range's default floating dtype.
                bounds = [f"{start}.0", f"{end}.0"] if dtype is None else [str(start), str(end)]
                texts = [*bounds, *([str(step)] if len(values) == 3 else []), *extra]
                return self._safe("torch.arange", call, f"{arange}({', '.join(texts)})", spelled)
        start, end = code(positional[0].value), code(positional[1].value)
        step = code(positional[2].value) if len(positional) == 3 else None
        bound = f"{end} + {step or 1}"
        texts = [start, bound, *([step] if step else []), *extra]
        return self.fix(
            Applicability.DISPLAY,
            "Use `torch.arange(start, end + step, step)` (check the dtype: `torch.range` "
            "returns the default float dtype)",
            Replace(call, f"{arange}({', '.join(texts)})"),
        )

    def _arg_code(self, arg: cst.Arg) -> str:
        """An argument's source without its trailing comma."""
        return self.context.code_for(
            arg.with_changes(
                comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace("")
            )
        )

    def _safe(
        self,
        target: str,
        call: cst.Call,
        new: cst.CSTNode | str,
        spelled: tuple[str, tuple[str, ...]],
    ) -> PendingFix:
        return self.fix(
            Applicability.SAFE, f"Use `{target}`", Replace(call, new), preamble=spelled[1]
        )
