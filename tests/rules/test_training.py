"""TL3 (training loops): the flow analysis, realistic scripts, and cases beyond the examples."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from tests.helpers import fix, lint, settings_for
from torchlint.analysis import flow as flow_module
from torchlint.analysis.flow import MAX_DEPTH, Flow, build_flow
from torchlint.engine import FileContext, lint_source
from torchlint.names import Scope, iter_children
from torchlint.registry import all_rules
from torchlint.rules.base import Rule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "training"
TL3 = [r.code for r in all_rules() if r.code.startswith("TL3")]
CLEAN = [
    "accelerate_style.py",
    "cifar_clean.py",
    "gan_and_friends.py",
    "lightning_module.py",
    "trainer_class.py",
    "transfer_learning.py",
    "word_language_model.py",
]


def flow_for(source: str) -> Flow:
    source = textwrap.dedent(source)
    context = FileContext("example.py", source, cst.parse_module(source), settings_for("TL101"))
    return build_flow(context)


def function(flow: Flow, name: str):
    return next(f for f in flow.functions if f.name == name)


def kinds(flow: Flow, name: str, expanded: bool = True) -> list[tuple[str, str]]:
    f = function(flow, name)
    events = flow.expanded(f) if expanded else f.events
    return [(e.kind, e.name) for e in events if e.kind != "bind"]


def codes(source: str, code: str, **settings) -> list[tuple[int, str]]:
    result = lint(textwrap.dedent(source), code, **settings)
    assert not result.errors, result.errors
    return [(d.start.line, d.code) for d in result.diagnostics if d.code == code]


def lint_all_tl3(path: Path):
    settings = settings_for(None, select=["TL3"])
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    assert {r.code for r in rules} == set(TL3)
    return lint_source(f"training/{path.name}", path.read_text(), settings, rules)


# --- the analysis ----------------------------------------------------------------------------


def test_the_flow_walk_enters_every_node_type_it_handles() -> None:
    # Opaque children are passed over without a call: none of them may have a handler.
    assert not flow_module._OPAQUE & flow_module._HANDLERS.keys()
    source = """
        model = nn.Sequential()
        for x in loader:
            loss = model(x)
            loss.backward()
            opt.step()
    """
    assert kinds(flow_for(source), "<module>") == [
        ("model", "model"),
        ("backward", "loss"),
        ("step", "opt"),
    ]


# --- one walk: the index from what the engine's walk recorded ----------------------------------


def _built_during_lint(path: Path, monkeypatch, alone: bool = False) -> list[tuple]:
    """For each index the TL3 rules had built while linting ``path`` (each from what the
    engine's walk recorded): the module, the index's signature and, with ``alone``, the
    signature of the index built by a walk of its own (all read before the file is let go)."""
    built = []
    real = flow_module.build_flow

    def recording(context: FileContext) -> Flow:
        record = context.fact(flow_module.WALK_RECORD, flow_module._no_record)
        assert record is not None and record.done
        flow = real(context)
        # The functions' and classes' scopes are the walk's: their names are read once.
        for function in flow.functions[1:]:
            assert function.scope is record.scopes[id(function.node)]
        own = None
        if alone:
            fresh = FileContext(context.path, context.source, context.module, context.settings)
            own = _signature(real(fresh))
        built.append((context.module, _signature(flow), own))
        return flow

    monkeypatch.setattr(flow_module, "build_flow", recording)
    assert not lint_all_tl3(path).errors
    return built


def _event_signature(e, loops: tuple) -> tuple:
    callee = id(e.callee.node) if e.callee else 0
    fields = (e.kind, e.name, id(e.node), e.index, loops, e.grad, e.guards, e.branches, e.arg)
    return (*fields, e.closure, e.qualified, callee)


def _signature(flow: Flow) -> list:
    """Everything the rules read of the index, with nodes by identity (the same tree)."""

    def loops(found) -> tuple:
        return tuple((loop.start, loop.end, loop.targets, id(loop.node)) for loop in found)

    functions = [
        (
            f.name,
            id(f.node),
            f.start,
            f.end,
            f.grad,
            tuple(f.params),
            tuple(sorted(f.nested)),
            loops(f.loops),
            tuple((w.start, w.end, w.grad, len(w.off_items), id(w.node)) for w in f.withs),
            tuple(_event_signature(e, loops(e.loops)) for e in f.events),
        )
        for f in flow.functions
    ]
    classes = sorted(
        (name, [(c.is_module, c.is_lightning, c.owns_layers, sorted(c.methods)) for c in infos])
        for name, infos in flow.classes.items()
    )
    evidence = sorted(
        (kind, str(owner) if kind == "module" else "", name, sorted(found))
        for (kind, owner), names in flow.evidence.items()
        for name, found in names.items()
    )
    return [functions, classes, evidence, len(flow._raw_assign), len(flow._raw_annotation)]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.name)
def test_the_index_from_the_walk_is_the_index_from_a_walk_of_its_own(path, monkeypatch) -> None:
    built = _built_during_lint(path, monkeypatch, alone=True)
    assert built
    for _, from_the_walk, alone in built:
        assert from_the_walk == alone


def test_a_training_script_is_walked_once(monkeypatch) -> None:
    """The index enters only the nodes it handles and their children: below any other
    node, the engine's walk has listed the handled nodes already."""
    walked: list[cst.CSTNode] = []
    real = flow_module._Builder.walk

    def spy(self, node: cst.CSTNode, state) -> None:
        walked.append(node)
        real(self, node, state)

    monkeypatch.setattr(flow_module._Builder, "walk", spy)
    ((module, signature, _),) = _built_during_lint(FIXTURES / "cifar_clean.py", monkeypatch)
    parents: dict[int, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        for child in iter_children(node):
            parents[id(child)] = node
            stack.append(child)
    entered = (*flow_module._HANDLERS, cst.Module)
    deeper = [
        node
        for node in walked
        if not isinstance(node, entered) and not isinstance(parents[id(node)], entered)
    ]
    assert len(walked) > 100 and len(signature[0]) > 3  # functions
    assert deeper == []


def test_an_index_asked_for_during_the_walk_is_built_by_a_walk_of_its_own(monkeypatch) -> None:
    """A rule without ``after_walk`` that asks mid-walk gets the whole index all the same."""
    seen = []

    class AsksNow(Rule):
        code = "TL302"
        name = "asks-now"
        summary = "asks for the index during the walk"

        def visit_Call(self, node: cst.Call) -> None:
            seen.append(len(flow_module.flow_of(self.context).functions))

    class AsksLater(AsksNow):
        after_walk = "flow"

    source = "f()\ndef g():\n    pass\ndef h():\n    pass\n"
    settings = settings_for(None, select=["TL302"])
    assert not lint_source("train.py", source, settings, [AsksNow, AsksLater]).errors
    assert seen == [3, 3]


def test_index_methods_nested_functions_and_module_body() -> None:
    flow = flow_for(
        """
        def helper():
            def inner():
                pass
            inner()

        class Trainer:
            def step(self):
                self.evaluate()
                helper()

            def evaluate(self):
                pass

        helper()
        """
    )
    names = [f.name for f in flow.functions]
    assert names == ["<module>", "helper", "inner", "step", "evaluate"]
    step = function(flow, "step")
    calls = [e.callee.name for e in step.events if e.kind == "fcall"]
    assert calls == ["evaluate", "helper"]
    assert [e.callee.name for e in function(flow, "helper").events if e.kind == "fcall"] == [
        "inner"
    ]
    assert [c.name for c, _ in flow.callers_of(function(flow, "helper"))] == ["<module>", "step"]


def test_a_name_bound_twice_is_not_followed() -> None:
    flow = flow_for(
        """
        def evaluate(model):
            model.eval()
        evaluate = wrap(evaluate)

        def main(model):
            evaluate(model)
        """
    )
    assert kinds(flow, "main") == []


def test_helper_events_are_renamed_into_the_callers_names() -> None:
    flow = flow_for(
        """
        def validate(net, loader, *, ema_net=None):
            net.eval()
            ema_net.eval()
            local_model = build()
            local_model.eval()
            GLOBAL_MODEL.eval()

        def fit(model, loader, teacher_model):
            validate(model, loader, ema_net=teacher_model)
            validate(*args)
        """
    )
    assert kinds(flow, "fit") == [
        ("fcall", "validate"),
        ("eval", "model"),
        ("eval", "teacher_model"),
        ("eval", "*"),
        ("eval", "GLOBAL_MODEL"),
        ("fcall", "validate"),
        ("eval", "*"),
        ("eval", "*"),
        ("eval", "*"),
        ("eval", "GLOBAL_MODEL"),
    ]


def test_self_attributes_follow_self_method_calls() -> None:
    flow = flow_for(
        """
        class Trainer:
            def set_eval(self):
                self.model.eval()

            def run(self, other):
                self.set_eval()
                other.set_eval()
        """
    )
    assert kinds(flow, "run") == [("fcall", "self.set_eval"), ("eval", "self.model")]


def test_recursion_terminates_and_depth_is_bounded() -> None:
    chain = "\n".join(f"def f{i}(model):\n    f{i + 1}(model)\n" for i in range(MAX_DEPTH + 2))
    flow = flow_for(
        chain
        + f"""
def f{MAX_DEPTH + 2}(model):
    model.eval()

def ping(model):
    model.eval()
    pong(model)

def pong(model):
    ping(model)
    model.train()
"""
    )
    assert ("eval", "model") in kinds(flow, f"f{MAX_DEPTH - 1}")
    assert ("eval", "model") not in kinds(flow, "f0")  # deeper than MAX_DEPTH
    assert kinds(flow, "ping").count(("eval", "model")) >= 1
    assert ("train", "model") in kinds(flow, "ping")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model", True),
        ("self.net", True),
        ("teacher_model", True),
        ("G_net", True),
        ("network", True),
        ("net_config", False),
        ("Model", False),
        ("self", False),
        ("optimizer", False),
        ("encoder", True),  # assigned from a same-file nn.Module subclass
        ("head", True),  # nn.Sequential
        ("fc", False),  # nn.Linear: no train/eval behaviour
        ("criterion", False),  # a loss module
        ("backbone", True),  # torchvision.models.*
        ("swa", True),  # AveragedModel
        ("thing", True),  # receiver of .parameters()
        ("cfg_net", False),  # a same-file class that is not a module
        ("accelerator.unwrap_model", False),  # a function that returns a model
        ("get_model", False),
        ("traced_model", False),  # torch.jit.trace: the mode was fixed when traced
    ],
)
def test_model_like_names(name: str, expected: bool) -> None:
    flow = flow_for(
        """
        import torch
        import torchvision
        from torch import nn

        class Encoder(nn.Module):
            pass

        class Config:
            pass

        encoder = Encoder()
        head = nn.Sequential(nn.Linear(2, 2)).to("cpu")
        fc = nn.Linear(2, 2)
        criterion = nn.CrossEntropyLoss()
        backbone = torchvision.models.resnet18()
        swa = torch.optim.swa_utils.AveragedModel(backbone)
        params = thing.parameters()
        cfg_net = Config()
        traced_model = torch.jit.trace(backbone.eval(), example)
        """
    )
    assert flow.is_model(flow.module_info, name) is expected


