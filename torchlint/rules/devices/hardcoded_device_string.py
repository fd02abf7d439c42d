"""TL202 hardcoded-device-string."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import (
    cuda_literal,
    device_parameter_default,
    used_as_value,
)
from torchlint.analysis.portability import breaks_cpu_path
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

# torch namespaces whose calls are about CUDA by definition: a "cuda" there is not a choice.
CUDA_NAMESPACES = ("torch.cuda.", "torch.backends.cuda.", "torch.backends.cudnn.")


# The examples below that have no device selection are reported only in strict mode.
STRICT = {"portability": "strict"}


class HardcodedDeviceString(Rule):
    """
    ## What it does
    Reports a literal `"cuda"` / `"cuda:N"` passed as the argument of a `torch.device(...)`
    call, as the device of `.to(...)`, or as the `device=` keyword of a `torch` function
    (`torch.zeros(3, device="cuda")`), outside a branch guarded by
    `torch.cuda.is_available()`.

    ## Why is this bad?
    A hard-coded `"cuda"` raises on every machine without an NVIDIA GPU (laptops, CPU-only
    CI, Apple silicon) and scatters the device choice over the code. Select the device once
    and pass it around.

    The guard is the one of TL201 (`if torch.cuda.is_available():`, a ternary such as
    `"cuda" if torch.cuda.is_available() else "cpu"`, an early return, a `skipIf`
    decorator, a function named like `to_gpu`, `with torch.cuda.device(...)`...). Calls in
    `torch.cuda.*` and `torch.backends.cuda*` are about CUDA by definition and are not
    reported; neither is `device="cuda"` passed to a function that is not torch's, nor a
    `torch.device("cuda")` used only as a value: building one needs no GPU, only placing
    something there does. It is reported where it is bound to a name, returned, a
    parameter default, the argument of `.to(...)` or a `device=` / `map_location=`
    keyword; not where it is compared (`if torch.device("cuda") in devices`), listed among
    test cases, passed positionally to another function (a parser, a mock) or asked for
    an attribute (`torch.device("cuda").type`).

    ## Example
    ```python
    import torch

    device = torch.device("cuda")
    mask = torch.ones(8, device="cuda")
    ```

    ## Use instead
    ```python
    import torch
    from torchlint.runtime import best_device

    device = torch.device(best_device())
    mask = torch.ones(8, device=device)
    ```

    Reported only in code that also runs without CUDA, as TL201: a file that selects its
    device (`torch.cuda.is_available()`, a `"cpu"` alternative, a `--device` / `--cpu`
    option, a `device="cpu"` parameter, MPS, XPU, `torch.accelerator`, `best_device()`).
    The message names that evidence. Code written for CUDA only is not reported;
    `portability = "strict"` in `[tool.torchlint]` reports every unguarded use. As TL201,
    outside strict mode it no longer reports dead code (a script's function or class
    that nothing in the project names, a function that reads an unbound name and raises
    `NameError` first: jukebox's `allgather_lists`) nor a device choice on a path that
    fails without CUDA anyway (a block that calls `torch.cuda.set_device(...)`,
    `synchronize()` or `init_process_group("nccl")` unconditionally, sizes a batch by
    `torch.cuda.device_count()`, or raises without CUDA); see TL201 for the exact
    evidence.

    Opt-in (`extend-select = ["TL202"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 1 sampled reports were worth a
    change, below the 90 % a default rule must reach: the one sampled report, like the 9 of 12 labelled false on the tuning projects, sits in code written for CUDA (NCCL recipes, GPU notebooks, capability-guarded kernels).
    It shares TL201's evidence and guards, and like TL201 no longer reports: a CUDA-only
    NCCL launcher's `torch.cuda.is_available()` as evidence (a file that names the NCCL
    backend and no other; DeiT's and MAE's `synchronize_between_processes`), code under a
    GPU index the user gave (`if args.gpu is not None:`), a half-precision branch (`if
    dtype == torch.float16:`), or a file that imports TensorRT or CUDA bindings lazily.

    On fairscale (held out; strict labels) it was right 0 of 2 times. It no longer reports a
    `"cuda"` that is one arm of a ternary whose other arm is a CPU device
    (`torch.device("cpu") if cpu_comm else torch.device("cuda")`, `x.to("cuda") if
    use_gpu else x.to("cpu")`), whatever the test: that is the device choice this rule asks
    for. It shares TL201's other narrowings: a class whose `__init__` raises without CUDA
    is CUDA-only, an `offload_device` / `storage_device` / `host_device` /
    `pin_memory_device` parameter set to the CPU is no evidence that the file runs without
    CUDA, and code under the flag of such a ternary, on its CUDA side (`if not cpu_comm:`),
    counts as guarded.

    It shares TL201's narrowings from the 114 tuning projects, and no longer reports: a
    `"cuda"` in the branch of an `if`/`else` whose other branch sets the same name to the
    CPU (`if opt.gpus[0] >= 0: opt.device = torch.device("cuda") else: opt.device =
    torch.device("cpu")`: the choice itself), nor code whose only evidence is a device set
    to the CPU once, unconditionally (where a model is built before an offload wrapper
    moves it), an availability check around CUDA housekeeping (`torch.cuda.synchronize()`,
    `reset_peak_memory_stats()`) or one that counts GPUs (`torch.cuda.device_count() if
    torch.cuda.is_available() else 0`), a `"cuda" if torch.cuda.is_available() else "cpu"`
    in an NCCL-only file, a private helper that the file calls only under a CUDA guard, or
    an availability check whose branches only print (`if torch.cuda.is_available():
    print(... max_memory_allocated() ...) else: print(...)`, the metric logger that many
    training repositories copy next to their NCCL `all_reduce` of `device="cuda"`). Nor,
    on the projects added to the tuning set later (nnU-Net, nanotron: 12 reports, all
    labelled false), the CUDA default of a parameter that takes the device (`def
    run_training(..., device: torch.device = torch.device("cuda"))`: the function runs on
    whatever its callers pass, and they pass the device they selected; a default of a
    parameter of another name, `mask=torch.ones(8, device="cuda")`, is still reported),
    code whose only evidence is CUDA's RNG state kept under an availability check
    (`torch.cuda.set_rng_state(...)` or `assert state is None` in the branches,
    `torch.cuda.get_rng_state() if torch.cuda.is_available() else None`) or an autocast
    device type (`device_type = device_type if device_type != "mps" else "cpu"`, copied
    into many rotary embeddings: the kind of the data's own device, not a choice), or a
    package module's `if __name__ == "__main__":` usage example that selects no device of
    its own (the library's selection is for its callers; a script outside a package is
    judged by the whole file, as before).

    ## Fix safety
    Unsafe: on a machine without CUDA the code now runs on another device instead of
    failing. `"cuda:N"` with an index other than 0, and `torch.device("cuda", N)`, name one
    particular GPU: they are reported without a fix. Where the literal is the one binding of
    a device (`device = torch.device("cuda")`) or a parameter default, it becomes
    `best_device()` in place. Elsewhere the fix uses the device the code already chose (`torchlint/analysis/scope_device.py`),
    in this order: a device in scope (a name bound to `torch.device(...)`, `best_device()`
    or a device selector such as `get_device(args.device)`, a parameter `device`,
    `self.device` in a class that sets it, `args.device` in a script with a `--device`
    option); in a function given a model that it does not move, the model's device, bound
    once at its top (`device = next(model.parameters()).device`); the callers' device, when
    every call of the (module-level) function in the file has one, in a script or for a
    `_private` function: the function gets a `device` parameter and each call passes its own. Only where the code has no device at
    all does it select one, once: `device = best_device()` at the top of the function that
    uses it (or once after the imports, for module-level code), never one call per tensor.
    With `runtime-helpers = false` that line is
    `device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`, in the same
    place. No fix where the name `device` is taken for something else in that function.

    On round 2026-12-07h (16 projects fetched fresh, strict labels), before the latest
    narrowings above, it was right 0 of 14 times (a CUDA-only NCCL library, and
    `device=torch.device("cuda")` defaults of parameters every caller passes). Those
    narrowings were made after that round was fetched and partly with its labels in view: it
    no longer measures them, the next round will.

    ## References
    - https://pytorch.org/docs/stable/notes/cuda.html#best-practices
    - https://pytorch.org/docs/stable/tensor_attributes.html#torch-device
    """

    code = "TL202"
    name = "hardcoded-device-string"
    default = False
    applies_to_tests = False
    summary = 'Hard-coded `"cuda"` device fails on machines without CUDA; select the device once'
    fix_applicability = Applicability.UNSAFE
    requires = ("cuda",)
    examples = (
        Invalid(
            """
            import torch
            device = torch.device("cuda")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = torch.device(best_device())
            """,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch as th
            mask = th.ones(8, dtype=th.bool, device="cuda:0")
            """,
            fixed="""
            import torch as th
            from torchlint.runtime import best_device
            device = best_device()
            mask = th.ones(8, dtype=th.bool, device=device)
            """,
            settings=STRICT,
        ),
        Invalid(
            """
            def step(model, x):
                return model(x.to("cuda", non_blocking=True)), x.to(device='cuda')
            """,
            fixed="""
            def step(model, x):
                device = next(model.parameters()).device
                return model(x.to(device, non_blocking=True)), x.to(device=device)
            """,
            count=2,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            x = torch.zeros(3).to("cuda")
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            x = torch.zeros(3).to(device)
            """,
            settings={**STRICT, "runtime-helpers": False},
        ),
        Invalid(
            """
            import torch
            second = torch.device("cuda:1")
            third = torch.device("cuda", 2)
            """,
            fixed=None,
            count=2,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            mask = torch.ones(8, device="cuda")
            def step(x):
                return x.to("cuda") * mask
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            mask = torch.ones(8, device=device)
            def step(x):
                return x.to(device) * mask
            """,
            count=2,
            settings=STRICT,
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            device = "cuda" if torch.cuda.is_available() else "cpu"
            """
        ),
        Valid(
            """
            import torch
            cases = [torch.device("cpu"), torch.device("cuda:0")]
            assert parse_device("cuda:1") == torch.device("cuda:1")
            mocked.assert_called_once_with(torch.device("cuda"))
            kind = torch.device("cuda").type
            """
        ),
        Valid(
            """
            import pytest, torch
            @pytest.mark.parametrize(
                "device",
                [
                    "cpu",
                    pytest.param(
                        torch.zeros(1, device="cuda"),
                        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU"),
                    ),
                ],
            )
            def test(device):
                pass
            """
        ),
        Valid(
            """
            import torch
            if torch.cuda.is_available():
                x = x.to("cuda")
            """
        ),
        Valid(
            """
            import torch
            with torch.autocast("cuda"):
                y = torch.cuda.memory_allocated(device="cuda")
            if torch.device("cuda") in devices:
                pass
            """
        ),
        Valid(
            """
            from mylib import Simulator
            sim = Simulator(device="cuda")
            """
        ),
        Valid(
            """
            import torch
            def device(name):
                return name
            d = device("cuda")
            """
        ),
        Valid(
            """
            import torch
            def make(**kwargs):
                return torch.zeros(3, **kwargs).to(device)
            """
        ),
        Valid(
            """
            import torch
            def test(args):
                if args.device == "cpu":
                    return
                assert torch.ones(1, device="cuda").is_cuda
            """
        ),
        Invalid(
            """
            import torch
            use_mps = torch.backends.mps.is_available()
            mask = torch.ones(8, device="cuda")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            use_mps = torch.backends.mps.is_available()
            mask = torch.ones(8, device=device)
            """,
        ),
        Valid(
            """
            import torch
            # a GPU-only conversion script: nothing here selects another device
            state = torch.load(path, map_location="cuda")
            mask = torch.ones(8, device="cuda")
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def synchronize_between_processes(count, total):
                if not dist.is_initialized():
                    return
                t = torch.tensor([count, total], device="cuda")
                dist.all_reduce(t)
            def log_memory(msg):
                if torch.cuda.is_available():
                    msg += f" {torch.cuda.max_memory_allocated()}"
                print(msg)
            def init_distributed_mode(args):
                args.dist_backend = "nccl"
                dist.init_process_group(backend=args.dist_backend)
            """
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def synchronize_between_processes(count, total):
                t = torch.tensor([count, total], device="cuda")
                dist.all_reduce(t)
            def init_distributed_mode(args):
                backend = "nccl" if torch.cuda.is_available() else "gloo"
                dist.init_process_group(backend=backend)
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            from torchlint.runtime import best_device
            def synchronize_between_processes(count, total):
                device = best_device()
                t = torch.tensor([count, total], device=device)
                dist.all_reduce(t)
            def init_distributed_mode(args):
                backend = "nccl" if torch.cuda.is_available() else "gloo"
                dist.init_process_group(backend=backend)
            """,
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            if args.gpu is not None:
                loc = torch.device("cuda:0")
                checkpoint = torch.load(args.resume, map_location=loc)
            """
        ),
        Valid(
            """
            import torch
            # one arm of a choice between the CPU and CUDA, whatever the test
            def comm_device(cpu_comm):
                return torch.device("cpu") if cpu_comm else torch.device("cuda")
            def stage(x, on_host):
                return consume(x.to("cuda") if not on_host else x.to("cpu"))
            def buffer(small):
                return torch.zeros(3, device="cpu") if small else torch.zeros(3, device="cuda")
            comm = torch.device("cpu") if cpu_comm else torch.device("cuda")
            """,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            def stage(x, fast):
                return x.to("cuda") if fast else x
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            def stage(x, fast):
                device = best_device()
                return x.to(device) if fast else x
            """,
            settings=STRICT,
        ),
        Valid(
            """
            import torch
            # where weights are parked, not where the model computes
            def park(weights, offload_device=torch.device("cpu")):
                return weights.to(offload_device)
            mask = torch.ones(8, device="cuda")
            """
        ),
        Invalid(
            """
            import torch
            def build(compute_device="cpu"):
                return Net().to(compute_device)
            mask = torch.ones(8, device="cuda")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            def build(compute_device="cpu"):
                return Net().to(compute_device)
            mask = torch.ones(8, device=device)
            """,
        ),
        Valid(
            """
            import torch
            use_mps = torch.backends.mps.is_available()
            # the CUDA branch of the choice itself: the other branch picks the CPU
            def configure(opt):
                if opt.gpus[0] >= 0:
                    opt.device = torch.device("cuda")
                else:
                    opt.device = torch.device("cpu")
            """
        ),
        Invalid(
            """
            import torch
            use_mps = torch.backends.mps.is_available()
            if fast:
                device = torch.device("cuda")
            else:
                other = torch.device("cpu")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            use_mps = torch.backends.mps.is_available()
            if fast:
                device = torch.device(best_device())
            else:
                other = torch.device("cpu")
            """,
        ),
        Valid(
            """
            import torch
            # no choice: a device set once where the model is built, CUDA housekeeping
            # kept from failing without CUDA, a GPU count
            def build_config():
                device = torch.device("cpu")
                return Net().to(device)
            def log_memory():
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
            workers = torch.cuda.device_count() if torch.cuda.is_available() else 0
            mask = torch.ones(8, device="cuda")
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            # the availability check only picks what a log line shows
            def synchronize_between_processes(count, total):
                if not dist.is_initialized():
                    return
                t = torch.tensor([count, total], device="cuda")
                dist.all_reduce(t)
            def log_every(i, msg):
                if torch.cuda.is_available():
                    print(msg.format(i, memory=torch.cuda.max_memory_allocated()))
                else:
                    print(msg.format(i))
            """
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def synchronize_between_processes(count, total):
                if not dist.is_initialized():
                    return
                t = torch.tensor([count, total], device="cuda")
                dist.all_reduce(t)
            def log_every(i, msg, model):
                if torch.cuda.is_available():
                    print(msg.format(i, memory=torch.cuda.max_memory_allocated()))
                else:
                    print(msg.format(i))
                    model.cpu()
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            from torchlint.runtime import best_device
            def synchronize_between_processes(count, total):
                device = best_device()
                if not dist.is_initialized():
                    return
                t = torch.tensor([count, total], device=device)
                dist.all_reduce(t)
            def log_every(i, msg, model):
                if torch.cuda.is_available():
                    print(msg.format(i, memory=torch.cuda.max_memory_allocated()))
                else:
                    print(msg.format(i))
                    model.cpu()
            """,
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            # the default of a parameter that takes the device: the callers pick it
            def run_training(dataset, device: torch.device = torch.device("cuda")):
                return Trainer(dataset, device=device)
            """
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def build(model, mask=torch.ones(8, device="cuda")):
                return model
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def build(model, mask=torch.ones(8, device=best_device())):
                return model
            """,
        ),
        Valid(
            """
            import torch
            # dead code in a script: `t` is bound nowhere (NameError first), and nothing
            # calls the second helper
            def gather_lengths(xs):
                return torch.tensor([len(x) for x in xs], dtype=t.long, device="cuda")
            def pad(xs):
                return torch.zeros(len(xs), device="cuda")
            if __name__ == "__main__":
                device = "cuda" if torch.cuda.is_available() else "cpu"
                lengths = gather_lengths([[1], [2, 3]])
            """
        ),
        Valid(
            """
            import torch
            # the CPU choice is followed by a call that fails without CUDA: no CPU path
            def setup(local_rank):
                device = "cuda" if torch.cuda.is_available() else "cpu"
                torch.cuda.set_device(local_rank)
                return device
            def gather_lengths(xs):
                return torch.tensor([len(x) for x in xs], device="cuda")
            """
        ),
        Invalid(
            """
            import torch
            def gather_lengths(xs):
                return torch.tensor([len(x) for x in xs], dtype=torch.long, device="cuda")
            def setup(local_rank):
                device = "cuda" if torch.cuda.is_available() else "cpu"
                if device == "cuda":
                    torch.cuda.set_device(local_rank)
                return device
            if __name__ == "__main__":
                lengths = gather_lengths([[1], [2, 3]])
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            def gather_lengths(xs):
                device = best_device()
                return torch.tensor([len(x) for x in xs], dtype=torch.long, device=device)
            def setup(local_rank):
                device = "cuda" if torch.cuda.is_available() else "cpu"
                if device == "cuda":
                    torch.cuda.set_device(local_rank)
                return device
            if __name__ == "__main__":
                lengths = gather_lengths([[1], [2, 3]])
            """,
        ),
    )

    def reports_dead_code(self) -> bool:
        return self.context.settings.portability == "strict"  # every use, as asked

    def visit_Call(self, node: cst.Call) -> None:
        literal_arg = self._literal_arg(node)
        if literal_arg is None:
            return
        if device_parameter_default(self.context):
            return  # `def run(device=torch.device("cuda"))`: the callers pick the device
        breaks, note = breaks_cpu_path(self.context, node)
        if not breaks:
            return  # guarded, a device choice, or written for CUDA only (dead code: `report`)
        message = None
        if note is not None:
            message = (
                f'Hard-coded `"cuda"` fails on machines without CUDA, and {note}: '
                "use the selected device"
            )
        literal = literal_arg.value
        self.report(literal, message, fix=self._fix(node, literal))

    def _literal_arg(self, node: cst.Call) -> cst.Arg | None:
        """The argument holding a CUDA string in one of the places this rule watches."""
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "to":
            if calls.has_star_args(node):
                return None
            positional = calls.positional(node)
            arg = calls.keyword(node, "device") or (positional[0] if positional else None)
            if arg is None or cuda_literal(arg.value) is None:
                return None
            receiver = self.qualified_name(func.value)
            return arg if receiver is None or not receiver.startswith("torch") else None
        device_kw = calls.keyword(node, "device")
        positional = node.args[0] if node.args and node.args[0].keyword is None else None
        type_kw = calls.keyword(node, "type")
        candidates = [a for a in (device_kw, positional, type_kw) if a is not None]
        if not any(cuda_literal(a.value) is not None for a in candidates):
            return None  # cheap syntactic test before resolving the callee
        qualified = self.qualified_name(func)
        if qualified is None or not qualified.startswith("torch."):
            return None
        if qualified == "torch.device":
            if used_as_value(self.context):
                return None  # compared, parsed, passed to a mock: needs no GPU
            for arg in (positional, type_kw):
                if arg is not None and not arg.star and cuda_literal(arg.value) is not None:
                    return arg
            return None
        if qualified.startswith(CUDA_NAMESPACES):
            return None
        if device_kw is not None and cuda_literal(device_kw.value) is not None:
            return device_kw
        return None

    def _fix(self, node: cst.Call, literal: cst.BaseExpression):
        if cuda_literal(literal) not in ("cuda", "cuda:0"):
            return None  # a particular GPU: replacing it would change which one
        if self.qualified_name(node.func) == "torch.device" and len(node.args) > 1:
            return None  # torch.device("cuda", index)
        device = scope_device(self.context)
        if device is None:
            return None
        return self.fix(
            Applicability.UNSAFE,
            f"Use `{device.text}` ({device.origin})",
            Replace(literal, device.text),
            *device.edits,
            preamble=device.preamble,
        )
