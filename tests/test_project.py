"""Project-wide facts: rules that see the other files of the project (torchlint.project).

Each test writes a small project into ``tmp_path`` and lints it through the runner or the
CLI, as ``torchlint check`` would.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint import runner
from torchlint.cache import Cache
from torchlint.cli import main
from torchlint.config import build_settings
from torchlint.project.index import ProjectIndex
from torchlint.project.summary import definitions, summarize
from torchlint.runner import Mode, run

EVAL_CODES = ["TL301", "TL302", "TL303"]

INFERENCE_DECORATOR = """\
import functools
import torch

def inference(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.inference_mode():
            return fn(*args, **kwargs)
    return wrapper

def plain(fn):
    return fn
"""

MODELS = """\
from torch import nn

class WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))

class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)
"""


def write(root: Path, files: dict[str, str], pyproject: bool = True) -> Path:
    """A project tree: ``files`` maps relative paths to (dedented) source."""
    if pyproject:
        (root / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def check(
    root: Path,
    *names: str,
    codes: list[str] = EVAL_CODES,
    cache: Cache | None = None,
    jobs: int = 1,
    roots: tuple[Path, ...] = (),
) -> list[tuple[str, int, str]]:
    """(file, line, code) of each diagnostic, linting ``names`` (default: every .py)."""
    settings = build_settings(None, select=codes)
    paths = [root / n for n in names] if names else sorted(root.rglob("*.py"))
    result = run(paths, settings, Mode(), jobs=jobs, cache=cache, roots=roots)
    assert not result.errors, result.errors
    return [
        (Path(d.path).relative_to(root).as_posix(), d.start.line, d.code)
        for d in result.diagnostics
    ]


# --- the three cases of the issue ------------------------------------------------------------


def test_project_decorator_silences_tl303_across_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/utils.py": INFERENCE_DECORATOR,
            "pkg/predict.py": """\
                from .utils import inference, plain
                from . import utils

                @inference
                def predict(model, x):
                    model.eval()
                    return model(x)

                @utils.inference
                def predict_attribute(model, x):
                    model.eval()
                    return model(x)

                @plain
                def predict_plain(model, x):
                    model.eval()
                    return model(x)
            """,
        },
    )
    assert check(tmp_path, "pkg/predict.py") == [("pkg/predict.py", 17, "TL303")]


def test_model_class_from_another_module_decides_tl301(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/models.py": MODELS,
            "pkg/run.py": """\
                import torch
                from .models import WithDropout, Linear

                def with_dropout(x):
                    clf = WithDropout()  # a model by its class, not by its name
                    with torch.no_grad():
                        return clf(x)

                def linear(x):
                    model = Linear()
                    with torch.no_grad():
                        return model(x)
            """,
        },
    )
    assert check(tmp_path, "pkg/run.py") == [("pkg/run.py", 6, "TL301")]


def test_caller_in_another_file_that_sets_eval_silences_tl301(tmp_path: Path) -> None:
    engine = """\
        import torch

        def evaluate(model, loader):
            with torch.no_grad():
                return [model(x) for x in loader]

        def smoke_test(loader):
            model = torch.nn.Sequential(torch.nn.Dropout())  # a known class
            return evaluate(model, loader)
    """
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/engine.py": engine,
            "pkg/train.py": """\
                from .engine import evaluate

                def main(model, loader):
                    model.eval()
                    return evaluate(model, loader)
            """,
        },
    )
    assert check(tmp_path, "pkg/engine.py") == []
    # A caller that does not set eval mode leaves the report.
    (tmp_path / "pkg/train.py").write_text(
        "from .engine import evaluate\n\ndef main(model, loader):\n    evaluate(model, loader)\n"
    )
    assert check(tmp_path, "pkg/engine.py") == [("pkg/engine.py", 4, "TL301")]


def test_helper_in_another_file_that_leaves_eval_is_an_eval(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "helpers.py": """\
                def freeze(model):
                    model.eval()

                def restoring(model):
                    model.eval()
                    model.train()
            """,
            "run.py": """\
                import torch, torchvision
                from helpers import freeze, restoring

                def a(x):
                    model = torchvision.models.resnet18()
                    freeze(model)
                    with torch.no_grad():
                        return model(x)

                def b(x):
                    model = torchvision.models.resnet18()
                    restoring(model)
                    with torch.no_grad():
                        return model(x)

                __all__ = ["a", "b"]  # named: not dead code
            """,
        },
    )
    assert check(tmp_path, "run.py", codes=["TL301"]) == [("run.py", 13, "TL301")]


# --- resolution ------------------------------------------------------------------------------


def test_reexport_through_init_and_aliases(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/pkg/__init__.py": "from .models import Linear as Plain\n",
            "src/pkg/models.py": MODELS,
            "src/pkg/tools/__init__.py": "",
            "src/pkg/tools/run.py": """\
                import torch
                from pkg import Plain as P
                from .. import models as m

                def one(x):
                    model = P()
                    with torch.no_grad():
                        return model(x)

                def two(x):
                    model = m.WithDropout()
                    with torch.no_grad():
                        return model(x)
            """,
        },
    )
    assert check(tmp_path, "src/pkg/tools/run.py") == [("src/pkg/tools/run.py", 12, "TL301")]


def test_name_shadowed_locally_is_not_the_project_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "utils.py": INFERENCE_DECORATOR,
            "run.py": """\
                from utils import inference

                def inference(fn):  # rebinds the import: no longer the project's
                    return fn

                @inference
                def predict(model, x):
                    model.eval()
                    return model(x)
            """,
        },
    )
    assert check(tmp_path, "run.py") == [("run.py", 9, "TL303")]


def test_import_cycle_does_not_hang(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.py": "from b import Net\n",
            "b.py": "from a import Net\nfrom c import Loop\n",
            "c.py": "from torch import nn\nfrom b import Loop\nclass Other(Loop, nn.Module):\n    pass\n",
            "run.py": """\
                import torch
                from a import Net
                from c import Other

                def go(x):
                    model = Net()
                    other_model = Other()
                    dropout_model = torch.nn.Dropout()
                    with torch.no_grad():
                        return model(x), other_model(x), dropout_model(x)

                __all__ = ["go"]  # named: not dead code
            """,
        },
    )
    # Net and Other are of classes it cannot resolve: only the known one is reported
    assert check(tmp_path, "run.py") == [("run.py", 9, "TL301")]


def test_syntax_error_in_imported_file_is_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "utils.py": "def inference(fn:\n",
            "run.py": """\
                from utils import inference

                @inference
                def predict(model, x):
                    model.eval()
                    return model(x)
            """,
        },
    )
    assert check(tmp_path, "run.py") == [("run.py", 6, "TL303")]


def test_file_outside_any_project_keeps_one_file_answers(tmp_path: Path) -> None:
    files = {"utils.py": INFERENCE_DECORATOR, "run.py": PREDICT}
    write(tmp_path, files, pyproject=False)
    assert check(tmp_path, "run.py") == [("run.py", 6, "TL303")]
    # ... unless its directory is named on the command line: then that is the project.
    assert check(tmp_path, "run.py", roots=(tmp_path,)) == []


PREDICT = """\
from utils import inference

