"""TL601 deprecated-amp-api."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use, as_keyword, prepend_arg

# qualified name -> (the torch.amp API that replaces it, its device type)
AMP = {
    "torch.cuda.amp.autocast": ("autocast", "cuda"),
    "torch.cuda.amp.autocast_mode.autocast": ("autocast", "cuda"),
    "torch.cpu.amp.autocast": ("autocast", "cpu"),
    "torch.cpu.amp.autocast_mode.autocast": ("autocast", "cpu"),
    "torch.cuda.amp.GradScaler": ("GradScaler", "cuda"),
    "torch.cuda.amp.grad_scaler.GradScaler": ("GradScaler", "cuda"),
    "torch.cpu.amp.GradScaler": ("GradScaler", "cpu"),
    "torch.cpu.amp.grad_scaler.GradScaler": ("GradScaler", "cpu"),
    "torch.cuda.amp.custom_fwd": ("custom_fwd", "cuda"),
    "torch.cuda.amp.autocast_mode.custom_fwd": ("custom_fwd", "cuda"),
    "torch.cuda.amp.custom_bwd": ("custom_bwd", "cuda"),
    "torch.cuda.amp.autocast_mode.custom_bwd": ("custom_bwd", "cuda"),
}
# The positional order of the old autocast; torch.amp.autocast's is (device_type, dtype, enabled).
OLD_AUTOCAST_PARAMS = ("enabled", "dtype", "cache_enabled")
# torch.amp.GradScaler("cuda") and torch.amp.custom_fwd(device_type=) appeared in torch 2.4.
FIX_VERSION = (2, 4)


def replacement(kind: str, device: str) -> str:
    if kind in ("autocast", "GradScaler"):
        return f'torch.amp.{kind}("{device}", ...)'
    return f'torch.amp.{kind}(..., device_type="{device}")'


class DeprecatedAmpApi(DeprecatedNameRule):
    """
    ## What it does
    Reports the device-specific AMP APIs `torch.cuda.amp.autocast`, `GradScaler`,
    `custom_fwd`, `custom_bwd` and `torch.cpu.amp.autocast` / `GradScaler`: in calls,
    decorators, references and imports, through any alias. A use in the fallback for an
    older torch (an `except ImportError` handler, a branch that tests the torch version) is
    kept on purpose and not reported. Only a call warns, so neither is a type annotation
    (`-> amp.GradScaler`) nor an import whose name the file never uses (on the projects of
    round 2026-12-07c, 6 of 11 false reports were these).

    ## Why is this bad?
    They are deprecated (a `FutureWarning` on every use) in favour of the device-generic
    `torch.amp` API, which takes the device type as an argument, and will be removed.

    Opt-in (`extend-select = ["TL601"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 37 of 49 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were deprecated
    AMP calls in the `if __name__ == "__main__":` developer harness of a library module,
    vendored code nothing imports, and projects that target an old torch in files torchlint
    does not read.

    ## Example
    ```python
    import torch

    scaler = torch.cuda.amp.GradScaler()
    with torch.cuda.amp.autocast(True, torch.bfloat16):
        loss = model(x)
    ```

    ## Use instead
    ```python
    import torch

    scaler = torch.amp.GradScaler("cuda")
    with torch.amp.autocast("cuda", enabled=True, dtype=torch.bfloat16):
        loss = model(x)
    ```

    ## Fix safety
    Safe: this is the rewrite torch's own deprecation message gives. Positional arguments
    of `autocast` become keywords, since `torch.amp.autocast(device_type, dtype, enabled)`
    orders them differently; `GradScaler` gets the device as its new first argument;
    `custom_fwd` / `custom_bwd` get `device_type="cuda"`. Where the code has a device in
    scope (a `device` variable or parameter, `self.device`, `args.device`, the device of a
    model the function is given: see TL201), `autocast` and `GradScaler` take its type
    instead, `torch.amp.autocast(device.type, ...)`, so that a run on the CPU uses CPU
    autocast; that fix is unsafe, since the old call did nothing (with a warning) on a
    machine without CUDA. Offered only with a
    `target-version` of 2.4 or newer and where `torch` can be referenced (an `import torch`
    is added when the name is free). An import statement is reported but never rewritten;
    bare references (not calls) are reported without a fix.

    ## References
    - https://pytorch.org/docs/stable/amp.html
    """

    code = "TL601"
    default = False
    references_warn = False
    name = "deprecated-amp-api"
    applies_to_tests = True
    summary = "`torch.cuda.amp` / `torch.cpu.amp` APIs are deprecated: use `torch.amp`"
    fix_applicability = Applicability.SAFE
    names = AMP
    examples = (
        Invalid(
            """
            import torch
            scaler = torch.cuda.amp.GradScaler(init_scale=1024)
            with torch.cuda.amp.autocast():
                loss = model(x)
            """,
            fixed="""
            import torch
            scaler = torch.amp.GradScaler("cuda", init_scale=1024)
            with torch.amp.autocast("cuda"):
                loss = model(x)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            with torch.cuda.amp.autocast(True, torch.bfloat16):
                loss = model(x)
            scaler = torch.cuda.amp.GradScaler(2.0**12, 2.0)
            """,
            fixed="""
            import torch
            with torch.amp.autocast("cuda", enabled=True, dtype=torch.bfloat16):
                loss = model(x)
            scaler = torch.amp.GradScaler("cuda", 2.0**12, 2.0)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            from torch.cuda.amp import autocast, custom_fwd, custom_bwd

            class Fn(torch.autograd.Function):
                @staticmethod
                @custom_fwd(cast_inputs=torch.float32)
                def forward(ctx, x):
                    return x

                @staticmethod
                @custom_bwd
                def backward(ctx, g):
                    return g

            with autocast(enabled=False):
                pass
            """,
            fixed="""
            import torch

            class Fn(torch.autograd.Function):
                @staticmethod
                @torch.amp.custom_fwd(cast_inputs=torch.float32, device_type="cuda")
                def forward(ctx, x):
                    return x

                @staticmethod
                @torch.amp.custom_bwd(device_type="cuda")
                def backward(ctx, g):
                    return g

            with torch.amp.autocast("cuda", enabled=False):
                pass
            """,
            count=6,
        ),
        Invalid(
            """
            import torch as th
            scaler = th.cpu.amp.GradScaler()
            with th.cpu.amp.autocast(dtype=th.bfloat16):
                pass
            """,
            fixed="""
            import torch as th
            scaler = th.amp.GradScaler("cpu")
            with th.amp.autocast("cpu", dtype=th.bfloat16):
                pass
            """,
            count=2,
        ),
        Invalid(
            """
            from torch.cuda.amp import GradScaler
            scaler = GradScaler(
                init_scale=256,
            )
            """,
            fixed="""
            import torch
            scaler = torch.amp.GradScaler(
                "cuda",
                init_scale=256,
            )
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            with torch.cuda.amp.autocast():
                pass
            """,
            fixed=None,
            settings={"target-version": "2.3"},
        ),
        Invalid(
            """
            from torch.cuda.amp import autocast
            def run(torch):
                with autocast():
                    pass
            """,
            fixed=None,
            count=2,
        ),
        Invalid(
            """
            import torch
            ctx = torch.cuda.amp.autocast if use_amp else contextlib.nullcontext
            """,
            fixed=None,
        ),
        Valid(
            """
            from typing import Optional
            from torch.cuda import amp
            from torch.cuda.amp import autocast  # imported, never used: nothing warns
            def make_scaler(enabled) -> amp.GradScaler:
                "The scaler for training under autocast."
                scaler: Optional[amp.GradScaler] = None
                return scaler
            """
        ),
        Valid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda")
            with torch.amp.autocast("cuda"), torch.autocast("cpu"):
                pass
            """
        ),
        Valid(
            """
            class autocast:
                pass
            with autocast():
                pass
            """
        ),
        Valid(
            """
            from apex.cuda.amp import autocast
            with autocast():
                pass
            """
        ),
        Valid(
            """
            import torch
            def run(torch):
                with torch.cuda.amp.autocast():
                    pass
            """
        ),
        Valid(
            """
            import torch
            train(autocast=True, amp=torch.amp)
            self.amp.autocast()
            """
        ),
        Valid(
            """
            import torch
            try:
                from torch.amp import GradScaler
            except ImportError:
                from torch.cuda.amp import GradScaler
            if torch.__version__ < "2.4":
                scaler = torch.cuda.amp.GradScaler()
            """
        ),
    )

    def message(self, qualified: str) -> str:
        kind, device = AMP[qualified]
        return f"`{qualified}` is deprecated: use `{replacement(kind, device)}`"

    def fix_use(self, use: Use) -> PendingFix | None:
        if not self.context.settings.supports(FIX_VERSION):
            return None
        kind, device = AMP[use.qualified]
        spelled = self.spell(use.node, f"torch.amp.{kind}")
        if spelled is None:
            return None
        func, preamble = spelled
        call = use.call
        if kind in ("custom_fwd", "custom_bwd"):
            if call is None:
                if use.decorator is None:
                    return None
                new: cst.CSTNode | str = f'{func}(device_type="{device}")'
                return self._fix(kind, device, Replace(use.node, new), preamble)
            if calls.keyword(call, "device_type") is not None:
                return None
            new = calls.add_keyword(
                call.with_changes(func=cst.parse_expression(func)), "device_type", f'"{device}"'
            )
            return self._fix(kind, device, Replace(call, new), preamble)
        if call is None:
            return None
        args = list(call.args)
        if kind == "autocast":
            if any(arg.star == "*" for arg in args):
                return None  # which slot would each element fill?
            positional = calls.positional(call)
            if len(positional) > len(OLD_AUTOCAST_PARAMS):
                return None
            args = [
                as_keyword(arg, OLD_AUTOCAST_PARAMS[index]) if index < len(positional) else arg
                for index, arg in enumerate(args)
            ]
        func_node = cst.parse_expression(func)
        in_scope = scope_device(self.context, select=False) if device == "cuda" else None
        if in_scope is not None:
            # The code's own device: on a machine without CUDA, autocast now runs there
            # (the old call warned and did nothing), so the fix changes behaviour.
            type_text = in_scope.type_text
            extra = ("import torch",) if type_text.startswith("torch.") else ()
            new = prepend_arg(call.with_changes(func=func_node, args=args), type_text)
            return self.fix(
                Applicability.UNSAFE,
                f"Use `torch.amp.{kind}({type_text}, ...)` ({in_scope.origin})",
                Replace(call, new),
                *in_scope.edits,
                preamble=(*preamble, *extra, *in_scope.preamble),
            )
        new = prepend_arg(call.with_changes(func=func_node, args=args), f'"{device}"')
        return self._fix(kind, device, Replace(call, new), preamble)

    def _fix(self, kind: str, device: str, edit: Replace, preamble: tuple[str, ...]):
        return self.fix(
            Applicability.SAFE, f"Use `{replacement(kind, device)}`", edit, preamble=preamble
        )
