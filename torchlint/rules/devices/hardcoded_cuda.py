"""TL201 hardcoded-cuda."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.portability import breaks_cpu_path
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

# The examples below that have no device selection are reported only in strict mode.
STRICT = {"portability": "strict"}
# Loss keywords that take a tensor: a loss built with one of them has a buffer to move.
_TENSOR_KEYWORDS = frozenset({"weight", "pos_weight"})


def _holds_no_tensors(scope, receiver: cst.BaseExpression) -> bool:
    """``nn.CrossEntropyLoss()`` / ``nn.MSELoss(reduction="sum")``: a torch loss built
    without a weight has no parameters or buffers, so ``.cuda()`` on it moves nothing and
    cannot fail. A positional argument (the weight of ``CrossEntropyLoss``) or
    ``**kwargs`` may be a tensor: then it is a move like any other."""
    if not isinstance(receiver, cst.Call):
        return False
    qualified = scope.qualified_name(receiver.func)
    if qualified is None or not qualified.startswith("torch.nn.") or not qualified.endswith("Loss"):
        return False
    return all(
        arg.keyword is not None and arg.keyword.value not in _TENSOR_KEYWORDS
        for arg in receiver.args
    )


class HardcodedCuda(Rule):
    """
    ## What it does
    Reports a `.cuda()` method call that is not inside a branch guarded by
    `torch.cuda.is_available()`.

    ## Why is this bad?
    `.cuda()` raises on every machine without an NVIDIA GPU: laptops, CPU-only CI runners,
    Apple silicon. Code that picks its device once (and moves tensors and models with
    `.to(device)`) runs everywhere, and the choice can be overridden in one place.

    Calls guarded by `if torch.cuda.is_available():` (also `and` combinations, the `else`
    of `if not ...:`, a ternary, an earlier `if not torch.cuda.is_available(): return`,
    `assert torch.cuda.is_available()`, or a `skipIf`-style decorator) are not reported;
    neither are calls under a flag assigned from such a test (`use_cuda = ... and
    torch.cuda.is_available()`, `ok = True if torch.cuda.is_available() else False`), a
    flag named like `use_cuda` / `args.cuda` / `use_gpu`, the `else` of a CPU flag (`if
    not args.cpu:`, `use_cpu`, `cpu_only`: on round 2026-12-08d nine reports were under
    `if (not args.cpu):`), a comparison like
    `device.type == "cuda"`, a GPU index the user gave (`if args.gpu is not None:`,
    `if gpu_id >= 0:`: a CUDA ordinal, set only when the run uses that GPU; `if args.cuda >
    0:`, `if num_gpus == 1:`: a CUDA flag or a GPU count that says one is in use), or a
    half-precision branch (`if dtype == torch.float16:`, written for a GPU). `.cuda()` on
    a torch loss built without a weight (`nn.CrossEntropyLoss().cuda()`) is not reported
    either: such a module holds no tensors, so the call moves nothing and cannot fail. Code that is CUDA-only anyway is left alone
    too: inside a function or class whose name mentions CUDA/GPU (`def cuda(self)`,
    `def to_gpu(x)`), inside `with torch.cuda.device(...)`, or after
    `torch.cuda.set_device(...)`, `torch.cuda.synchronize()` or
    `dist.init_process_group("nccl")` in the same block, or in a function that calls
    such a function unconditionally (a GPU benchmark that ends in `torch.cuda.synchronize()`,
    a helper that returns `DistributedDataParallel(model, device_ids=[rank])`, which
    raises for a module that is not on one GPU).
    The skip decorators include `pytest.mark.skipif(torch.cuda.device_count() < 1, ...)`,
    keywords that ask for a GPU (`@RunIf(min_cuda_gpus=1)`), any decorator whose name says
    CUDA/GPU (`@requires_gpu`), decorators of the same file whose body skips or returns
    without CUDA, a module's or class's `pytestmark`, and the `marks=` of `pytest.param`.

    Opt-in (`extend-select = ["TL201"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 12 of 15 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were CUDA-only
    code whose guard lives in a caller or a test setting (a `DataParallel` test helper, a GPTQ
    runner written for CUDA). On the next two rounds, fetched after that figure, it was right
    0 of 13 times (2026-12-07e, all in fairscale) and, after the narrowing below, 0 of 16
    (2026-12-07f: `.cuda()` under `if args.cuda > 0:` and `if params.num_gpus == 1:`, guards
    it did not read then and reads now).

    On fairscale (held out, no rule tuned on it; strict labels) it was right 0 of 13 times, and
    it no longer reports three families of them. A `.cuda()` that is one arm of a ternary
    whose other arm puts the value on the CPU (`cp.cpu().pin_memory() if cpu_comm else
    cp.cuda()`), whatever the test: that is a device choice, not a hard-coded device. A
    `.cuda()` in a class whose `__init__` refuses to build an object without CUDA (`if not
    torch.cuda.is_available(): raise ...` or `assert torch.cuda.is_available()` among the
    statements of its body, not necessarily first): every method runs on a CUDA-only
    object (an `__init__` that merely returns early still builds one, and stays
    reported). And evidence of a CPU path no longer comes from a device that holds tensors
    rather than computes with them: a parameter or name `offload_device`,
    `storage_device`, `host_device`, `pin_memory_device` (a CUDA model parks its weights
    on the CPU; a `device` or `compute_device` parameter still counts). A ternary that
    picks the CPU or CUDA on a flag (`comm_device = torch.device("cpu") if cpu_comm else
    torch.device("cuda")`, whatever sets `cpu_comm`: a backend test, an option) makes that
    flag a guard like `use_cuda`: a `.cuda()` under `if not cpu_comm:` runs only where the
    code picked CUDA and is not reported. The ternary still counts as evidence for a
    `.cuda()` elsewhere (with Gloo a program may run on the CPU throughout).

    On all 114 tuning projects (labels of every round) it still made 9 reports labelled
    false, all in code written for CUDA on purpose, and it no longer reports five families
    of them. (1) In a file that names the NCCL backend and no other, a `torch.device("cuda")
    if torch.cuda.is_available() else torch.device("cpu")` is no evidence, as the bare
    availability check is not: the program cannot run without CUDA (a GPU benchmark whose
    `torch.cuda.set_device(rank)` lives in its caller). (2) `if torch.cuda.is_available():`
    around CUDA's own housekeeping only (`torch.cuda.synchronize()`, `empty_cache()`,
    `manual_seed_all()`, streams, memory statistics, `set_device()`), and
    `torch.cuda.device_count() if torch.cuda.is_available() else 0`, keep a call from failing
    or count GPUs; they place nothing and choose no device (FSDP's `state_dict`, whose
    grad-norm `.cuda()` is deliberate); so does an `if`/`else` on it whose branches only
    print (a log line with and without GPU memory). (3) Inside a function or a class, a device variable set
    to the CPU counts as a choice only in a branch (`if`/`else`, `try`/`except`, `match`;
    not the script body under `if __name__ == "__main__":`): `self._device =
    torch.device("cpu")` set once is where inputs are built (a GPTQ runner, an offload
    benchmark), not a CPU path. At a script's or notebook's top level it is the user's own
    setting, and a `.cuda()` beside it fails on the machine it names. (4) The CUDA
    branch of an `if`/`elif`/`else` whose other branch assigns the same name a CPU, MPS or
    XPU device is the choice itself, the statement form of the ternary above. (5) A private
    module-level function (`_wrap_model_in_dataparallel`) that the file calls, and calls
    only under a CUDA guard (`if gpu_setting == "cuda_data_parallel":`) or from code that
    is CUDA-only itself, is CUDA-only code whose guard lives in its callers; a use of its
    name other than a call keeps it reported (another file may call it). Given up: a
    `.cuda(gpu_id)` in a multi-GPU mode of a library that otherwise picks `"cpu"` for a
    negative GPU index (nothing in the file says the mode needs GPUs), and one line of
    PyTorch-GAN's ClusterGAN labelled false only because an earlier line of the same
    function fails without CUDA too (its neighbours are labelled true). It shares TL202's
    later narrowings of the evidence: CUDA's RNG state kept under an availability check,
    an autocast device type (`device_type = ... else "cpu"`) and a package module's
    `if __name__ == "__main__":` usage example that selects no device of its own are no
    evidence of a CPU path.

    ## Example
    ```python
    model = Net().cuda()
    for x, y in loader:
        x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
    ```

    ## Use instead
    ```python
    from torchlint.runtime import best_device

    device = best_device()
    model = Net().to(device)
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    ```

    Reported only in code that also runs without CUDA: a file that selects its device
    (`torch.cuda.is_available()` other than to stop without CUDA, to guard CUDA
    housekeeping or to count GPUs, `torch.device("cuda" if ... else "cpu")`, a `--device`
    / `--cpu` / `--no-cuda` option, a `device="cpu"` parameter, a device set to the CPU in
    a branch, MPS, XPU or `torch.accelerator`, `best_device()`). There an unguarded
    `.cuda()` breaks a path the code supports, and the message names the evidence (`this
    file selects a device at line 12`). Code with no such path is written for a GPU on
    purpose (weight-conversion and inference scripts for models that need one, GPU
    benchmarks, fp16 paths, NCCL-only helpers, TensorRT runners: measured on real projects,
    most hard-coded CUDA is of that kind) and is not reported. A project that wants every
    file to run anywhere sets `portability = "strict"` in `[tool.torchlint]`: then every
    unguarded use is reported.

    Nor, outside strict mode, code that never runs or that cannot run without CUDA anyway
    (on the 194 tuning projects these were 5 of its 9 reports labelled false, and none of
    those labelled true):

    - **Dead code.** A module-level function or class of a *script* that nothing names: not
      its own file outside the definition (a call, `__all__`, a comment), no other file of
      the project (an import, a call, a string for `getattr`, a YAML/JSON/TOML/INI config,
      a shell script), no decorator, and no lookup by a computed name in its module
      (`getattr(models, args.arch)`, `models.__dict__[...]`, a star import beside
      `eval`/`globals()`). A *script* is any file that is not a *library module*: a
      module of a package (an `__init__.py` beside it) of an installable project (a
      `setup.py`, `setup.cfg` or `pyproject.toml` at or above it). A library module's
      top-level names are API its users may call, so they stay reported. Without a
      project index (standard input, a file outside any project) only the own file is
      read, and only a file run as a program (an `if __name__ == "__main__":` block, no
      `__init__.py` beside it) counts as a script. Never dead: `hubconf.py`,
      `conftest.py`, `setup.py`, `__main__.py`, dunder names, `main`, and files that use
      `fire.Fire`, `globals()`, `eval`, `exec` or a star import. Also dead: a function
      whose body, in a top-level statement at or before the one with the `.cuda()`, reads
      a name that nothing binds (no import, definition, assignment, builtin or `global`):
      every call raises `NameError` first (a sampler that uses a `SuperPoint` it never
      imports).
    - **CUDA-only in practice.** A device choice is no evidence when it sits on a path that
      fails without CUDA anyway: in a block (a function body, a branch, the script's top
      level) that, unconditionally, calls `torch.cuda.set_device(...)`,
      `torch.cuda.synchronize()`, `torch.cuda.current_stream()` (any call of
      `devices.CUDA_ONLY_CALLS`), `dist.init_process_group("nccl")`,
      `DistributedDataParallel(m, device_ids=[rank])` or `gather(outputs, 0)` (gathers on
      GPU 0), sizes a batch as `torch.cuda.device_count()` or `n *
      torch.cuda.device_count()` (zero without a GPU; `n * max(1,
      torch.cuda.device_count())` is not), or asserts or raises unless
      `torch.cuda.is_available()`; or in a class whose `__init__` raises without CUDA
      (jukebox: `device = torch.device("cuda", rank) if use_cuda else
      torch.device("cpu")` followed by `torch.cuda.set_device(rank)`). The same
      statements at the top level of a function's body make every `.cuda()` in it
      CUDA-only.
      Still reported, and the silencing evidence is exactly the list above: a
      `set_device` under `if torch.cuda.is_available():` is guarded and silences
      nothing, and a `--no-cuda` / `--cpu` script or `device = "cuda" if
      torch.cuda.is_available() else "cpu"` whose training loop calls `images.cuda()`
      is reported as before.

    On the 194 tuning projects (every round's labels) that took it from 29 reports (17 of
    26 labelled ones worth a change) to 24 (17 of 21), and TL202 from 20 (4 of 13) to 18
    (4 of 11); no report labelled true was lost. Still reported and labelled false: one
    line of ClusterGAN ("Given up" above), a demo whose CUDA-only evidence lives in other files
    (GazeSAM: a timer that synchronises), and ogb's multi-GPU mode.

    Precision. In round 2026-12 it was right 5 of 11
    times on the 11 projects no rule was tuned on (strict labels per LABELLING.md) and was
    made opt-in. Its false reports came in four families, and it no longer reports them:
    CUDA-only distributed launchers (moco, moco-v3, MAE, DeiT: a file that names the NCCL
    backend and no other, `init_process_group("nccl")` or `--dist-backend nccl`, calls
    `torch.cuda.is_available()` to decide whether to spawn or to log memory, not to pick a
    device, so that call is no evidence there); `.cuda(args.gpu)` under `if args.gpu is not
    None:` (the user named a GPU); a loss module without a weight moved to CUDA (a no-op);
    and TensorRT runners that import `tensorrt` lazily (`optional_import("tensorrt")`) or
    fp16 branches. Evidence that still counts in an NCCL launcher: a `"cpu"` alternative, a
    `--device` / `--cpu` option, MPS, XPU, `torch.accelerator`, `best_device()`. A
    launcher with a CPU fallback (`"nccl" if torch.cuda.is_available() else "gloo"`) is
    not NCCL-only. What stays reported is the shape the labels call worth a change: a
    script or pipeline that picks its device (`cuda = True if torch.cuda.is_available()
    else False`, `torch.device(... if ... else "cpu")`, a `--device` option) and then
    hard-codes `.cuda()` elsewhere (PyTorch-GAN's ClusterGAN, diffusers community
    pipelines). On the 22 tuning projects it now reports 8 uses (16 before): 5 of the 6
    labelled ones are worth a change (the sixth only because a line before it fails
    without CUDA too), and the 2 unlabelled ones (a diffusers community pipeline) read so.

    ## Fix safety
    Unsafe: on a machine without CUDA the code now runs on another device (MPS or the CPU)
    instead of failing. `non_blocking=` and other keywords are kept. `.cuda(i)` with an
    explicit device index is reported without a fix. So that a model and its batches stay
    on one device, and a script run with `--device cpu` still runs on the CPU, the fix uses the device the code already chose (`torchlint/analysis/scope_device.py`),
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
    narrowings above, it reported nothing; TL202, its sibling, was right 0 of 14 times (a
    CUDA-only NCCL library, and CUDA defaults of device parameters every caller passes).
    Those narrowings were made after that round was fetched and partly with its labels in
    view: it no longer measures them, the next round will.

    ## References
    - https://pytorch.org/docs/stable/notes/cuda.html#best-practices
    - https://pytorch.org/docs/stable/generated/torch.Tensor.cuda.html
    """

    code = "TL201"
    default = False
    name = "hardcoded-cuda"
    applies_to_tests = False
    summary = "`.cuda()` fails on machines without CUDA; move to a selected device with `.to(...)`"
    fix_applicability = Applicability.UNSAFE
    requires = ("cuda",)
    examples = (
        Invalid(
            """
            import torch
            model = Net().cuda()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            model = Net().to(device)
            """,
            settings=STRICT,
        ),
        Invalid(
            """
            def step(x, y):
                return x.cuda(non_blocking=True), y.cuda()
            """,
            fixed="""
            from torchlint.runtime import best_device
            def step(x, y):
                device = best_device()
                return x.to(device, non_blocking=True), y.to(device)
            """,
            count=2,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            x = torch.ones(3)
            x = x.cuda()
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            x = torch.ones(3)
            x = x.to(device)
            """,
            settings={**STRICT, "runtime-helpers": False},
        ),
        Invalid(
            """
            import numpy as np
            x = batch.cuda()
            """,
            fixed="""
            import numpy as np
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            x = batch.to(device)
            """,
            settings={**STRICT, "runtime-helpers": False},
        ),
        Invalid(
            """
            x = batch.cuda(1)
            """,
            fixed=None,
            settings=STRICT,
        ),
        Invalid(
            """
            def run(device=None):
                return batch.cuda()
            """,
            fixed=None,
            settings={**STRICT, "runtime-helpers": False},
        ),
        Invalid(
            """
            def train(model, loader, device):
                for x, y in loader:
                    loss = model(x.cuda(non_blocking=True), y.cuda())
            """,
            fixed="""
            def train(model, loader, device):
                for x, y in loader:
                    loss = model(x.to(device, non_blocking=True), y.to(device))
            """,
            count=2,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            from torchlint.runtime import best_device
            dev = best_device()
            model = Net().cuda()
            def step(batch):
                return model(batch.cuda())
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            dev = best_device()
            model = Net().to(dev)
            def step(batch):
                return model(batch.to(dev))
            """,
            count=2,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            if not torch.cuda.is_available():
                print("no GPU, continuing anyway")
            x = batch.cuda()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            if not torch.cuda.is_available():
                print("no GPU, continuing anyway")
            x = batch.to(device)
            """,
            settings=STRICT,
        ),
        Valid(
            """
            import torch
            if torch.cuda.is_available():
                model = model.cuda()
            """
        ),
        Valid(
            """
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--cpu", action="store_true")
            args = parser.parse_args()
            model = torch.nn.Linear(2, 2)
            if (not args.cpu):
                model = model.cuda()
            """
        ),
        Invalid(
            """
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--cpu", action="store_true")
            args = parser.parse_args()
            model = torch.nn.Linear(2, 2)
            if args.cpu_count > 1:
                model = model.cuda()
            """,
            fixed="""
            import argparse
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            parser = argparse.ArgumentParser()
            parser.add_argument("--cpu", action="store_true")
            args = parser.parse_args()
            model = torch.nn.Linear(2, 2)
            if args.cpu_count > 1:
                model = model.to(device)
            """,
        ),
        Valid(
            """
            import torch as th
            x = batch.cuda() if th.cuda.is_available() else batch
            """
        ),
        Valid(
            """
            import torch
            def main(args):
                if not torch.cuda.is_available():
                    return
                model.cuda()
            """
        ),
        Valid(
            """
            import torch
            if not torch.cuda.is_available() or args.cpu:
                model = model.cpu()
            else:
                model = model.cuda()
            """
        ),
        Valid(
            """
            import torch
            use_cuda = not args.no_cuda and torch.cuda.is_available()
            if use_cuda and args.fp16:
                model.cuda()
            """
        ),
        Valid(
            """
            import torch, unittest
            class T(unittest.TestCase):
                @unittest.skipIf(not torch.cuda.is_available(), "needs CUDA")
                def test_gpu(self):
                    self.assertTrue(torch.ones(1).cuda().is_cuda)
            """
        ),
        Valid(
            """
            import torch
            class Batch:
                def cuda(self, device=None):
                    return Batch(self.x.cuda(device))
            def train(rank):
                torch.cuda.set_device(rank)
                model.cuda()
            """
        ),
        Valid(
            """
            import pytest, torch
            requires_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU")
            def gpu_only(test):
                def run(*args):
                    if not torch.cuda.is_available():
                        pytest.skip("needs CUDA")
                    return test(*args)
                return run
            @requires_gpu
            def test_a():
                x.cuda()
            @gpu_only
            def test_b():
                x.cuda()
            @RunIf(min_cuda_gpus=1)
            def test_c():
                x.cuda()
            @pytest.mark.skipif(torch.cuda.device_count() < 1, reason="GPU")
            def test_d():
                x.cuda()
            """
        ),
        Valid(
            """
            import pytest, torch
            pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU")
            def test_e():
                x.cuda()
            """
        ),
        Valid(
            """
            import torch
            def benchmark(model, steps):
                images = torch.randn(64, 3, 224, 224).cuda()
                for _ in range(steps):
                    model(images)
                torch.cuda.synchronize()
            """
        ),
        Valid(
            """
            def move(x, **kwargs):
                return x.cuda(**kwargs)
            """
        ),
        Invalid(
            """
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--device", default="cuda")
            args = parser.parse_args()
            model = Net().to(args.device)
            for x, y in loader:
                loss = model(x.cuda())
            """,
            fixed="""
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--device", default="cuda")
            args = parser.parse_args()
            model = Net().to(args.device)
            for x, y in loader:
                loss = model(x.to(args.device))
            """,
        ),
        Invalid(
            """
            import torch
            def build(device="cpu"):
                return Net().to(device)
            def warm_up(model):
                return model(torch.ones(1).cuda())
            """,
            fixed="""
            import torch
            def build(device="cpu"):
                return Net().to(device)
            def warm_up(model):
                device = next(model.parameters()).device
                return model(torch.ones(1).to(device))
            """,
        ),
        Valid(
            """
            import torch
            # written for a GPU: nothing in this file selects another device
            model = Net().cuda().half()
            images = torch.randn(64, 3, 224, 224).cuda()
            """
        ),
        Valid(
            """
            import torch
            if not torch.cuda.is_available():
                raise SystemExit("this benchmark needs a GPU")
            assert torch.cuda.is_available()
            model = Net().cuda()
            """
        ),
        Invalid(
            """
            import torch
            cuda = True if torch.cuda.is_available() else False
            if cuda:
                generator.cuda()
            def sample_z(n):
                return torch.randn(n, 10).cuda()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            cuda = True if torch.cuda.is_available() else False
            if cuda:
                generator.cuda()
            def sample_z(n):
                device = best_device()
                return torch.randn(n, 10).to(device)
            """,
        ),
        Valid(
            """
            import torch
            ok = True if torch.cuda.is_available() else False
            if ok:
                model.cuda()
            """
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            model = Net().cuda()
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            from torchlint.runtime import best_device
            device = best_device()
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            model = Net().to(device)
            """,
        ),
        Valid(
            """
            import argparse
            import torch
            import torch.distributed as dist
            parser = argparse.ArgumentParser()
            parser.add_argument("--gpu", default=None, type=int)
            parser.add_argument("--dist-backend", default="nccl")
            def main_worker(gpu, args):
                if torch.cuda.is_available():
                    torch.cuda.manual_seed_all(args.seed)
                dist.init_process_group(backend=args.dist_backend)
                model = Net().cuda()
            """
        ),
        Valid(
            """
            import torch
            from torch import nn as tnn
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            criterion = tnn.CrossEntropyLoss(label_smoothing=0.1).cuda(args.gpu)
            for images, target in loader:
                if args.gpu is not None:
                    images = images.cuda(args.gpu, non_blocking=True)
                if args.gpu_id >= 0:
                    target = target.cuda(args.gpu_id)
                if args.cuda > 0:
                    images = images.cuda()
                if params.num_gpus == 1:
                    target = target.cuda()
            to_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            cuda = lambda arr, gpu: arr.cuda(gpu)
            """
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            if args.cuda == 0:
                images = images.cuda()
            if args.gpu == 0:
                target = target.cuda()
            move = lambda arr: arr.cuda()
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            if args.cuda == 0:
                images = images.to(device)
            if args.gpu == 0:
                target = target.to(device)
            move = lambda arr: arr.to(device)
            """,
            count=3,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            criterion = nn.CrossEntropyLoss(weight=class_weights).cuda()
            balanced = nn.BCEWithLogitsLoss(**loss_args).cuda()
            if args.device is not None:
                images = images.cuda()
            """,
            fixed="""
            import torch
            from torch import nn
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            criterion = nn.CrossEntropyLoss(weight=class_weights).to(device)
            balanced = nn.BCEWithLogitsLoss(**loss_args).to(device)
            if args.device is not None:
                images = images.to(device)
            """,
            count=3,
        ),
        Valid(
            """
            import torch
            def verify(net, dtype, device="cpu"):
                x = torch.rand(1, 3, 8, 8, dtype=dtype, device=device)
                if dtype == torch.float16:
                    # fp16 runs on a GPU only
                    return net.cuda()(x.cuda())
                return net(x)
            """
        ),
        Valid(
            """
            import torch
            from monai.utils.module import optional_import
            trt, trt_imported = optional_import("tensorrt")
            def make_tensor(d):
                return torch.tensor(d).cuda()
            if trt_imported and torch.cuda.is_available():
                engine = build()
            """
        ),
        Valid(
            """
            import torch
            def fp16_step(model, x):
                # `"cpu"` only as where results go back to: not a device choice
                return model(x.cuda().half()).to("cpu")
            """
        ),
        Valid(
            """
            import torch
            # one arm of a choice between the CPU and CUDA, whatever the test
            def flatten(cp, cpu_comm):
                return cp.cpu().pin_memory() if cpu_comm else cp.cuda()
            def place(x, on_cpu):
                return x.to("cpu") if on_cpu else x.cuda(non_blocking=True)
            """,
            settings=STRICT,
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def stage(x, fast):
                return x.cuda() if fast else x
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def stage(x, fast):
                return x.to(device) if fast else x
            """,
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            class Offload(torch.nn.Module):
                def __init__(self, model):
                    super().__init__()
                    if model is None:
                        raise TypeError("model is None")
                    if not torch.cuda.is_available():
                        raise TypeError("CUDA must be available")
                    self.model = model
                def forward(self, x):
                    return self.model(x.cuda())
            class Streams:
                def __init__(self):
                    assert torch.cuda.is_available(), "needs CUDA"
                def run(self, x):
                    return x.cuda()
            """
        ),
        Valid(
            """
            import torch
            # where weights are parked, not where the model computes
            class Offload:
                def __init__(self, model, offload_device=torch.device("cpu")):
                    self.model = model.to(offload_device)
            def park(x, storage_device="cpu", pin_memory_device="cpu", host_device="cpu"):
                return x.to(storage_device)
            def forward(model, x):
                return model(x.cuda())
            """
        ),
        Invalid(
            """
            import torch
            class Loader:
                def __init__(self):
                    if not torch.cuda.is_available():
                        return
                def load(self, x):
                    return x.cuda()
            def run(model, compute_device=torch.device("cpu")):
                return model(torch.ones(1).cuda())
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            class Loader:
                def __init__(self):
                    if not torch.cuda.is_available():
                        return
                def load(self, x):
                    device = best_device()
                    return x.to(device)
            def run(model, compute_device=torch.device("cpu")):
                device = next(model.parameters()).device
                return model(torch.ones(1).to(device))
            """,
            count=2,
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            # the CUDA side of a choice made once: `.cuda()` runs only where CUDA was picked
            cpu_comm = dist.get_backend() == "gloo"
            comm_device = torch.device("cpu") if cpu_comm else torch.device("cuda")
            def flatten(buf):
                if not cpu_comm:
                    return buf.cuda()
                return buf
            class Reducer:
                def __init__(self, on_cpu):
                    self.on_cpu = on_cpu
                    self.device = "cuda" if not self.on_cpu else "cpu"
                def pack(self, x):
                    return x.cuda(non_blocking=True) if not self.on_cpu else x
            """
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            cpu_comm = dist.get_backend() == "gloo"
            comm_device = torch.device("cpu") if cpu_comm else torch.device("cuda")
            def flatten(buf):
                if cpu_comm:
                    buf = buf.cuda()
                return buf.cuda()
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            cpu_comm = dist.get_backend() == "gloo"
            comm_device = torch.device("cpu") if cpu_comm else torch.device("cuda")
            def flatten(buf):
                if cpu_comm:
                    buf = buf.to(comm_device)
                return buf.to(comm_device)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            device = torch.device("cpu") if args.cpu else torch.device("cuda")
            def flatten(buf):
                return buf.cuda()
            """,
            fixed="""
            import torch
            device = torch.device("cpu") if args.cpu else torch.device("cuda")
            def flatten(buf):
                return buf.to(device)
            """,
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            # an NCCL-only program: its availability ternary is boilerplate, not a CPU path
            def setup(rank):
                dist.init_process_group("nccl", rank=rank)
            def train(model, loader):
                device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
                for x in loader:
                    model(x.cuda())
            """
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def setup(rank):
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", rank=rank)
            def train(model, loader):
                for x in loader:
                    model(x.cuda())
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            def setup(rank):
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", rank=rank)
            def train(model, loader):
                device = next(model.parameters()).device
                for x in loader:
                    model(x.to(device))
            """,
        ),
        Valid(
            """
            import torch
            # CUDA housekeeping kept from failing without CUDA, and a GPU count: no choice
            def state_dict(module):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                if torch.cuda.is_available():
                    torch.cuda.manual_seed_all(0)
                return module.state_dict()
            world = torch.cuda.device_count() if torch.cuda.is_available() else 0
            def norm(grads):
                return grads.norm().cuda()
            """
        ),
        Invalid(
            """
            import torch
            if torch.cuda.is_available():
                torch.set_default_device("cuda")
            def norm(grads):
                return grads.norm().cuda()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            if torch.cuda.is_available():
                torch.set_default_device("cuda")
            def norm(grads):
                device = best_device()
                return grads.norm().to(device)
            """,
        ),
        Valid(
            """
            import torch
            # a device set once, unconditionally: where inputs are built, not a choice
            class Quantizer:
                def __init__(self):
                    self._device = torch.device("cpu")
                def check(self, weight):
                    return weight.cuda()
            """
        ),
        Invalid(
            """
            import torch
            # a script's (or notebook's) own top-level setting: the machine it names
            device = torch.device("cpu")
            model = Net().cuda()
            """,
            fixed="""
            import torch
            # a script's (or notebook's) own top-level setting: the machine it names
            device = torch.device("cpu")
            model = Net().to(device)
            """,
        ),
        Invalid(
            """
            import torch
            if args.cpu:
                args.device = "cpu"
            def run(w):
                return w.cuda()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            if args.cpu:
                args.device = "cpu"
            def run(w):
                device = best_device()
                return w.to(device)
            """,
        ),
        Valid(
            """
            import torch
            # the CUDA branch of an if/else whose other branch puts the same name on the CPU
            use_mps = torch.backends.mps.is_available()
            if fast:
                model = model.cuda()
            elif small:
                model = model.to("mps")
            else:
                model = model.cpu()
            """
        ),
        Invalid(
            """
            import torch
            use_mps = torch.backends.mps.is_available()
            if fast:
                model = model.cuda()
            else:
                head = head.cpu()
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            device = best_device()
            use_mps = torch.backends.mps.is_available()
            if fast:
                model = model.to(device)
            else:
                head = head.cpu()
            """,
        ),
        Valid(
            """
            import torch
            # a private helper that the file calls only where CUDA was asked for
            SETTINGS = ["", "cuda"] if torch.cuda.is_available() else [""]
            def _wrap_in_data_parallel(net):
                return torch.nn.DataParallel(net.cuda())
            def _on_gpu(net):
                return _wrap_in_data_parallel(net)
            def adjust(model, setting):
                if setting == "cuda":
                    return _on_gpu(model)
                return model
            """
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def _wrap(net):
                return net.cuda()
            def adjust(model, setting):
                if setting == "cuda":
                    return _wrap(model)
                return model
            hooks = {"wrap": _wrap}
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def _wrap(net):
                return net.to(device)
            def adjust(model, setting):
                if setting == "cuda":
                    return _wrap(model)
                return model
            hooks = {"wrap": _wrap}
            """,
        ),
        Valid(
            """
            import argparse
            import torch
            # dead code in a script: a helper nothing calls, a class nothing builds, and a
            # function that raises NameError (`SuperPoint` is bound nowhere) before its `.cuda()`
            def fliplr(img):
                inv_idx = torch.arange(img.size(3) - 1, -1, -1).long().cuda()
                return img.index_select(3, inv_idx)
            class PerceptualLoss(torch.nn.Module):
                def __init__(self):
                    super(PerceptualLoss, self).__init__()
                    self.mean = torch.tensor([0.485, 0.456, 0.406]).cuda()
            def sample(n):
                extractor = SuperPoint(n).cuda()
                return extractor.points.cuda()
            if __name__ == "__main__":
                parser = argparse.ArgumentParser()
                parser.add_argument("--device", default="cuda")
                args = parser.parse_args()
                points = sample(4)
            """
        ),
        Invalid(
            """
            import argparse
            import torch
            from points import SuperPoint
            def fliplr(img):
                inv_idx = torch.arange(img.size(3) - 1, -1, -1).long().cuda()
                return img.index_select(3, inv_idx)
            def sample(n):
                return SuperPoint(n).cuda()
            if __name__ == "__main__":
                parser = argparse.ArgumentParser()
                parser.add_argument("--device", default="cuda")
                args = parser.parse_args()
                flipped = fliplr(sample(4))
            """,
            fixed="""
            import argparse
            import torch
            from points import SuperPoint
            from torchlint.runtime import best_device
            def fliplr(img):
                device = best_device()
                inv_idx = torch.arange(img.size(3) - 1, -1, -1).long().to(device)
                return img.index_select(3, inv_idx)
            def sample(n):
                device = best_device()
                return SuperPoint(n).to(device)
            if __name__ == "__main__":
                parser = argparse.ArgumentParser()
                parser.add_argument("--device", default="cuda")
                args = parser.parse_args()
                flipped = fliplr(sample(4))
            """,
            count=2,
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import gather
            # CUDA-only in practice: each CPU choice sits on a path that fails without CUDA
            def setup(local_rank):
                use_cuda = torch.cuda.is_available()
                device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
                torch.cuda.set_device(local_rank)
                return device
            def main(args):
                device = torch.device("cpu") if args.cpu else torch.device("cuda")
                batch_size = args.per_gpu_batch * torch.cuda.device_count()
                return device, batch_size
            def evaluate(on_cpu):
                device = "cpu" if on_cpu else "cuda"
                eval_batch_size = torch.cuda.device_count()
                return device, eval_batch_size
            def collect(outputs, on_cpu):
                device = "cpu" if on_cpu else "cuda"
                return gather(outputs, 0)
            class Engine:
                def __init__(self, device="cpu"):
                    if not torch.cuda.is_available():
                        raise RuntimeError("the engine needs CUDA")
                    self.device = device
            def allreduce(x):
                return torch.tensor(x).float().cuda()
            """
        ),
        Invalid(
            """
            import torch
            from torch.nn.parallel import gather
            def setup(local_rank):
                device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
                if torch.cuda.is_available():
                    torch.cuda.set_device(local_rank)
                batch_size = 8 * max(1, torch.cuda.device_count())
                return device, batch_size
            def collect(outputs):
                return gather(outputs, -1)
            def allreduce(x):
                return torch.tensor(x).float().cuda()
            """,
            fixed="""
            import torch
            from torch.nn.parallel import gather
            from torchlint.runtime import best_device
            def setup(local_rank):
                device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
                if torch.cuda.is_available():
                    torch.cuda.set_device(local_rank)
                batch_size = 8 * max(1, torch.cuda.device_count())
                return device, batch_size
            def collect(outputs):
                return gather(outputs, -1)
            def allreduce(x):
                device = best_device()
                return torch.tensor(x).float().to(device)
            """,
        ),
    )

    def reports_dead_code(self) -> bool:
        return self.context.settings.portability == "strict"  # every use, as asked

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "cuda":
            return
        if calls.has_star_args(node):
            return
        receiver = self.qualified_name(func.value)
        if receiver is not None and receiver.startswith("torch"):
            return  # `torch.Tensor.cuda(x)`: a reference to the method, not a move
        if _holds_no_tensors(self.context.scope, func.value):
            return  # `nn.CrossEntropyLoss().cuda()`: nothing to move, nothing fails
        breaks, note = breaks_cpu_path(self.context, node)
        if not breaks:
            return  # guarded, a device choice, or written for CUDA only (dead code: `report`)
        message = None
        if note is not None:
            message = (
                f"`.cuda()` fails on machines without CUDA, and {note}: move to the "
                "selected device with `.to(...)`"
            )
        self.report(func.attr, message, fix=self._fix(node, func))

    def _fix(self, node: cst.Call, func: cst.Attribute):
        if calls.positional(node) or calls.keyword(node, "device") is not None:
            return None  # an explicit device index: the intent is one particular GPU
        device = scope_device(self.context)
        if device is None:
            return None
        text = device.text
        first = cst.Arg(
            cst.parse_expression(text),
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if node.args
            else cst.MaybeSentinel.DEFAULT,
        )
        new = node.with_changes(
            func=func.with_changes(attr=cst.Name("to")), args=[first, *node.args]
        )
        return self.fix(
            Applicability.UNSAFE,
            f"Use `.to({text})` ({device.origin})",
            Replace(node, new),
            *device.edits,
            preamble=device.preamble,
        )