@inference
def predict(model, x):
    model.eval()
    return model(x)
"""


def test_stdin_keeps_one_file_answers(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"utils.py": INFERENCE_DECORATOR})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main,
        ["check", "--select", "TL303", "--output-format", "concise", "--stdin-filename",
         "run.py", "-"],
        input=PREDICT,
    )  # fmt: skip
    assert "run.py:6:12: TL303" in result.output


def test_cuda_gate_decorator_from_test_helpers(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "helpers.py": """\
                import pytest
                import torch

                needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU")

                def on_device(fn):
                    def wrapper(*args):
                        if not torch.cuda.is_available():
                            pytest.skip("no GPU")
                        return fn(*args)
                    return wrapper
            """,
            "bench.py": """\
                from helpers import needs_gpu, on_device

                @needs_gpu
                def one(model):
                    return model.cuda()

                @on_device
                def two(model):
                    return model.cuda()

                def three(model, device="cpu"):  # runs without CUDA too
                    return model.cuda()

                __all__ = ["one", "two", "three"]  # named: not dead code
            """,
        },
    )
    assert check(tmp_path, "bench.py", codes=["TL201"]) == [("bench.py", 12, "TL201")]


def test_device_selector_from_another_file(tmp_path: Path) -> None:
    summary = summarize(
        textwrap.dedent(
            """\
            import torch

            def select_device(name=""):
                if name == "cpu" or not torch.cuda.is_available():
                    return torch.device("cpu")
                return torch.device("cuda:0")

            def not_a_selector():
                return "cuda"
            """
        )
    )
    assert summary.function("select_device").device_selector
    assert not summary.function("not_a_selector").device_selector
    write(
        tmp_path,
        {
            "utils.py": "import torch\n\ndef select_device():\n"
            "    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n",
            "run.py": "import torch\nfrom utils import select_device\n\n"
            "device = select_device()\nx = torch.zeros(3).to(device)\n",
        },
    )
    assert check(tmp_path, "run.py", codes=["TL203"]) == [("run.py", 5, "TL203")]


def test_module_base_class_in_another_file_makes_a_model(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base.py": "from torch import nn\n\nclass Base(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n"
            "        self.bn = nn.BatchNorm1d(4)\n",
            "run.py": """\
                import torch
                from base import Base

                class Head(Base):
                    pass

                def go(x):
                    head = Head()
                    with torch.no_grad():
                        return head(x)

                __all__ = ["go"]  # named: not dead code
            """,
        },
    )
    assert check(tmp_path, "run.py") == [("run.py", 9, "TL301")]


# --- linting a subset, and the cache ---------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/models.py": MODELS,
            "pkg/utils.py": INFERENCE_DECORATOR,
            "pkg/run.py": """\
                import torch
                from .models import Linear

                def go(x):
                    model = Linear()
                    with torch.no_grad():
                        return model(x)
            """,
            "pkg/other.py": """\
                from .utils import inference

                @inference
                def predict(model, x):
                    model.eval()
                    return model(x)
            """,
            "pkg/unrelated.py": "import torch\n\nwith torch.no_grad():\n    y = model(x)\n",
        },
    )


def test_subset_sees_the_project_like_the_whole_tree(tmp_path: Path) -> None:
    _tree(tmp_path)
    whole = check(tmp_path)
    for name in ("pkg/run.py", "pkg/other.py", "pkg/unrelated.py"):
        assert check(tmp_path, name) == [d for d in whole if d[0] == name]


@pytest.mark.parametrize("jobs", [1, 2])
def test_cache_relints_importers_of_a_changed_file_only(tmp_path: Path, jobs: int) -> None:
    _tree(tmp_path)
    for n in range(8):  # enough files for two worker processes
        (tmp_path / f"pkg/filler{n}.py").write_text(f"x = {n}\n")
    settings = build_settings(None, select=EVAL_CODES)
    cache = Cache(tmp_path / ".cache", settings)
    first = check(tmp_path, cache=cache, jobs=jobs)
    assert ("pkg/run.py", 6, "TL301") not in first  # Linear has no dropout

    linted: list[str] = []
    original = runner.process_file

    def spy(path, *args, **kwargs):
        linted.append(Path(path).relative_to(tmp_path).as_posix())
        return original(path, *args, **kwargs)

    runner.process_file = spy  # seen by forked workers too, but their lists stay there
    try:
        assert check(tmp_path, cache=cache, jobs=jobs) == first
        assert linted == []
        dropout = MODELS.replace("self.fc = nn.Linear(4, 4)\n\n", "self.fc = nn.Dropout()\n\n")
        (tmp_path / "pkg/models.py").write_text(dropout)
        again = check(tmp_path, cache=cache, jobs=jobs)
    finally:
        runner.process_file = original
    if jobs == 1:
        assert sorted(linted) == ["pkg/models.py", "pkg/run.py"]
    assert ("pkg/run.py", 6, "TL301") in again
    assert again == check(tmp_path, jobs=jobs)  # the same as without a cache


def test_cache_sees_a_new_caller_that_sets_eval(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "engine.py": "import torch\n\ndef evaluate(model, loader):\n"
            "    with torch.no_grad():\n        return [model(x) for x in loader]\n"
            "\ndef smoke_test(loader):\n"
            "    return evaluate(torch.nn.Sequential(torch.nn.Dropout()), loader)\n",
        },
    )
    settings = build_settings(None, select=["TL301"])
    cache = Cache(tmp_path / ".cache", settings)
    assert check(tmp_path, cache=cache, codes=["TL301"]) == [("engine.py", 4, "TL301")]
    (tmp_path / "train.py").write_text(
        "from engine import evaluate\n\ndef main(model, loader):\n"
        "    model.eval()\n    evaluate(model, loader)\n"
    )
    assert check(tmp_path, cache=cache, codes=["TL301"]) == []


def test_summaries_are_cached_on_disk_by_content(tmp_path: Path) -> None:
    write(tmp_path, {"utils.py": INFERENCE_DECORATOR, "run.py": PREDICT})
    index = ProjectIndex(cache_dir=tmp_path / ".cache")
    view = index.view(tmp_path / "run.py")
    assert view is not None and view.grad_off_decorator("utils.inference")
    stored = list((tmp_path / ".cache" / "summaries").rglob("*"))
    assert any(p.is_file() for p in stored)
    fresh = ProjectIndex(cache_dir=tmp_path / ".cache")
    assert fresh.view(tmp_path / "run.py").grad_off_decorator("utils.inference")
    with fresh.recording() as recorded:
        fresh.view(tmp_path / "run.py").grad_off_decorator("utils.inference")
    assert [(kind, Path(key).name) for kind, key, _ in recorded[0]] == [("file", "utils.py")]


def test_cli_check_one_file_uses_the_project(tmp_path: Path, monkeypatch) -> None:
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["check", "--select", "TL303", "--output-format", "concise", "pkg/other.py"]
    )
    assert result.exit_code == 0, result.output


def test_loader_and_class_that_return_models_in_eval_mode(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "helpers.py": """\
                import torch
                from torch import nn

                def load(path):
                    model = torch.load(path)
                    model.eval()
                    return model

                def load_pair(path):
                    model = torch.load(path)
                    model.eval()
                    return "tokenizer", model

                class Frozen(nn.Module):
                    def __init__(self, eval_mode=True):
                        super().__init__()
                        self.drop = nn.Dropout()
                        if eval_mode:
                            self.eval()
            """,
            "run.py": """\
                import torch, torchvision
                from helpers import load, load_pair, Frozen

                def one(x):
                    model = load("a.pt").to("cpu")
                    with torch.no_grad():
                        return model(x)

                def two(x):
                    tokenizer, model = load_pair("b.pt")
                    with torch.no_grad():
                        return model(x)

                def three(x):
                    net = Frozen()
                    with torch.no_grad():
                        return net(x)

                def four(x):
                    model = torchvision.models.resnet18()  # a known class, with batch norm
                    with torch.no_grad():
                        return model(x)

                __all__ = ["one", "two", "three", "four"]  # named: not dead code
            """,
        },
    )
    assert check(tmp_path, "run.py", codes=["TL301"]) == [("run.py", 21, "TL301")]


def test_summaries_read_every_kind_of_pattern() -> None:
    """`case True:` holds a bool where other patterns hold nodes: no crash, a real summary."""
    from torchlint.project.summary import UNPARSABLE, summarize

    source = textwrap.dedent(
        """
        class Constant:
            @staticmethod
            def create(value):
                match value:
                    case True:
                        return 1
                    case Point(x=0, y=y):
                        return y
                    case {"a": 1, **rest}:
                        return rest
                    case [1, *others] | (None | 3.5 | b"x" | 1j):
                        return others
        """
    ).encode()
    summary = summarize(source)
    assert summary is not UNPARSABLE
    assert [cls.name for cls in summary.classes] == ["Constant"]


PREDICT_WITH_HELPER = """\
from .helpers import inference