def test_optimizer_and_scheduler_names() -> None:
    flow = flow_for(
        """
        import torch
        from torch.optim.lr_scheduler import StepLR, ReduceLROnPlateau as Plateau
        adam = torch.optim.Adam(params)
        sched = StepLR(adam, 10)
        plateau = Plateau(adam)
        """
    )
    module = flow.module_info
    assert flow.is_optimizer(module, "adam")
    assert flow.is_optimizer(module, "optimizer")
    assert flow.is_optimizer(module, "self.d_opt")
    assert not flow.is_optimizer(module, "sched")
    assert flow.scheduler(module, "sched") == "torch.optim.lr_scheduler.StepLR"
    assert flow.scheduler(module, "plateau") == "torch.optim.lr_scheduler.ReduceLROnPlateau"
    assert flow.scheduler(module, "adam") is None


@pytest.mark.parametrize(
    "loop",
    [
        "for x, y in loader:",
        "for i, (x, y) in enumerate(loader):",
        "for batch in tqdm(loader, desc='train'):",
        "while step < max_steps:",
        "for step, batch in enumerate(tqdm(loader), start=1):",
    ],
)
def test_training_step_loops(loop: str) -> None:
    flow = flow_for(
        f"""
        def fit(model, loader, optimizer):
            for epoch in range(3):
                {loop}
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
        """
    )
    fit = function(flow, "fit")
    (step,) = flow.step_loops(fit)
    assert step.parent is not None and step.parent.parent is None  # the inner loop


