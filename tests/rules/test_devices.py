"""Behaviour of the TL2 device rules and TL102 beyond their documented examples."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tests.helpers import fix, lint, settings_for
from torchlint.analysis import devices
from torchlint.engine import FileContext

# The guards are read the same in every file; strict portability reports CUDA-only code too,
# so these tests need no device selection of their own.
STRICT = {"portability": "strict"}


def lines(source: str, code: str, **table) -> list[int]:
    result = lint(textwrap.dedent(source).lstrip("\n"), code, **{**STRICT, **table})
    assert not result.errors, result.errors
    return [d.start.line for d in result.diagnostics if d.code == code]


def context_for(source: str) -> FileContext:
    source = textwrap.dedent(source).lstrip("\n")
    return FileContext("example.py", source, cst.parse_module(source), settings_for("TL201"))


# --- the shared CUDA guard (TL201 and TL202) ---------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        # elif after a negative test
        """
        import torch
        if not torch.cuda.is_available():
            pass
        elif big:
            x = x.cuda()
        """,
        # `and` combination inside the test, alias import
        """
        import torch as th
        if args.gpu and th.cuda.is_available():
            x = x.cuda()
        """,
        # the `else` of an `or` of negatives
        """
        import torch
        if args.cpu or not torch.cuda.is_available():
            pass
        else:
            x = x.cuda()
        """,
        # early raise at module level, the call nested deeper
        """
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("needs a GPU")
        for x in data:
            x.cuda()
        """,
        # pytest.skip and sys.exit count as leaving the block
        """
        import pytest, torch
        def test_it():
            if not torch.cuda.is_available():
                pytest.skip("no GPU")
            torch.ones(1).cuda()
        """,
        # assert
        """
        import torch
        def f(x):
            assert torch.cuda.is_available(), "GPU only"
            return x.cuda()
        """,
        # short-circuit expression
        """
        import torch
        ok = torch.cuda.is_available() and x.cuda()
        """,
        # skipUnless / pytest.mark.skipif / skip_if_lt_x_gpu on the class or function
        """
        import unittest, torch
        @unittest.skipUnless(torch.cuda.is_available(), "GPU")
        class T(unittest.TestCase):
            def test(self):
                torch.ones(1).cuda()
        """,
        """
        import pytest, torch
        @pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU")
        def test():
            torch.ones(1).cuda()
        """,
        """
        @skip_if_lt_x_gpu(2)
        def test():
            model.cuda(1)
        """,
        # negative flag name in the `else`
        """
        if args.no_cuda:
            model.cpu()
        else:
            model.cuda()
        """,
        # device comparisons
        """
        if device.type == "cuda":
            x = x.cuda()
        if str(device) != "cpu":
            y = y.cuda()
        if "cuda" in args.device:
            z = z.cuda()
        """,
        # device_count
        """
        import torch
        if torch.cuda.device_count() > 1:
            model.cuda()
        """,
        # a flag assigned from the test, used as self attribute
        """
        import torch
        class Trainer:
            def __init__(self):
                self.on_device = torch.cuda.is_available()
            def step(self, x):
                return x.cuda() if self.on_device else x
        """,
        # CUDA-only code: a `with torch.cuda.device`, after set_device, a function named for GPUs
        """
        import torch
        with torch.cuda.device(1):
            x = x.cuda()
        def worker(rank):
            torch.cuda.set_device(rank)
            model.cuda()
        def move_to_gpu(batch):
            return batch.cuda()
        """,
        """
        import torch.distributed as dist
        def worker(rank):
            dist.init_process_group(backend="nccl")
            model.cuda(rank)
        """,
    ],
)
def test_guarded_cuda_calls_are_not_reported(source: str) -> None:
    assert lines(source, "TL201") == []


@pytest.mark.parametrize(
    "source",
    [
        """
        import torch
        if not torch.cuda.is_available():
            x = x.cuda()
        """,
        """
        import torch
        if torch.cuda.is_available() or args.force:
            x = x.cuda()
        """,
        """
        import torch
        if torch.cuda.is_available():
            pass
        else:
            x = x.cuda()
        """,
        """
        if args.no_cuda:
            x = x.cuda()
        """,
        # the guard is in another function
        """
        import torch
        def check():
            if not torch.cuda.is_available():
                return
        def run():
            x.cuda()
        """,
        # an early return inside an `if` with an `else` does not guard what follows
        """
        import torch
        def run():
            if not torch.cuda.is_available():
                return
            else:
                pass
            x.cuda()
        """,
        # the test mentions is_available of something else
        """
        import torch
        if torch.backends.mps.is_available():
            x = x.cuda()
        """,
        # skipIfCuda runs the test *without* CUDA
        """
        @skipIfCuda
        def test():
            x.cuda()
        """,
    ],
)
def test_unguarded_cuda_calls_are_reported(source: str) -> None:
    assert len(lines(source, "TL201")) == 1


def test_guard_applies_to_hardcoded_device_strings_too() -> None:
    source = """
    import torch
    def main():
        if not torch.cuda.is_available():
            return
        x = torch.zeros(3, device="cuda")
    y = torch.zeros(3, device="cuda")
    """
    assert lines(source, "TL202") == [6]


def test_cuda_guarded_helper_directly() -> None:
    context = context_for(
        """
        import torch
        if torch.cuda.is_available():
            a = 1
        b = 2
        """
    )
    module = context.module
    guarded_if = module.body[1]
    assert isinstance(guarded_if, cst.If)
    context.ancestors = [module, guarded_if]
    assert devices.cuda_guarded(context, guarded_if.body)
    context.ancestors = [module]
    assert not devices.cuda_guarded(context, module.body[2])


# --- TL201 fixes ----------------------------------------------------------------------------


def test_cuda_fix_keeps_other_keywords() -> None:
    source = "y = x.cuda(non_blocking=True, memory_format=fmt)\n"
    assert fix(source, "TL201", **STRICT).source == (
        "from torchlint.runtime import best_device\n"
        "device = best_device()\n"
        "y = x.to(device, non_blocking=True, memory_format=fmt)\n"
    )


def test_cuda_fix_is_not_offered_when_best_device_is_taken() -> None:
    source = "def best_device():\n    return 0\ny = x.cuda()\n"
    assert fix(source, "TL201", **STRICT).fixed == 0


def test_inline_device_line_is_reused_by_later_fixes() -> None:
    source = (
        "import torch\n"
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'
        "y = x.cuda()\n"
    )
    outcome = fix(source, "TL201", runtime_helpers=False, **STRICT)
    assert outcome.source == source.replace("x.cuda()", "x.to(device)")


def test_inline_fix_needs_a_free_torch_name_at_module_level() -> None:
    source = "torch = None\ny = x.cuda()\n"
    assert fix(source, "TL201", runtime_helpers=False, **STRICT).fixed == 0


def test_torch_tensor_cuda_method_reference_is_not_reported() -> None:
    assert lines("import torch\ny = torch.Tensor.cuda(x)\n", "TL201") == []


# --- TL202 -----------------------------------------------------------------------------------


def test_device_string_variants() -> None:
    source = """
    import torch
    a = torch.device(type="cuda")
    b = x.to("cuda:3")
    c = x.to("cpu")
    d = torch.device("cuda" if use_cuda else "cpu")
    e = [torch.cuda.Stream(device="cuda")]  # (a module-level Stream() would make the file CUDA-only)
    f = torch.autocast(device_type="cuda")
    g = x.to(f"cuda:{rank}")
    """
    assert lines(source, "TL202") == [2, 3]
    result = lint(textwrap.dedent(source).lstrip("\n"), "TL202")
    assert [d.fix is not None for d in result.diagnostics] == [True, False]


# --- TL203 -----------------------------------------------------------------------------------


def test_create_then_move_respects_layout_and_parentheses() -> None:
    source = "import torch\nx = (torch.zeros(\n    3,\n    4,\n)).to(device)\n"
    assert fix(source, "TL203").source == (
        "import torch\nx = (torch.zeros(\n    3,\n    4,\n    device=device,\n))\n"
    )


def test_create_then_move_skips_method_on_non_factory_and_memory_format() -> None:
    source = """
    import torch
    a = torch.relu(x).to(device)
    b = torch.zeros(3).cuda(memory_format=torch.channels_last)
    c = torch.zeros(3).to(device, memory_format=torch.channels_last)
    d = torch.zeros(3, out=buf).to(device)
    """
    assert lines(source, "TL203") == []


def test_create_then_move_with_requires_grad_is_unsafe() -> None:
    source = "import torch\nw = torch.zeros(3, requires_grad=True).to(device)\n"
    assert fix(source, "TL203", unsafe=False).fixed == 0
    assert fix(source, "TL203", unsafe=True).fixed == 1


# --- TL204 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        # rebinding in a loop body to a non-tensor
        """
        import torch
        from torch.utils.data import DataLoader
        loader = DataLoader(ds)
        for x in loader:
            x = wrap(x)
            x.to(device)
        """,
        # the loader is also a parameter somewhere else in the file
        """
        from torch.utils.data import DataLoader
        loader = DataLoader(ds)
        def f(loader):
            for x in loader:
                x.cuda()
        """,
        # torch.nn modules and compiled models move in place
        """
        import torch
        layer = torch.nn.Linear(2, 2)
        layer.to(device)
        net = torch.compile(model)
        net.cuda()
        """,
        # global names are not this scope's
        """
        import torch
        def f():
            global x
            x = torch.zeros(3)
            x.to(device)
        """,
        # a tensor of the enclosing function, moved inside a closure
        """
        import torch
        def f():
            x = torch.zeros(3)
            def g():
                x.to(device)
        """,
        # attribute and subscript receivers are unknown
        """
        import torch
        self.x = torch.zeros(3)
        self.x.to(device)
        """,
    ],
)
def test_discarded_moves_on_unknown_receivers_are_not_reported(source: str) -> None:
    assert lines(source, "TL204") == []


def test_discarded_move_in_parentheses_is_reported_without_fix() -> None:
    source = "import torch\nx = torch.ones(2)\n(x.to(device))\n"
    assert lines(source, "TL204") == [3]
    assert fix(source, "TL204").fixed == 0


# --- TL206 and TL102 -------------------------------------------------------------------------


def test_non_blocking_ignores_loaders_reassigned_elsewhere() -> None:
    source = """
    from torch.utils.data import DataLoader
    loader = DataLoader(ds, pin_memory=True)
    if small:
        loader = DataLoader(ds)
    for x in loader:
        x = x.to(device)
    """
    assert lines(source, "TL206") == []


def test_non_blocking_is_opt_in() -> None:
    from torchlint.rules.devices.non_blocking_copy import NonBlockingCopy

    assert NonBlockingCopy.default is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = batch.cuda()\n", True),
        ('x = batch.to("cuda:1")\n', True),
        ('x = batch.to(device="cuda")\n', True),
        ('import torch\nd = torch.device("cuda" if ok else "cpu")\n', True),
        ('import torch\nx = torch.zeros(3, device="cuda")\n', True),
        ("from torchlint.runtime import best_device\nd = best_device()\n", True),
        ('x = batch.to("cpu")\nx = torch.zeros(3, device="mps")\n', False),
        ('s = "cuda"\nprint(s)\n', False),
    ],
)
def test_moves_to_cuda_fact(source: str, expected: bool) -> None:
    assert devices.moves_to_cuda(context_for(source)) is expected


def test_dataloaders_fact() -> None:
    context = context_for(
        """
        from torch.utils.data import DataLoader
        train_loader = DataLoader(a, pin_memory=True)
        val_loader = DataLoader(b)
        self.loader = DataLoader(c, pin_memory=True)
        other = DataLoader(d)
        other = None
        def f(val_loader):
            pass
        """
    )
    assert set(devices.dataloaders(context)) == {"train_loader", "self.loader"}
    assert devices.pinned_loaders(context) == {"train_loader", "self.loader"}


def test_pin_memory_not_reported_without_cuda_in_the_file() -> None:
    source = "from torch.utils.data import DataLoader\nloader = DataLoader(ds)\n"
    assert lines(source, "TL102") == []
    assert lines(source + "model.cuda()\n", "TL102") == [2]


# --- guards read from decorators and marks (issue: guards the rules did not see) -------------


@pytest.mark.parametrize(
    "source",
    [
        # a same-file decorator whose body does not gate on CUDA
        """
        import torch
        def plain(fn):
            return fn
        @plain
        def test():
            x.cuda()
        """,
        # a keyword that asks for no GPU
        """
        @RunIf(min_cuda_gpus=0)
        def test():
            x.cuda()
        """,
        # device_count() == 2 being false says nothing about CUDA
        """
        import torch, pytest
        @pytest.mark.skipif(torch.cuda.device_count() == 2, reason="")
        def test():
            x.cuda()
        """,
        # marks= that do not gate on CUDA
        """
        import pytest
        cases = [pytest.param(x.cuda(), marks=pytest.mark.slow)]
        """,
        # pytestmark of another class does not guard this one
        """
        import pytest, torch
        class A:
            pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="")
        class B:
            def test(self):
                x.cuda()
        """,
    ],
)
def test_decorators_that_do_not_gate_on_cuda(source: str) -> None:
    assert len(lines(source, "TL201")) == 1


def test_class_pytestmark_and_device_count_forms_guard() -> None:
    source = """
    import pytest, torch
    class TestGpu:
        pytestmark = [pytest.mark.skipif(torch.cuda.device_count() <= 0, reason="")]
        def test(self):
            x.cuda()
    @pytest.mark.skipif(torch.cuda.device_count() < 2, reason="two GPUs")
    def test_two():
        x.cuda()
    """
    assert lines(source, "TL201") == []


def test_synchronize_in_a_nested_function_does_not_guard_the_outer_one() -> None:
    source = """
    import torch
    def outer():
        x.cuda()
        def inner():
            torch.cuda.synchronize()
    """
    assert lines(source, "TL201") == [3]


# --- fixes reuse the device in scope ---------------------------------------------------------


def test_device_bound_after_the_call_is_not_reused() -> None:
    source = (
        "import torch\n"
        "x = batch.cuda()\n"
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'
    )
    assert "x = batch.to(best_device())" in fix(source, "TL201", **STRICT).source


def test_device_name_rebound_to_something_else_is_not_reused() -> None:
    source = (
        "import torch\n"
        'device = torch.device("cuda")\n'
        "device = len(devices)\n"
        "def f(x):\n"
        "    return x.cuda()\n"
    )
    fixed = fix(source, "TL201", **STRICT).source
    assert "def f(x):\n    device = best_device()\n    return x.to(device)\n" in fixed


def test_device_from_the_command_line_is_reused() -> None:
    source = "import torch\ndevice = args.device\ndef f(x):\n    return x.cuda()\n"
    assert "    return x.to(device)\n" in fix(source, "TL201", **STRICT).source


def test_device_fix_in_a_nested_function_uses_the_enclosing_parameter() -> None:
    source = "def outer(device):\n    def inner(x):\n        return x.cuda()\n    return inner\n"
    assert "x.to(device)" in fix(source, "TL201", **STRICT).source


# --- TL202: torch.device as a value ----------------------------------------------------------


def test_torch_device_placements_are_still_reported() -> None:
    source = """
    import torch
    def pick(d=torch.device("cuda")):
        return torch.device("cuda")
    y = x.to(torch.device("cuda"))
    z = torch.load(path, map_location=torch.device("cuda"))
    w = torch.device("cuda") if fast else None
    """
    assert lines(source, "TL202") == [2, 3, 4, 5, 6]


# --- TL203 narrowing -------------------------------------------------------------------------


def test_create_then_move_in_setup_code_loops_is_reported() -> None:
    source = """
    import torch
    def main(device):
        warm = torch.zeros(1).to(device)
        for step in range(10):
            noise = torch.randn(8).to(device)
    if __name__ == "__main__":
        once = torch.zeros(1).to(device)
        batches = [torch.zeros(1).to(device) for _ in range(3)]
    """
    assert lines(source, "TL203") == [5, 8]


def test_local_device_names_need_every_binding_to_be_a_device() -> None:
    source = """
    import torch
    def f(flag):
        place = torch.device("cuda")
        if flag:
            place = torch.float16
        return torch.zeros(3).to(place)
    def g():
        where = torch.device("cpu:0")
        return torch.zeros(3).to(where)
    """
    assert lines(source, "TL203") == [9]


# --- TL204: rebinding ------------------------------------------------------------------------


def test_rebinding_must_be_the_last_one_before_the_move() -> None:
    source = """
    import torch
    def f(batch, device):
        batch = torch.as_tensor(batch)
        batch = wrap(batch)
        batch.to(device)
    def g(batch, device):
        batch, other = torch.as_tensor(batch), 1
        batch.to(device)
    def h(batch, device):
        batch = torch.as_tensor(batch); batch.to(device)
    """
    assert lines(source, "TL204") == []


# --- TL205 -----------------------------------------------------------------------------------


def test_data_parallel_reported_when_the_distributed_name_is_not_torchs() -> None:
    source = """
    import torch
    from mylib import DistributedDataParallel
    model = DistributedDataParallel(model) if ddp else torch.nn.DataParallel(model)
    """
    assert lines(source, "TL205") == [3]
    fsdp = """
    import torch
    from torch.distributed.fsdp import fully_shard
    m = fully_shard(m) if distributed else torch.nn.DataParallel(m)
    """
    assert lines(fsdp, "TL205") == []


def test_create_then_move_in_an_inner_loop_is_reported() -> None:
    source = """
    import torch
    for epoch in range(3):
        for x in loader:
            y = torch.ones(2).to(device)
    """
    assert lines(source, "TL203") == [4]


@pytest.mark.parametrize(
    "setup",
    [
        "USE_DP = False\nUSE_DP = True",  # assigned twice: not a constant
        "USE_DP = False\ndef enable():\n    global USE_DP\n    USE_DP = True",
        "USE_DP = False\nfor USE_DP in (False, True):\n    pass",
        "USE_DP = flag()",  # not a literal
    ],
)
def test_data_parallel_behind_a_name_that_is_not_a_constant_is_reported(setup: str) -> None:
    source = f"import torch.nn as nn\n{setup}\nif USE_DP:\n    model = nn.DataParallel(model)\n"
    result = lint(source, "TL205")
    assert [d.code for d in result.diagnostics] == ["TL205"]