@inference
def predict(model, x):
    model.eval()
    return model(x)
"""


def test_a_file_without_the_words_of_a_fact_is_not_parsed(tmp_path: Path) -> None:
    """`helpers.py` has no `no_grad` / `inference_mode`: its `inference` cannot switch
    autograd off, which its bytes say without a summary; once it does, the cache knows."""
    plain = "def inference(fn):\n    return fn\n"
    write(tmp_path, {"pkg/__init__.py": "", "pkg/helpers.py": plain})
    (tmp_path / "pkg/predict.py").write_text(PREDICT_WITH_HELPER)
    index = ProjectIndex()
    view = index.view(tmp_path / "pkg/predict.py")
    assert view is not None and not view.grad_off_decorator(".helpers.inference")
    assert (tmp_path / "pkg/helpers.py").resolve() not in index._files  # never summarised

    settings = build_settings(None, select=EVAL_CODES)
    cache = Cache(tmp_path / ".cache", settings)
    assert check(tmp_path, "pkg/predict.py", cache=cache) == [("pkg/predict.py", 6, "TL303")]
    (tmp_path / "pkg/helpers.py").write_text(INFERENCE_DECORATOR)  # now it does
    assert check(tmp_path, "pkg/predict.py", cache=cache) == []


def test_a_reexport_without_the_words_still_leads_to_the_definition(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .utils import inference\n",
            "pkg/utils.py": INFERENCE_DECORATOR,
            "pkg/predict.py": PREDICT_WITH_HELPER.replace("from .helpers", "from pkg"),
        },
    )
    assert check(tmp_path, "pkg/predict.py") == []


def test_a_function_is_no_model_class_without_parsing_its_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/helpers.py": "import torch\n\ndef build():\n    return torch.nn.Dropout()\n",
            "pkg/models.py": MODELS,
            "pkg/run.py": "from .helpers import build\nfrom .models import WithDropout\n",
        },
    )
    index = ProjectIndex()
    view = index.view(tmp_path / "pkg/run.py")
    assert view is not None
    assert view.is_module_class(".helpers.build") is None
    assert (tmp_path / "pkg/helpers.py").resolve() not in index._files
    assert view.is_module_class(".models.WithDropout") is True  # a class: parsed, and followed


def test_each_definition_is_gated_by_its_own_text(tmp_path: Path) -> None:
    """`predict` switches modes, `prepare` and `Dataset` do not: a question about either of
    those is answered from the bytes, while `predict`'s own text sends it to the summary."""
    helpers = (
        "import torch\n\n"
        "def prepare(x):\n    return x\n\n"
        "class Dataset:\n    pass\n\n"
        "def predict(model, x):\n    model.eval()\n    return model(x)\n"
    )
    write(tmp_path, {"pkg/__init__.py": "", "pkg/helpers.py": helpers, "pkg/run.py": ""})
    index = ProjectIndex()
    view = index.view(tmp_path / "pkg/run.py")
    assert view is not None
    assert view.leaves_eval(".helpers.prepare") is None
    assert view.returns_eval(".helpers.Dataset") == ()
    assert (tmp_path / "pkg/helpers.py").resolve() not in index._files  # never summarised
    found = view.leaves_eval(".helpers.predict")
    assert found is not None and found.leaves_eval == ("model",)
    assert (tmp_path / "pkg/helpers.py").resolve() in index._files