def test_grad_regions() -> None:
    flow = flow_for(
        """
        import torch
        from torch import inference_mode as im

        @torch.no_grad
        def a(model, x):
            return model(x)

        def b(model, x):
            with torch.set_grad_enabled(False):
                model(x)
            with im(False):
                model(x)
            with torch.enable_grad():
                model(x)
            with im():
                model(x)
        """
    )
    assert [e.grad for e in function(flow, "a").events if e.kind == "model"] == ["off"]
    assert [e.grad for e in function(flow, "b").events if e.kind == "model"] == [
        "off",
        None,
        "on",
        "off",
    ]


# --- realistic scripts -------------------------------------------------------------------------


def expected_findings(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = re.search(r"# expect: (TL\d+)", line)
        if match:
            found.append((number, match.group(1)))
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.py")))
def test_scripts_report_exactly_the_marked_lines(name: str) -> None:
    """Each script marks every line a TL3 rule must report with `# expect: TLxxx`; the
    others (the correct scripts) must stay silent, TL306 aside where marked."""
    path = FIXTURES / name
    result = lint_all_tl3(path)
    assert not result.errors
    assert [(d.start.line, d.code) for d in result.diagnostics] == expected_findings(path)
    if name in CLEAN:
        assert {code for _, code in expected_findings(path)} <= {"TL306"}


def test_the_buggy_scripts_cover_every_rule() -> None:
    found = {code for path in FIXTURES.glob("*.py") for _, code in expected_findings(path)}
    assert found == set(TL3)


def test_fixing_the_buggy_script() -> None:
    path = FIXTURES / "cifar_buggy.py"
    source = path.read_text()
    settings = settings_for(None, select=["TL3"])
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    from torchlint.fixer import fix_source

    outcome = fix_source(f"training/{path.name}", source, settings, rules, unsafe=True)
    assert not outcome.errors
    cst.parse_module(outcome.source)
    assert sorted({d.code for d in outcome.remaining}) == ["TL304", "TL307", "TL309"]
    again = fix_source(f"training/{path.name}", outcome.source, settings, rules, unsafe=True)
    assert again.source == outcome.source
    assert "with evaluating(model):" in outcome.source
    assert "best_state = copy.deepcopy(model.state_dict())" in outcome.source
    assert "for epoch in range(1, args.epochs + 1):  # expect: TL302\n        model.train()\n" in (
        outcome.source
    )


# --- TL301 missing-eval -----------------------------------------------------------------------


def _model_calls(flow: Flow, name: str) -> list:
    return [e for e in function(flow, name).events if e.kind == "model"]


def test_rebound_parameter_is_not_the_argument_after_the_rebinding() -> None:
    """A call after ``model = Other()`` runs the function's own object; one before it, or
    after a binding made from the parameter itself, still runs the parameter."""
    flow = flow_for(
        """
        def test(model, x, models, cond):
            a = model(x)
            model = model.to("cuda")
            b = model(x)
            if cond:
                model = Other()
                c = model(x)
            d = model(x)
            model = Other()
            e = model(x)
            for model in models:
                f = model(x)
        """
    )
    f = function(flow, "test")
    answers = [flow.rebound(f, e.name, e.index, e.branches) for e in _model_calls(flow, "test")]
    assert [a is not None for a in answers] == [False, False, True, False, True, True]
    assert answers[-1][0].value is None  # a loop target: an item, not the iterable
    assert isinstance(answers[-2][0].value, cst.Call)


def test_with_target_rebinds_a_parameter() -> None:
    flow = flow_for(
        """
        def run(model, path):
            with load(path) as model:
                return model(1)
        """
    )
    f = function(flow, "run")
    (call,) = _model_calls(flow, "run")
    assert flow.rebound(f, call.name, call.index, call.branches) is not None


def test_tl301_caller_two_levels_up_switched_eval() -> None:
    source = """
        import torch
        def predict(model, x):
            with torch.no_grad():
                return model(x)

        def evaluate(model, xs):
            return [predict(model, x) for x in xs]

        def main(xs):
            model = torch.nn.Sequential(torch.nn.Dropout())
            model.eval()
            evaluate(model, xs)
        """
    assert codes(source, "TL301") == []
    assert codes(source.replace("model.eval()", "pass"), "TL301") == [(4, "TL301")]


def test_tl301_recursive_helpers_do_not_hang() -> None:
    source = """
        import torch
        def a(model, n):
            with torch.no_grad():
                model(n)
            return b(model, n - 1)

        def b(model, n):
            return a(model, n)

        a(torch.nn.Dropout(), 3)
        """
    assert codes(source, "TL301") == [(4, "TL301")]


def test_tl301_train_mode_on_purpose_is_not_reported() -> None:
    source = """
        import torch
        @torch.no_grad()
        def update_bn(loader, model):
            model.train()
            for x in loader:
                model(x)
        """
    assert codes(source, "TL301") == []


def test_tl301_stale_train_call_is_reported() -> None:
    source = """
        import torch
        def fit(model, loader, optimizer, val):
            for epoch in range(3):
                model.train()
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    model(val)

        fit(torch.nn.BatchNorm1d(4), loader, optimizer, val)
        """
    assert codes(source, "TL301") == [(10, "TL301")]


def test_tl301_nested_blocks_report_once() -> None:
    source = """
        import torch
        def f(x):
            with torch.no_grad():
                with torch.inference_mode():
                    return model(x)
        model = torch.nn.Dropout()
        """
    assert codes(source, "TL301") == [(4, "TL301")]


def test_tl301_decorator_with_model_defined_later_gets_no_runtime_fix() -> None:
    source = textwrap.dedent(
        """
        import torch, torchvision
        @torch.no_grad()
        def predict(x):
            return model(x)
        model = torchvision.models.resnet18()
        """
    )
    assert fix(source, "TL301").fixed == 0
    inline = fix(source, "TL301", runtime_helpers=False)
    assert "    model.eval()\n    return model(x)" in inline.source


def test_tl301_unknown_receivers_are_not_named() -> None:
    source = """
        import torch
        def f(models, x):
            with torch.no_grad():
                return [m(x) for m in models] + [models[0](x)]
        """
    assert codes(source, "TL301") == []


# --- TL302 train-mode-not-restored --------------------------------------------------------------


def test_tl302_helper_that_restores_through_evaluating() -> None:
    source = """
        from torchlint.runtime import evaluating
        def validate(model, loader):
            with evaluating(model):
                return [model(x) for x in loader]

        def fit(model, loader, optimizer):
            model.train()
            for epoch in range(3):
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                validate(model, loader)
        """
    assert codes(source, "TL302") == []


def test_tl302_periodic_validation_in_a_while_loop() -> None:
    source = """
        def evaluate(model):
            model.eval()
            return model(x_val)

        def fit(model, optimizer):
            step = 0
            while step < 1000:
                optimizer.zero_grad()
                model(next_batch()).mean().backward()
                optimizer.step()
                step += 1
                if step % 100 == 0:
                    evaluate(model)
        """
    assert codes(source, "TL302") == [(8, "TL302")]
    fixed = fix(textwrap.dedent(source), "TL302").source
    assert "while step < 1000:\n        model.train()\n        optimizer.zero_grad()" in fixed


GPT_TRAINER = """
    import torch

    model = GPT(config)
    optimizer = model.configure_optimizers(weight_decay, learning_rate)

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    X, Y = get_batch("train")
    while True:
        if iter_num % eval_interval == 0:
            losses = estimate_loss()
        for micro_step in range(gradient_accumulation_steps):
            logits, loss = model(X, Y)
            X, Y = get_batch("train")
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        iter_num += 1
    """


def test_tl302_gpt_trainer_whose_helper_restores_train_mode() -> None:
    assert codes(GPT_TRAINER, "TL302") == []
    unrestored = GPT_TRAINER.replace("model.train()", "pass")
    assert codes(unrestored, "TL302") == [(22, "TL302")]


def test_tl302_frozen_model_put_in_eval_before_the_loop() -> None:
    source = """
        def fit(text_encoder, unet, loader, optimizer):
            unet.eval()  # kept in eval: only the text encoder trains
            text_encoder.train()
            for batch in loader:
                loss = unet(text_encoder(batch)).mean()
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        """
    assert codes(source, "TL302") == []


# --- TL303 eval-without-no-grad --------------------------------------------------------------------


def test_tl303_rebinding_after_eval_is_unknown() -> None:
    source = """
        import torch
        def export(model, x):
            model.eval()
            model = torch.jit.freeze(torch.jit.script(model))
            return model(x)
        """
    assert codes(source, "TL303") == []


def test_tl303_lightning_hooks_are_skipped() -> None:
    source = """
        class Lit:
            def validation_step(self, batch, idx):
                self.model.eval()
                return self.model(batch)
        """
    assert codes(source, "TL303") == []


# --- TL304 missing-zero-grad ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "guard",
    ["if (i + 1) % accum == 0:", "if i % accum == accum - 1:", "if (i + 1) % k == 0 or last:"],
)
def test_tl304_gradient_accumulation_guards(guard: str) -> None:
    source = f"""
        for i, (x, y) in enumerate(loader):
            model(x).mean().backward()
            {guard}
                optimizer.step()
        """
    assert codes(source, "TL304") == []


def test_tl304_helper_sets_grads_to_none() -> None:
    source = """
        def clear(params):
            for p in params:
                p.grad = None

        def fit(model, loader, optimizer):
            for x in loader:
                clear(model.parameters())
                model(x).mean().backward()
                optimizer.step()
        """
    assert codes(source, "TL304") == []


def test_tl304_display_fix_names_the_optimizer() -> None:
    result = lint(
        textwrap.dedent(
            """
            for x in loader:
                model(x).mean().backward()
                opt_g.step()
            """
        ),
        "TL304",
    )
    (diagnostic,) = result.diagnostics
    assert (
        diagnostic.fix is not None
        and diagnostic.fix.edits[0].content.strip() == "opt_g.zero_grad()"
    )


# --- TL305 / TL306 / TL307 ---------------------------------------------------------------------------


def test_tl305_loss_summed_into_a_total_that_is_backpropagated_later() -> None:
    source = """
        def fit(model, loader, optimizer):
            for x, y in loader:
                optimizer.zero_grad()
                loss_sum = 0
                for chunk in x.split(4):
                    loss = model(chunk).mean()
                    loss_sum += loss
                loss_sum.backward()
                optimizer.step()
        """
    assert codes(source, "TL305") == []


def test_tl305_in_a_validation_helper_called_under_no_grad() -> None:
    source = """
        import torch
        def val_loss(model, loader, criterion):
            total = 0
            for x, y in loader:
                total += criterion(model(x), y)
            return total

        def fit(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            with torch.no_grad():
                val_loss(model, loader, criterion)
        """
    assert codes(source, "TL305") == []