def test_a_definition_runs_to_the_next_one_at_column_zero() -> None:
    text = (
        b"def first():\n    pass\n"
        b"x = torch.cuda.is_available()\n"  # module code between two definitions
        b"@decorator\n"
        b"def second(m):\n    m.eval()\n"
        b"def second(m):\n    return m\n"  # defined twice: both texts count
    )
    found = definitions(text)
    assert found.functions == {"first", "second"} and found.classes == frozenset()
    assert found.facts["first"] == {"cuda_gate"}  # a superset of its own lines
    assert found.facts["second"] == {"mode"}


def test_the_callers_of_a_function_are_found_without_parsing_files_that_switch_no_mode(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/engine.py": "def evaluate(model, loader):\n    return model(loader)\n",
            "pkg/train.py": (
                "from .engine import evaluate\n\ndef main(model, loader):\n"
                "    model.eval()\n    return evaluate(model, loader)\n"
            ),
            "pkg/plain.py": "from .engine import evaluate\n\nevaluate(net, data)\n",
        },
    )
    index = ProjectIndex()
    view = index.view(tmp_path / "pkg/engine.py")
    assert view is not None and view.evaluated_by_callers("evaluate", 0, "model")
    assert (tmp_path / "pkg/train.py").resolve() in index._files
    assert (tmp_path / "pkg/plain.py").resolve() not in index._files  # never summarised