def test_tl306_is_off_by_default() -> None:
    rule = next(r for r in all_rules() if r.code == "TL306")
    assert rule.default is False


def test_tl307_per_batch_scheduler_in_helper_after_the_step() -> None:
    source = """
        import torch
        def fit(model, loader, optimizer):
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=100)
            for x in loader:
                optimizer.zero_grad()
                model(x).mean().backward()
                optimizer.step()
                scheduler.step()
        """
    assert codes(source, "TL307") == []


# --- TL308 / TL310 / TL312 ------------------------------------------------------------------


def test_tl308_outside_a_module_class() -> None:
    source = """
        import torch.nn.functional as F
        class Augment:
            def __call__(self, x):
                return F.dropout(x, 0.1)
        """
    assert codes(source, "TL308") == []


def test_tl310_tuple_assignment_in_if_is_not_guessed() -> None:
    source = """
        for epoch in range(3):
            train(model)
            state, acc = model.state_dict(), evaluate(model)
        model.load_state_dict(state)
        """
    assert codes(source, "TL310") == []


def test_tl312_augmented_and_nested_targets() -> None:
    source = """
        for layer in model.layers:
            layer.weight.require_grad = False
        """
    assert codes(source, "TL312") == [(3, "TL312")]


def test_huge_call_fan_out_is_cut_short_and_stays_silent() -> None:
    lines = ["import torch"]
    for i in range(60):
        calls = "\n".join(
            f"        f{(i * 7 + j) % 60}(model, optimizer, loader)" for j in range(8)
        )
        lines.append(
            f"def f{i}(model, optimizer, loader):\n    model.eval()\n    for x in loader:\n"
            f"{calls}\n        model(x).sum().backward()\n        optimizer.step()\n"
        )
    source = "\n".join(lines)
    flow = flow_for(source)
    assert flow.is_truncated(function(flow, "f0"))
    assert flow.step_loops(function(flow, "f0")) == []
    assert codes(source, "TL302") == [] and codes(source, "TL304") == []


def test_tl303_mode_chosen_by_a_branch() -> None:
    source = """
        def run(model, x, training):
            if training:
                model.train()
            else:
                model.eval()
            return model(x)
        """
    assert codes(source, "TL303") == []


def test_a_scheduler_named_like_an_optimizer_is_a_scheduler() -> None:
    source = """
        import torch
        opt = torch.optim.SGD(params, lr=0.1)
        opt_scheduler = torch.optim.lr_scheduler.StepLR(opt, 10)
        for epoch in range(10):
            opt_scheduler.step()
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """
    flow = flow_for(source)
    assert not flow.is_optimizer(flow.module_info, "opt_scheduler")
    assert codes(source, "TL307") == [(6, "TL307")]


def test_fixes_reuse_the_parentheses_already_in_the_file() -> None:
    source = textwrap.dedent(
        """\
        import copy


        def train(model, loader, optimizer, criterion):
            total = 0.0
            best = None
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                total += (
                    loss
                )
                if total < 1:
                    best = (model.state_dict())
            return best
        """
    )
    detached = fix(source, "TL305").source
    assert "total += (\n            loss.detach()\n        )" in detached
    copied = fix(source, "TL310").source
    assert "best = (copy.deepcopy(model.state_dict()))" in copied
    for fixed, code in ((detached, "TL305"), (copied, "TL310")):
        assert fix(fixed, code).fixed == 0
        cst.parse_module(fixed)


@pytest.mark.parametrize(
    ("layer", "reported"),
    [
        ("nn.Linear(4, 4)", False),
        ("nn.LSTM(4, 4, batch_first=True)", False),
        ("nn.InstanceNorm2d(4)", False),
        ("nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())", False),
        ("nn.Dropout(0.5)", True),
        ("nn.LSTM(4, 4, dropout=0.2)", True),
        # per-sample statistics at test time are a deliberate choice (StarGAN's generator)
        ("nn.InstanceNorm2d(4, track_running_stats=True)", False),
        ("nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))", True),
        ("make_block(4)", False),  # built by a helper it cannot see: class unknown
        ("timm.create_model('resnet18')", False),  # any architecture: class unknown
    ],
)
def test_tl301_models_built_here_without_mode_dependent_layers(layer: str, reported: bool) -> None:
    source = f"""
        import timm
        import torch
        from torch import nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = {layer}

            def forward(self, x):
                return self.body(x)

        model = Net()
        with torch.no_grad():
            out = model(x)
        """
    assert codes(source, "TL301") == ([(14, "TL301")] if reported else [])


def test_tl301_a_module_that_reads_its_mode_is_mode_dependent() -> None:
    source = """
        import torch
        import torch.nn.functional as F
        from torch import nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return F.dropout(self.fc(x), 0.1, self.training)

        model = Net()
        with torch.no_grad():
            out = model(x)
        """
    assert codes(source, "TL301") == [(14, "TL301")]


def test_tl301_layers_built_by_a_same_file_helper_are_read() -> None:
    source = """
        import torch
        from torch import nn
        def conv_block(channels, norm):
            layers = [nn.Conv2d(channels, channels, 3)]
            if norm:
                layers.append(NORM)
            return nn.Sequential(*layers)

        class Generator(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = conv_block(3, norm=True)

            def forward(self, x):
                return self.body(x)

        generator_net = Generator()
        with torch.no_grad():
            fake = generator_net(z)
        """
    insensitive = source.replace("NORM", "nn.InstanceNorm2d(channels)")
    assert codes(insensitive, "TL301") == []
    assert codes(source.replace("NORM", "nn.BatchNorm2d(channels)"), "TL301") == [(19, "TL301")]


NOISY = """
    import torch
    import torch.nn.functional as F
    from torch import nn
    class NoisyLinear(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.mu = nn.Parameter(torch.empty(n_out, n_in))
            self.sigma = nn.Parameter(torch.empty(n_out, n_in))
            self.register_buffer("eps", torch.empty(n_out, n_in))
            self.reset_parameters()
            self.reset_noise()

        def reset_parameters(self):
            self.mu.data.uniform_(-0.1, 0.1)
            self.sigma.data.fill_(0.017)

        def _scale(self, size):
            return torch.randn(size)

        def reset_noise(self):
            RESAMPLE

        def forward(self, x):
            if SWITCH:
                return F.linear(x, self.mu + self.sigma * self.eps)
            else:
                return F.linear(x, OFF)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(4, 8, 3), EXTRA)
            self.head = NoisyLinear(8, 2)

    net = Net()
    with torch.no_grad():
        q = net(obs)
"""


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({}, False),  # NoisyNet: the mode switches noise the agent resamples itself
        ({"RESAMPLE": "self.eps.copy_(self._scale(self.eps.shape))"}, False),  # via a helper
        (
            {
                "SWITCH": "not self.training",  # the noisy branch is the `else`
                "F.linear(x, self.mu + self.sigma * self.eps)": "F.linear(x, NOISE_FREE)",
                "F.linear(x, OFF)": "F.linear(x, self.mu + self.sigma * self.eps)",
                "NOISE_FREE": "self.mu",
            },
            False,
        ),
        ({"EXTRA": "nn.BatchNorm2d(8)"}, True),  # batch norm besides the noise
        ({"RESAMPLE": "self.eps.zero_()"}, True),  # no random numbers: not noise
        ({"OFF": "self.mu + self.eps"}, True),  # both branches read it: not a switch
        ({"SWITCH": "self.training and self.eps is not None"}, True),  # not a plain switch
        (
            {"self.sigma * self.eps": "self.sigma * torch.randn_like(self.mu)"},
            True,
        ),  # drawn per call
    ],
)
def test_tl301_noise_layer_switched_by_the_mode(change: dict, reported: bool) -> None:
    """A NoisyNet layer's ``self.training`` only turns on noise that a method of its own
    resamples from random numbers: not mode dependence TL301 reports. Noise drawn on every
    call, or a layer that also has batch norm, still is."""
    source = NOISY
    defaults = {
        "RESAMPLE": "self.eps.normal_()",
        "SWITCH": "self.training",
        "OFF": "self.mu",
        "EXTRA": "nn.ReLU()",
    }
    for old, new in change.items():
        source = source.replace(old, new)
    for old, new in defaults.items():
        source = source.replace(old, new)
    assert codes(source, "TL301") == ([(37, "TL301")] if reported else [])


def test_tl301_submodules_of_a_diffusers_model_follow_it() -> None:
    source = """
        import torch
        from torch import nn
        from diffusers import ModelMixin
        class Decoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.1)

        class Renderer(ModelMixin):
            def __init__(self):
                super().__init__()
                self.decoder = Decoder()

            @torch.no_grad()
            def render(self, rays):
                return self.decoder(rays)
        """
    assert codes(source, "TL301") == []
    assert codes(source.replace("(ModelMixin)", "(Base)"), "TL301") == [(16, "TL301")]


# A script that trains a model with dropout and batch norm, then evaluates it: the shape TL301
# reports by default. The tests below change one thing of it each.
_TRAINED_THEN_EVALUATED = """
    import torch
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
            self.bn = nn.BatchNorm1d(4)

    def main(loader, optimizer):
        model = Net()
        HOLD
        for x in loader:
            model(x).sum().backward()
            optimizer.step()
        SWITCH
        with torch.no_grad():
            z = USE
        return z
    """


def _trained(hold: str = "pass", switch: str = "pass", use: str = "model(x)") -> str:
    return (
        _TRAINED_THEN_EVALUATED.replace("HOLD", hold).replace("SWITCH", switch).replace("USE", use)
    )


def test_tl301_the_trained_model_is_reported() -> None:
    assert codes(_trained(), "TL301") == [(17, "TL301")]
    assert codes(_trained(switch="model.eval()"), "TL301") == []
    assert codes(_trained(switch="model.train(False)"), "TL301") == []
    assert codes(_trained(switch="model.train(mode=False)"), "TL301") == []
    # the parent's eval() reaches its submodule
    assert codes(_trained(switch="model.eval()", use="model.encoder(x)"), "TL301") == []


def test_tl301_a_module_built_around_the_model_switches_it() -> None:
    """``critic = Critic(model)`` keeps ``model`` as a submodule: ``critic.eval()`` is an
    ``eval()`` of ``model`` too; an EMA or an averaged copy holds a copy, not the model."""
    held = "critic = Critic(model).train()"
    assert codes(_trained(hold=held, switch="critic.eval()"), "TL301") == []
    assert codes(_trained(hold=held), "TL301") == [(17, "TL301")]
    # a holder's train() is not a mode chosen for the evaluation (`trainer.train()`)
    assert codes(_trained(hold=held, switch="critic.train()"), "TL301") == [(17, "TL301")]
    assert codes(_trained(hold=held, switch="critic.train(False)"), "TL301") == []
    trainer = "trainer = Trainer(model=model)"
    assert codes(_trained(hold=trainer, switch="trainer.train()"), "TL301") == [(17, "TL301")]
    outer = "critic = Critic(model)\n        judge = Judge(critic)"
    assert codes(_trained(hold=outer, switch="judge.eval()"), "TL301") == []
    for copy in ("ema = EMA(model)", "ema = ModelEma(model)", "ema = AveragedModel(model)"):
        assert codes(_trained(hold=copy, switch="ema.eval()"), "TL301") == [(17, "TL301")]
    assert codes(_trained(hold="c = build(model)", switch="c.eval()"), "TL301") == [(17, "TL301")]