def test_the_import_roots_of_a_directory_are_worked_out_once_until_a_refresh(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    package = tmp_path / "lib" / "pkg"
    package.mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    index = ProjectIndex()
    roots = index.source_roots(package / "a.py", tmp_path)
    assert roots == [package, tmp_path, tmp_path / "src"]
    assert index.source_roots(package / "b.py", tmp_path) is roots  # the same directory
    (package / "__init__.py").write_text("")
    assert index.source_roots(package / "a.py", tmp_path) is roots  # not looked at again
    index.refresh(package / "__init__.py")  # an editor saved it
    assert index.source_roots(package / "a.py", tmp_path) == [
        package,
        tmp_path / "lib",
        tmp_path,
        tmp_path / "src",
    ]


def test_ddp_through_a_project_helper_silences_tl205(tmp_path: Path) -> None:
    """yolov5-style: `smart_DDP` in a utility module wraps in DDP (imported under an alias);
    the training script keeps DataParallel as the single-process fallback."""
    helper = """\
        from torch.nn.parallel import DistributedDataParallel as DDP

        def smart_DDP(model):
            return DDP(model, device_ids=[0])

        def other(model):
            return model
        """
    summary = summarize(textwrap.dedent(helper))
    assert summary.function("smart_DDP").builds_ddp
    assert not summary.function("other").builds_ddp
    script = """\
        import torch
        from utils.torch_utils import {name}

        if torch.cuda.device_count() > 1:
            model = torch.nn.DataParallel(model)
        model = {name}(model)
        """
    write(
        tmp_path,
        {
            "utils/__init__.py": "",
            "utils/torch_utils.py": helper,
            "train.py": script.format(name="smart_DDP"),
            "other.py": script.format(name="other"),
        },
    )
    assert check(tmp_path, "train.py", "other.py", codes=["TL205"]) == [("other.py", 5, "TL205")]


def test_project_class_whose_dropout_rate_defaults_to_zero_is_not_known_sensitive(
    tmp_path: Path,
) -> None:
    """A class of another file whose only dropout takes an ``__init__`` rate that defaults
    to 0 acts the same in both modes unless its callers set one, which its summary cannot
    see: TL301 stays silent on it (and reports a class with a set rate)."""
    layers = """\
        from torch import nn

        class Block(nn.Module):
            def __init__(self, dim, dropout=0.0):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.drop = DROP
    """
    run_py = """\
        import torch
        from .layers import Block

        def main(loader, optimizer):
            model = Block(8)
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
            with torch.no_grad():
                return model(x)
    """
    files = {"pkg/__init__.py": "", "pkg/run.py": run_py}
    write(tmp_path, {**files, "pkg/layers.py": layers.replace("DROP", "nn.Dropout(dropout)")})
    assert check(tmp_path, "pkg/run.py", codes=["TL301"]) == []
    write(tmp_path, {**files, "pkg/layers.py": layers.replace("DROP", "nn.Dropout(0.1)")})
    assert check(tmp_path, "pkg/run.py", codes=["TL301"]) == [("pkg/run.py", 9, "TL301")]


PROJECT_RUN = """\
    import torch
    from .models import MODEL

    def main(loader, optimizer):
        model = BUILD
        for x in loader:
            model(x).sum().backward()
            optimizer.step()
        with torch.no_grad():
            return model(x)
"""


def _run_with(tmp_path: Path, models: str, model: str, build: str) -> list:
    run_py = PROJECT_RUN.replace("MODEL", model).replace("BUILD", build)
    files = {"pkg/__init__.py": "", "pkg/run.py": run_py, "pkg/models.py": models}
    write(tmp_path, files)
    return check(tmp_path, "pkg/run.py", codes=["TL301"])


def test_project_class_reported_where_the_construction_sets_its_rate(tmp_path: Path) -> None:
    """A class of another file whose dropout (a layer, or ``F.dropout(..., p=self.rate,
    training=self.training)``) takes a rate that defaults to 0: reported where the
    construction passes a non-zero number, not where it passes nothing or a value it cannot
    read; a subclass without ``__init__`` has its base's rate."""
    models = """\
        import torch.nn.functional as F
        from torch import nn

        class Net(nn.Module):
            def __init__(self, dim, dropout=0.0):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.dropout = dropout

            def forward(self, x):
                assert x.dim() == 2 or not self.training
                return self.fc(F.dropout(x, p=self.dropout, training=self.training))

        class Sub(Net):
            pass

        class Outer(nn.Module):
            def __init__(self, dim, dropout=0.0):
                super().__init__()
                self.inner = Net(dim, dropout=dropout)

        class Fixed(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.inner = Net(dim, 0.1)
    """
    reported = [("pkg/run.py", 9, "TL301")]
    assert _run_with(tmp_path, models, "Net", "Net(8)") == []
    assert _run_with(tmp_path, models, "Net", "Net(8, dropout=0.2)") == reported
    assert _run_with(tmp_path, models, "Net", "Net(8, 0.2)") == reported
    assert _run_with(tmp_path, models, "Net", "Net(8, dropout=args.p)") == []
    assert _run_with(tmp_path, models, "Sub", "Sub(8)") == []
    assert _run_with(tmp_path, models, "Sub", "Sub(8, dropout=0.5)") == reported
    assert _run_with(tmp_path, models, "Outer", "Outer(8)") == []
    assert _run_with(tmp_path, models, "Outer", "Outer(8, dropout=0.5)") == reported
    assert _run_with(tmp_path, models, "Fixed", "Fixed(8)") == reported
    # a `self.training` read that acts: reported with no rate at all
    acting = models.replace(
        "assert x.dim() == 2 or not self.training", "x = x if self.training else x.sign()"
    )
    assert _run_with(tmp_path, acting, "Net", "Net(8)") == reported


def test_project_dropout_under_a_rate_test_it_cannot_read_proves_nothing(
    tmp_path: Path,
) -> None:
    """A class of another file whose dropout exists (or whose ``self.training`` read acts)
    only under a test of a rate it cannot read (``if args.dropout > 0:``) proves nothing;
    a test of an ``__init__`` parameter is decided by the construction, and a readable
    non-zero rate under the test still counts."""
    models = """\
        import torch.nn.functional as F
        from torch import nn

        class Net(nn.Module):
            def __init__(self, args, p):
                super().__init__()
                self.args = args
                self.fc = nn.Linear(8, 8)
                LAYER

            def forward(self, x):
                return FORWARD
    """
    reported = [("pkg/run.py", 9, "TL301")]
    for layer, forward, build, expected in (
        ("if args.dropout > 0: self.drop = nn.Dropout(p=args.dropout)", "x", "Net(a, 0)", []),
        ("self.drop = nn.Dropout(p=args.dropout)", "x", "Net(a, 0)", reported),
        ("if args.deep: self.drop = nn.Dropout(p=args.dropout)", "x", "Net(a, 0)", reported),
        ("if args.use_dropout: self.drop = nn.Dropout(0.5)", "x", "Net(a, 0)", reported),
        ("pass", "F.dropout(x, args.p, self.training) if args.p > 0 else x", "Net(a, 0)", []),
        ("pass", "F.dropout(x, args.p, self.training)", "Net(a, 0)", reported),
        ("pass", "x.sign() if self.training and args.drop_rate > 0 else x", "Net(a, 0)", []),
        ("pass", "x.sign() if self.training and args.deep else x", "Net(a, 0)", reported),
        (
            "self.drop = nn.Dropout(args.p)",
            "self.drop(x) if self.args.p > 0 else x",
            "Net(a, 0)",
            [],
        ),
        (
            "self.drop = nn.Dropout(args.p)",
            "self.drop(x) if self.args.deep else x",
            "Net(a, 0)",
            reported,
        ),
        ("self.drop = nn.Dropout(p) if p > 0 else None", "x", "Net(a, a.p)", []),
        (
            "self.dp = 0.2\n                if self.dp: self.drop = nn.Dropout(self.dp)",
            "x",
            "Net(a, 0)",
            reported,
        ),
        ("self.drop = nn.Dropout(p) if p > 0 else None", "x", "Net(a, 0.3)", reported),
    ):
        source = models.replace("LAYER", layer).replace("FORWARD", forward)
        assert _run_with(tmp_path, source, "Net", build) == expected, (layer, forward, build)


def test_project_training_branch_gated_by_a_zero_rate(tmp_path: Path) -> None:
    """``if self.training and self.noise_tau > 0`` with ``noise_tau=0.0``: the same in both
    modes unless a construction sets it (diffusers' AutoencoderRAE under its defaults)."""
    models = """\
        import torch
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self, noise_tau=0.0):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.noise_tau = float(noise_tau)

            def forward(self, x):
                z = self.fc(x)
                if self.training and self.noise_tau > 0:
                    z = z + self.noise_tau * torch.randn_like(z)
                return z
    """
    assert _run_with(tmp_path, models, "Encoder", "Encoder()") == []
    assert _run_with(tmp_path, models, "Encoder", "Encoder(noise_tau=args.tau)") == []
    assert _run_with(tmp_path, models, "Encoder", "Encoder(noise_tau=0.1)") == [
        ("pkg/run.py", 9, "TL301")
    ]


def test_project_class_built_with_every_dropout_rate_at_zero(tmp_path: Path) -> None:
    """A class of another file whose only mode-dependent layers are dropouts fed by its
    ``__init__`` parameters, whatever their defaults: a construction passing a literal 0
    for each (or leaving out one that defaults to 0) builds nothing ``eval()`` changes. A
    rate it leaves at a non-zero default, a rate of 0.1 or from a variable, and a class
    with batch norm as well are still reported."""
    models = """\
        import torch.nn.functional as F
        from torch import nn

        class Net(nn.Module):
            def __init__(self, dim, dropout=0.5, *, attn_dropout=0.0):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.drop = nn.Dropout(dropout)
                self.attn_dropout = attn_dropout

            def forward(self, x):
                x = F.dropout(x, self.attn_dropout, training=self.training)
                return self.drop(self.fc(x))

        class Normed(nn.Module):
            def __init__(self, dropout=0.5):
                super().__init__()
                self.bn = nn.BatchNorm1d(8)
                self.drop = nn.Dropout(dropout)
    """
    reported = [("pkg/run.py", 9, "TL301")]
    assert _run_with(tmp_path, models, "Net", "Net(8, 0.0)") == []
    assert _run_with(tmp_path, models, "Net", "Net(8, dropout=0, attn_dropout=0)") == []
    assert _run_with(tmp_path, models, "Net", "Net(8)") == reported
    assert _run_with(tmp_path, models, "Net", "Net(8, dropout=0.1)") == reported
    assert _run_with(tmp_path, models, "Net", "Net(8, dropout=args.p)") == reported
    assert _run_with(tmp_path, models, "Net", "Net(8, 0, attn_dropout=0.2)") == reported
    assert _run_with(tmp_path, models, "Normed", "Normed(dropout=0.0)") == reported


def test_project_wrapper_of_a_loaded_model_or_a_holder_is_not_known_sensitive(
    tmp_path: Path,
) -> None:
    """A module whose only mode-dependent layers come from a loader that returns its model
    in eval mode, or from a holder that is not an ``nn.Module`` (its network is no
    submodule): not reported (LAVIS' MiDaSInference, stylegan2's lpips PerceptualLoss)."""
    models = """\
        import torch
        from torch import nn

        class Backbone(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))

        def load_model(path):
            model = Backbone()
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval(), path

        class Inference(nn.Module):
            def __init__(self, path):
                super().__init__()
                self.model, _ = load_model(path)

        class DistModel:
            def __init__(self):
                self.net = Backbone()
                self.net.eval()

        class Perceptual(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = DistModel()

        class Owner(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = Backbone()
    """
    assert _run_with(tmp_path, models, "Inference", "Inference('m.pt')") == []
    assert _run_with(tmp_path, models, "Perceptual", "Perceptual()") == []
    # a submodule it builds itself still counts
    assert _run_with(tmp_path, models, "Owner", "Owner()") == [("pkg/run.py", 9, "TL301")]


def test_project_noise_layer_is_not_mode_dependent(tmp_path: Path) -> None:
    """A NoisyNet layer of another file (its ``self.training`` only switches noise that a
    method of its own resamples) does not make its model mode-dependent; noise drawn on
    every call does."""
    models = """\
        import torch
        import torch.nn.functional as F
        from torch import nn

        class NoisyLinear(nn.Module):
            def __init__(self, n_in, n_out):
                super().__init__()
                self.mu = nn.Parameter(torch.empty(n_out, n_in))
                self.register_buffer("eps", torch.empty(n_out, n_in))

            def reset_noise(self):
                self.eps.normal_()

            def forward(self, x):
                if self.training:
                    return F.linear(x, self.mu + NOISE)
                return F.linear(x, self.mu)

        class DQN(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = NoisyLinear(8, 2)
    """
    resampled = models.replace("NOISE", "self.eps")
    assert _run_with(tmp_path, resampled, "DQN", "DQN()") == []
    per_call = models.replace("NOISE", "torch.randn_like(self.mu)")
    assert _run_with(tmp_path, per_call, "DQN", "DQN()") == [("pkg/run.py", 9, "TL301")]


# --- TL201/TL202: a definition nothing in the project names never runs -----------------------

DEVICE_CODES = ["TL201", "TL202"]

TRAIN_SCRIPT = """\
import argparse
import torch
import models

def fliplr(img):
    return img.flip(3).cuda()

def hflip(img):
    return img.flip(2).cuda()

def make_loss():
    return torch.ones(3).cuda()

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--arch", default="Resnet")
    args = parser.parse_args()
    net = getattr(models, args.arch)()
"""

MODELS_SCRIPT = """\
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.zeros(3).cuda()
"""

LIBRARY_MODULE = """\
import torch

def shift(x, device="cpu"):
    return x.cuda()
"""


def test_definitions_nothing_in_the_project_names_are_not_reported(tmp_path: Path) -> None:
    """fliplr is named nowhere: dead. hflip is imported by another script, make_loss named
    by a config, Net looked up with getattr(models, ...), shift is a library module's API:
    all reported."""
    write(
        tmp_path,
        {
            "train.py": TRAIN_SCRIPT,
            "evaluate.py": "from train import hflip\n",
            "configs/loss.yaml": "loss: train.make_loss\n",
            "models.py": MODELS_SCRIPT,
            "pkg/__init__.py": "",
            "pkg/ops.py": LIBRARY_MODULE,
        },
    )
    assert check(tmp_path, "train.py", "models.py", "pkg/ops.py", codes=DEVICE_CODES) == [
        ("models.py", 8, "TL201"),
        ("pkg/ops.py", 4, "TL201"),
        ("train.py", 9, "TL201"),
        ("train.py", 12, "TL201"),
    ]


def test_a_package_module_outside_an_installable_project_is_a_script(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/ops.py": LIBRARY_MODULE}, pyproject=False)
    assert check(tmp_path, "pkg/ops.py", codes=DEVICE_CODES, roots=(tmp_path,)) == []


def test_cache_sees_a_new_file_that_names_a_dead_helper(tmp_path: Path) -> None:
    write(tmp_path, {"train.py": TRAIN_SCRIPT, "models.py": MODELS_SCRIPT})
    settings = build_settings(None, select=DEVICE_CODES)
    cache = Cache(tmp_path / ".cache", settings)
    first = check(tmp_path, "train.py", cache=cache, codes=DEVICE_CODES)
    assert ("train.py", 6, "TL201") not in first
    (tmp_path / "flip.py").write_text("from train import fliplr\n")
    assert ("train.py", 6, "TL201") in check(tmp_path, "train.py", cache=cache, codes=DEVICE_CODES)


# --- every rule: a report in code that never runs is dropped (Rule.report) --------------------

LOSSES_SCRIPT = """\
import torch
from torch import nn

class FocalLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(size_average=False)

class UsedLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(size_average=False)

def train():
    def inner():
        return nn.MSELoss(reduce=False)
    return inner()

def broken():
    setup_logging()
    return nn.MSELoss(reduce=False)

if __name__ == "__main__":
    criterion = UsedLoss()
    loss = nn.L1Loss(size_average=True)
    train()
"""


def test_a_default_rule_is_silent_in_code_that_never_runs(tmp_path: Path) -> None:
    """FocalLoss is named nowhere (its method never runs), broken() raises NameError first:
    no TL607 there. UsedLoss is instantiated, inner() is nested in a live function, the
    __main__ block runs: reported."""
    write(tmp_path, {"train.py": LOSSES_SCRIPT})
    assert check(tmp_path, "train.py", codes=["TL607"]) == [
        ("train.py", 12, "TL607"),
        ("train.py", 16, "TL607"),
        ("train.py", 25, "TL607"),
    ]


def test_a_library_module_is_api_and_never_dead(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/losses.py": LOSSES_SCRIPT})
    lines = [line for _, line, _ in check(tmp_path, "pkg/losses.py", codes=["TL607"])]
    assert lines == [7, 12, 16, 25]  # broken() still cannot run: NameError first


def test_a_notebook_is_live(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    cell["source"] = LOSSES_SCRIPT.replace('if __name__ == "__main__":\n', "if True:\n")
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "explore.ipynb").write_text(json.dumps(notebook))
    assert len(check(tmp_path, "explore.ipynb", codes=["TL607"])) == 5


def test_syntax_errors_are_reported_in_dead_code(tmp_path: Path) -> None:
    write(tmp_path, {"train.py": "def unused():\n    return (\n"})
    assert check(tmp_path, "train.py", codes=["TL000"]) == [("train.py", 2, "TL000")]


def test_strict_portability_still_reports_dead_code(tmp_path: Path) -> None:
    write(tmp_path, {"train.py": TRAIN_SCRIPT, "models.py": MODELS_SCRIPT})
    settings = build_settings(None, select=DEVICE_CODES, table={"portability": "strict"})
    result = run([tmp_path / "train.py"], settings, Mode(), jobs=1)
    lines = [d.start.line for d in result.diagnostics]
    assert 6 in lines  # fliplr: named nowhere, reported because every use is asked for


def test_what_a_test_runner_collects_is_live(tmp_path: Path) -> None:
    """pytest calls a test module's test_* functions and Test* classes by name, unittest
    TestCase subclasses anywhere: live. A helper nothing calls stays dead, and so does a
    test_* function outside a test module."""
    tests = """\
        from torch import nn

        def test_loss():
            return nn.MSELoss(reduce=False)

        class TestLoss:
            def test_it(self):
                return nn.MSELoss(reduce=False)

        def unused_helper():
            return nn.MSELoss(reduce=False)
    """
    checks = """\
        import unittest
        from torch import nn

        class LossCase(unittest.TestCase):
            def test_case(self):
                return nn.MSELoss(reduce=False)

        def test_not_collected():
            return nn.MSELoss(reduce=False)
    """
    write(tmp_path, {"tests/test_losses.py": tests, "checks.py": checks})
    found = check(tmp_path, "tests/test_losses.py", "checks.py", codes=["TL607"])
    assert found == [
        ("checks.py", 6, "TL607"),
        ("tests/test_losses.py", 4, "TL607"),
        ("tests/test_losses.py", 8, "TL607"),
    ]