def test_tl301_a_model_run_only_to_measure_its_output() -> None:
    assert codes(_trained(use="model(x).shape[1]"), "TL301") == []
    assert codes(_trained(use="model(x).size(1)"), "TL301") == []
    assert codes(_trained(use="len(model(x))"), "TL301") == []
    assert codes(_trained(use="model(x).argmax(1)"), "TL301") == [(17, "TL301")]
    measured = _trained().replace("return z", "return z.shape[1]")
    assert codes(measured, "TL301") == []
    used = _trained().replace("return z", "return z.shape[1], z.sum()")
    assert codes(used, "TL301") == [(17, "TL301")]


def test_tl301_dropout_whose_rate_defaults_to_zero() -> None:
    """``nn.Dropout(dropout)`` with ``dropout=0.0``: the class depends on its mode only where
    the construction sets a rate."""
    source = """
        import torch
        from torch import nn
        class Block(nn.Module):
            def __init__(self, dim, dropout=0.0):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.drop = DROP

        class Head(nn.Module):
            def __init__(self, dim, dropout=0.0):
                super().__init__()
                self.block = BLOCK

        def main(loader, optimizer):
            model = BUILD
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
            with torch.no_grad():
                return model(x)
        """

    def check(build: str, drop: str = "nn.Dropout(dropout)", block: str = "Block(dim, dropout)"):
        text = source.replace("BUILD", build).replace("DROP", drop).replace("BLOCK", block)
        return codes(text, "TL301")

    assert check("Block(8)") == []
    assert check("Block(8, dropout=0.3)") == [(20, "TL301")]
    assert check("Block(8, 0.3)") == [(20, "TL301")]
    # a rate it cannot read proves nothing (precision first)
    assert check("Block(8, **config)") == []
    assert check("Block(8, dropout=args.dropout)") == []
    assert check("Block(8, dropout=0)") == []
    assert check("Block(8)", drop="nn.Dropout(p=dropout)") == []
    assert check("Block(8)", drop="nn.Dropout(dropout) if dropout > 0 else nn.Identity()") == []
    assert check("Block(8)", drop="nn.Dropout(0.1)") == [(20, "TL301")]
    assert check("Block(8)", drop="nn.LSTM(dim, dim, dropout=dropout)") == []
    # through a class that passes its own rate on, or a set one
    assert check("Head(8)") == []
    assert check("Head(8, dropout=0.2)") == [(20, "TL301")]
    assert check("Head(8)", block="Block(dim, 0.1)") == [(20, "TL301")]


def test_tl301_a_function_given_its_model_is_reported_only_when_no_caller_sets_eval() -> None:
    source = """
        import torch
        from torch import nn
        def evaluate(model, x):
            with torch.no_grad():
                return model(x)

        def main(x, optimizer):
            model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
            model(x).sum().backward()
            optimizer.step()
            FIRST
            evaluate(model, x)
            SECOND
            evaluate(model, x)
        """
    both = source.replace("FIRST", "pass").replace("SECOND", "pass")
    assert codes(both, "TL301") == [(5, "TL301")]
    one = source.replace("FIRST", "pass").replace("SECOND", "model.eval()")
    assert codes(one, "TL301") == []  # a caller chose the mode: the function leaves it to them
    unknown = both.replace("nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))", "make_model()")
    assert codes(unknown, "TL301") == []  # a class it cannot see


def test_tl314_reads_a_functions_expressions_only_when_they_can_change_the_answer(
    monkeypatch,
) -> None:
    """Which functions hand out a context manager is decided from the decorators and the
    ``return`` and ``with`` statements: a body's expressions are searched (for ``yield``)
    only for a function that would otherwise be one."""
    from torchlint.rules.training import context_manager_not_entered as tl314

    entered: list[cst.CSTNode] = []
    real = tl314.iter_children

    def spy(node: cst.CSTNode, fields=None):
        entered.append(node)
        return real(node, fields)

    monkeypatch.setattr(tl314, "iter_children", spy)
    source = textwrap.dedent(
        """
        import contextlib
        import functools
        import torch

        def plain(x):
            if x:
                return [g(v) for v in x]

        @contextlib.contextmanager
        def entering_none(x):
            with open(x):
                yield [g(v) for v in x]

        @torch.no_grad()
        def decorated(x):
            return torch.no_grad()

        @functools.cache
        def decorated_generator():
            with torch.no_grad():
                yield

        def generator(x):
            yield x
            return torch.no_grad()

        def factory():
            return torch.no_grad()
        """
    )
    module = cst.parse_module(source)
    scope = Scope(module, None)
    answers = {
        f.name.value: tl314._hands_out_context(f, scope)
        for f in module.body
        if isinstance(f, cst.FunctionDef)
    }
    assert answers == {
        "plain": False,
        "entering_none": False,
        "decorated": False,
        "decorated_generator": False,
        "generator": False,
        "factory": True,
    }
    # Only the two whose statements would make them factories had their expressions read.
    searched = {id(node) for node in entered if isinstance(node, cst.BaseExpression)}
    stack: list[cst.CSTNode] = [f.body for f in module.body[-2:]]
    candidates: set[int] = set()
    while stack:
        node = stack.pop()
        candidates.add(id(node))
        stack.extend(iter_children(node))
    assert searched and searched <= candidates


GAN_STEP = """
    import torch
    from torch import nn
    netG = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 4))
    netD = nn.Sequential(nn.Linear(4, 1))

    def train(loader, opt_d, opt_g):
        for real in loader:
            z = torch.randn(64, 8)
            GUARD
            with torch.no_grad():
                fake = netG(z)
            loss_d = netD(fake).mean() - netD(real).mean()
            loss_d.backward()
            opt_d.step()
            loss_g = -netD(netG(z)).mean()
            loss_g.backward()
            opt_g.step()
            AFTER
"""


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({}, False),  # a GAN's fakes for the discriminator step: the generator trains
        ({"GUARD": "if step % 100 == 0:\n                pass"}, False),  # a guard elsewhere
        (
            {"loss_g = -netD(netG(z)).mean()": "loss_g = -netD(fake).mean()"},
            True,
        ),  # not trained here
        (
            {  # the block comes after the iteration's backward and step: a look, not the step
                "            with torch.no_grad():\n                fake = netG(z)\n": "",
                "AFTER": "with torch.no_grad():\n                fake = netG(z)",
            },
            True,
        ),
        (
            {  # validation before an inner training loop: not the same iteration
                "for real in loader:": "for epoch in range(3):",
                "loss_d = netD(fake).mean() - netD(real).mean()": "for real in loader:\n                loss_d = netD(fake).mean() - netD(real).mean()",
                "            loss_d.backward()\n            opt_d.step()": "                loss_d.backward()\n                opt_d.step()",
                "            loss_g = -netD(netG(z)).mean()\n            loss_g.backward()\n            opt_g.step()": "                loss_g = -netD(netG(z)).mean()\n                loss_g.backward()\n                opt_g.step()",
            },
            True,
        ),
    ],
)
def test_tl301_block_in_a_training_step_of_the_model(change: dict, reported: bool) -> None:
    """A ``no_grad`` block before the ``backward()`` and optimizer step of its iteration,
    calling a model that the step also runs with autograd on (a GAN's fakes, a DQN's
    targets): its train mode is the training's. After the step, guarded by ``step % n``,
    or for a model the step does not train, it is still reported."""
    source = GAN_STEP
    for old, new in change.items():
        source = source.replace(old, new)
    source = source.replace("GUARD", "pass").replace("AFTER", "pass")
    found = codes(source, "TL301")
    assert bool(found) == reported, (found, source)


def test_tl301_periodic_block_in_a_training_step_is_reported() -> None:
    source = GAN_STEP.replace("AFTER", "pass").replace(
        "GUARD\n            with torch.no_grad():\n                fake = netG(z)",
        "fake = z\n            if step % 100 == 0:\n                with torch.no_grad():\n"
        "                    fake = netG(z)",
    )
    assert "step % 100" in source
    assert codes(source, "TL301") != []


AGENT = """
    import torch
    from torch import nn
    class DQN(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.1), nn.Linear(64, 2))

        def forward(self, x):
            return self.body(x)

    class Agent:
        def __init__(self):
            self.online_net = DQN()
            self.online_net.train()

        def act(self, state):
            with torch.no_grad():
                return self.online_net(state).argmax(1)

        SWITCHES
"""


@pytest.mark.parametrize(
    ("switches", "reported"),
    [
        (
            "def train(self):\n            self.online_net.train()\n\n"
            "        def eval(self):\n            self.online_net.eval()",
            False,
        ),
        ("def eval(self):\n            self.online_net.eval()", False),
        ("def eval(self):\n            self.target_net.eval()", True),  # not this network
        ("def evaluate(self):\n            self.online_net.eval()", True),  # not a switch
        ("pass", True),
    ],
)
def test_tl301_holder_with_its_own_mode_switch(switches: str, reported: bool) -> None:
    """A class that is not a module but has its own ``eval()`` / ``train()`` reaching the
    network (an RL agent): whoever holds it chooses the mode its methods run in."""
    source = AGENT.replace("SWITCHES", switches)
    assert bool(codes(source, "TL301")) == reported


def test_tl301_training_step_guarded_as_a_whole() -> None:
    """``if step % 4 == 0:`` around the whole step (train every few environment steps):
    the block is still part of the step; a guard around the block alone is a periodic
    look at the model."""
    source = """
        import torch
        from torch import nn
        q_net = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.1), nn.Linear(64, 2))

        def run(env, optimizer, steps):
            for step in range(steps):
                if step % 4 == 0:
                    with torch.no_grad():
                        target = q_net(env.next_obs).max(1).values
                    loss = (q_net(env.obs).max(1).values - target).pow(2).mean()
                    loss.backward()
                    optimizer.step()
        """
    assert codes(source, "TL301") == []
    looked = (
        source.replace("                    loss = ", "                loss = ")
        .replace("                    loss.backward", "                loss.backward")
        .replace("                    optimizer.step", "                optimizer.step")
    )
    assert looked != source
    assert codes(looked, "TL301") == [(9, "TL301")]


def test_tl301_training_in_a_helper_loop_is_not_the_blocks_iteration() -> None:
    """A validation before ``train_one_epoch(...)`` in an epoch loop: the helper's own
    loop runs the steps, not the iteration the block is in; a helper that runs one step
    (no loop of its own) is that iteration."""
    source = """
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2))

        def train_one_epoch(loader, optimizer):
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()

        def main(loader, optimizer, val_x):
            for epoch in range(10):
                with torch.no_grad():
                    score = model(val_x).mean()
                train_one_epoch(loader, optimizer)
        """
    assert codes(source, "TL301") == [(13, "TL301")]
    one_step = source.replace("            for x, y in loader:\n", "            x = loader\n")
    one_step = one_step.replace("                model(x)", "            model(x)").replace(
        "                optimizer.step()", "            optimizer.step()"
    )
    assert one_step != source
    assert codes(one_step, "TL301") == []
