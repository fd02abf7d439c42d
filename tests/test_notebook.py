"""Jupyter notebooks: linted cell by cell, IPython syntax skipped, fixes that touch only code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from torchlint.cli import main
from torchlint.notebook import (
    BOUNDARY,
    NotebookError,
    mask_magics,
    parse_json,
    parse_notebook,
    unmask_magics,
)


def code(
    source: list[str], outputs: list[Any] | None = None, count: int | None = None, **metadata: Any
):
    return {
        "cell_type": "code",
        "execution_count": count,
        "id": f"code-{abs(hash(tuple(source))) % 10**8}",
        "metadata": metadata,
        "outputs": outputs or [],
        "source": source,
    }


def markdown(source: list[str]) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": f"md-{len(source)}", "metadata": {}, "source": source}


def training_notebook() -> dict[str, Any]:
    """A realistic notebook: setup magics, data, a model on the GPU, a training loop, plots."""
    cells = [
        markdown(["# Training a classifier — première version\n", "\n", "Data, model, loop."]),
        code(
            [
                "%load_ext autoreload\n",
                "%autoreload 2\n",
                "!pip install -q torchvision\n",
                "import torch\n",
                "from torch.utils.data import DataLoader\n",
                "from torchvision import datasets, transforms",
            ],
            outputs=[
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": ["Requirement already satisfied\n"],
                }
            ],
            count=1,
            tags=["setup"],
        ),
        markdown(["## Data"]),
        code(
            [
                "%%time\n",
                "dataset = datasets.MNIST('.', download=True, transform=transforms.RandomCrop(28, padding=2))\n",
                "loader = DataLoader(dataset, batch_size=64, shuffle=True)\n",
                "len(loader)",
            ],
            outputs=[
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": ["CPU times: user 1.2 s\n", "Wall time: 3 s\n"],
                },
                {
                    "data": {"text/plain": ["938"]},
                    "execution_count": 2,
                    "metadata": {},
                    "output_type": "execute_result",
                },
            ],
            count=2,
        ),
        code(
            [
                "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).cuda()\n",
                "model?\n",
                "files = !ls data\n",
                "optimizer = torch.optim.SGD(model.parameters(), lr=0.1); device = 'cpu' if CPU_ONLY else 'cuda'",
            ],
            count=3,
        ),
        code(
            [
                "for images, labels in loader:\n",
                "    %time loss = torch.nn.functional.cross_entropy(model(images), labels)\n",
                "    images = images.cuda()  # noqa: TL201\n",
                "    optimizer.zero_grad()\n",
                "    loss.backward()\n",
                "    optimizer.step()\n",
                'notes = """\n',
                "%this line is text, not a magic\n",
                '"""\n',
                "get_ipython().run_line_magic('matplotlib', 'inline')",
            ],
            outputs=[
                {
                    "data": {
                        "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
                        "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                    },
                    "metadata": {"needs_background": "light"},
                    "output_type": "display_data",
                }
            ],
            count=4,
        ),
        code(["%%bash\n", "echo model.cuda()\n"]),
        markdown([]),
        code([]),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python", "version": "3.11.7"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def nbformat_dumps(notebook: dict[str, Any]) -> str:
    """How nbformat writes a notebook: 1-space indent, sorted keys, UTF-8, final newline."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


SELECT = ("--select", "TL000,TL101,TL201,TL405")  # the rules these notebooks exercise


def invoke(*args: str, stdin: bytes | None = None):
    """Run the CLI in-process with the rules under test selected."""
    return CliRunner().invoke(main, [*args[:1], *SELECT, *args[1:]], input=stdin)


def write_notebook(path: Path, notebook: dict[str, Any] | None = None) -> str:
    text = nbformat_dumps(notebook or training_notebook())
    path.write_bytes(text.encode("utf-8"))
    return text


SOURCE_ARRAY = re.compile(r'"source": (?:\[(?:\s*"(?:[^"\\]|\\.)*",?)*\s*\]|"(?:[^"\\]|\\.)*")')


def without_sources(text: str) -> str:
    return SOURCE_ARRAY.sub('"source": <>', text)


# --- linting ---


def test_check_reports_cells_and_cell_relative_lines(cwd: Path) -> None:
    write_notebook(cwd / "train.ipynb")
    done = invoke("check", "--output-format", "concise", "train.ipynb")
    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        "train.ipynb:cell 4:3:10: TL101 `DataLoader` without `num_workers` loads every batch in the main process"
        ": `MNIST` applies its transform per item",
        "train.ipynb:cell 5:1:75: TL201 `.cuda()` fails on machines without CUDA, and this file"
        ' selects a device at line 16 (a `"cpu"` alternative): move to the selected'
        " device with `.to(...)`",
    ]


def test_cell_numbers_count_all_cells_and_json_names_them(cwd: Path) -> None:
    write_notebook(cwd / "train.ipynb")
    data = json.loads(invoke("check", "--output-format", "json", "train.ipynb").stdout)
    assert [(d["code"], d["cell"], d["location"]["row"]) for d in data] == [
        ("TL101", 4, 3),
        ("TL201", 5, 1),
    ]
    cells = training_notebook()["cells"]
    assert cells[4 - 1]["source"][3 - 1].startswith("loader = DataLoader(")  # cell N is cells[N-1]


def test_full_format_shows_the_cell_line(cwd: Path) -> None:
    write_notebook(cwd / "train.ipynb")
    out = invoke("check", "train.ipynb").stdout
    assert "train.ipynb:cell 4:3:10: TL101" in out
    assert "3 | loader = DataLoader(dataset, batch_size=64, shuffle=True)" in out


def test_names_imported_in_an_earlier_cell_resolve(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["cells"][1]["source"] = ["import torch.utils.data as tud, torchvision"]
    notebook["cells"][3]["source"] = [
        "loader = tud.DataLoader(torchvision.datasets.ImageFolder(r), shuffle=True)"
    ]
    write_notebook(cwd / "nb.ipynb", notebook)
    out = invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    assert out.startswith("nb.ipynb:cell 4:1:10: TL101")


def test_a_broken_cell_is_tl000_and_the_other_cells_are_still_linted(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["cells"].append(code(["def broken(:\n", "    pass"]))
    write_notebook(cwd / "nb.ipynb", notebook)
    lines = invoke("check", "--output-format", "concise", "nb.ipynb").stdout.splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == ["TL101", "TL201", "TL000"]
    assert lines[2].startswith("nb.ipynb:cell 10:1:")


def test_shell_command_cells_are_not_syntax_errors(cwd: Path) -> None:
    """`ls /content` runs in IPython (automagic); `$ docker run ...` and `docker-compose up`
    are shown for a terminal. A Python cell that does not parse is still TL000."""
    notebook = training_notebook()
    notebook["cells"] += [
        code(["ls /content/checkpoints/"]),
        code(["$ docker run -it --rm image \\\n", "    --gpus all"]),
        code(["docker-compose up"]),
        code(["cd $HOME/project && ls"]),
        code(
            [
                "$ docker run --gpus=all image:$VERSION\n",
                "    --nnodes=1\n",
                "    /workspace/train.py",
            ]
        ),
        code(["print 'done'"]),
        code(["x = model(batch"]),
    ]
    write_notebook(cwd / "nb.ipynb", notebook)
    lines = invoke("check", "--output-format", "concise", "nb.ipynb").stdout.splitlines()
    assert [line.split(":")[1] for line in lines if " TL000 " in line] == ["cell 15", "cell 16"]


def test_blanks_left_for_the_reader_are_not_syntax_errors(cwd: Path) -> None:
    """Exercise notebooks leave `criterion = # TODO` and bodiless `def`s for the reader to
    write: not errors. A cell broken anywhere else, and a filled-in blank that is still
    wrong, are TL000; the other cells are linted as before."""
    notebook = training_notebook()
    notebook["cells"] += [
        code(["# TODO: define the loss\n", "criterion = # cross-entropy\n", "lr = 0.01"]),
        code(["n_epochs = \n", "for epoch in range(n_epochs):\n", "    pass"]),
        code(["# TODO: one-hot encode the rank\n", "one_hot = pass\n"]),
        code(["def fake_loss(d_out):\n", "    # compute the loss for the fake images\n"]),
        code(["x = model(batch"]),
        code(["if x == \n", "    pass"]),
        # a template's `???` blanks, where a name or an expression goes
        code(["model = ???\n", "model = model.cuda()"]),
        code(["optimizer = torch.optim.SGD(???)\n", "for ??? in train_loader:\n", "    ???"]),
        code(["%%time\n", "criterion = ??? # TODO\n", "lr = "]),
        # with a syntax error besides its blank, still an error
        code(["loss = ???\n", "x = model(batch"]),
    ]
    write_notebook(cwd / "nb.ipynb", notebook)
    lines = invoke("check", "--output-format", "concise", "nb.ipynb").stdout.splitlines()
    assert [line.split(":")[1] for line in lines if " TL000 " in line] == [
        "cell 14",
        "cell 15",
        "cell 19",
    ]
    assert [line.split(": ")[1].split()[0] for line in lines][:2] == ["TL101", "TL201"]


def test_a_cell_ipython_runs_after_removing_its_leading_indent_is_not_an_error(cwd: Path) -> None:
    """IPython strips the first line's indentation from every line of a cell (its
    `leading_indent` transform): ` x = 1` runs. A cell indented past its first line does not."""
    notebook = training_notebook()
    notebook["cells"] += [
        code(["\n", ' device = "cuda" if torch.cuda.is_available() else "cpu"\n', " device"]),
        code(["x = 1\n", "  y = 2"]),
    ]
    write_notebook(cwd / "nb.ipynb", notebook)
    lines = invoke("check", "--output-format", "concise", "nb.ipynb").stdout.splitlines()
    assert [line.split(":")[1] for line in lines if " TL000 " in line] == ["cell 11"]


def test_a_percent_continuation_in_brackets_is_python_not_a_magic(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["cells"] += [
        code(["print(\n", '    "%d examples in %.2f minutes"\n', "    % (n, minutes)\n", ")"]),
        code(["if not ready:\n", "    os.makedirs(path)\n", "    !wget https://x/y.zip -O y.zip"]),
        # a magic elsewhere in the cell: the `%` line still continues the open bracket
        code(
            [
                "%%time\n",
                "for epoch in range(3):\n",
                "    print('Epoch: %03d | Cost: %.4f'\n",
                "          %(epoch+1, cost))",
            ]
        ),
        code(["%matplotlib inline\n", "x = 'a %s' \\\n", "    % b\n", "!pip install torch"]),
    ]
    write_notebook(cwd / "nb.ipynb", notebook)
    lines = invoke("check", "--output-format", "concise", "nb.ipynb").stdout.splitlines()
    assert not [line for line in lines if " TL000 " in line]


def test_non_python_notebooks_and_cells_are_skipped(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["metadata"] = {
        "kernelspec": {"language": "R", "name": "ir"},
        "language_info": {"name": "R"},
    }
    write_notebook(cwd / "r.ipynb", notebook)
    done = invoke("check", "r.ipynb")
    assert done.exit_code == 0, done.output
    # the %%bash cell in the Python notebook mentions `.cuda()` but is never linted
    write_notebook(cwd / "py.ipynb")
    assert "cell 7" not in invoke("check", "py.ipynb").stdout


def test_directories_include_notebooks_but_not_checkpoints(cwd: Path) -> None:
    (cwd / "nbs" / ".ipynb_checkpoints").mkdir(parents=True)
    write_notebook(cwd / "nbs" / "a.ipynb")
    write_notebook(cwd / "nbs" / ".ipynb_checkpoints" / "a-checkpoint.ipynb")
    out = invoke("check", "--output-format", "concise", ".").stdout
    assert {line.split(":")[0] for line in out.splitlines()} == {"nbs/a.ipynb"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "nb.ipynb: not valid JSON"),
        ('{"metadata": {}}', "nb.ipynb: not a notebook"),
        ('{"cells": [{"cell_type": "code"}]}', "nb.ipynb: cell 1 has no `source`"),
    ],
)
def test_bad_notebooks_are_one_clear_error(cwd: Path, content: str, message: str) -> None:
    (cwd / "nb.ipynb").write_text(content)
    (cwd / "ok.py").write_text(
        "import torchvision; from torch.utils.data import DataLoader\nDataLoader(torchvision.datasets.ImageFolder(d), shuffle=True)\n"
    )
    done = invoke("check", "--output-format", "concise", "nb.ipynb", "ok.py")
    assert done.exit_code == 2
    assert message in done.stderr
    assert "Traceback" not in done.output
    assert done.stdout.startswith("ok.py:2:1: TL101")  # the other file is still linted


def test_noqa_and_per_file_ignores_work_in_notebooks(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["cells"][3]["source"][2] = (
        "loader = DataLoader(dataset, batch_size=64)  # noqa: TL101\n"
    )
    write_notebook(cwd / "nb.ipynb", notebook)
    out = invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    assert "TL101" not in out and "TL201" in out
    (cwd / "pyproject.toml").write_text(
        '[tool.torchlint]\nper-file-ignores = { "*.ipynb" = ["TL201"] }\n'
    )
    assert invoke("check", "nb.ipynb").exit_code == 0


def test_source_as_one_string_and_stdin(cwd: Path) -> None:
    notebook = training_notebook()
    for cell in notebook["cells"]:
        cell["source"] = "".join(cell["source"])
    text = nbformat_dumps(notebook)
    done = invoke(
        "check", "--output-format", "concise", "--stdin-filename", "nb.ipynb", stdin=text.encode()
    )
    assert [line.split(": ")[0] for line in done.stdout.splitlines()] == [
        "nb.ipynb:cell 4:3:10",
        "nb.ipynb:cell 5:1:75",
    ]


# --- IPython syntax ---


@pytest.mark.parametrize(
    "line",
    [
        "%matplotlib inline",
        "%time x = model(batch)",
        "!pip install torch",
        "files = !ls",
        "a, b = %sx echo 1 2",
        "model?",
        "torch.nn.Module??",
        "??model.forward",
        "np.*load*?",
        "    %timeit step()",
        "!ls \\",
    ],
)
def test_magics_are_masked(line: str) -> None:
    originals: dict[int, str] = {}
    masked = mask_magics(line + "\n", [0], originals)
    indent = line[: len(line) - len(line.lstrip())]
    assert masked == f"{indent}import _torchlint_magic_0_\n"
    assert originals == {0: line}
    assert unmask_magics(masked, originals, set()) == line + "\n"


@pytest.mark.parametrize(
    "line",
    [
        "x = 1  # is this right?",
        "# %matplotlib inline",
        "x != y",
        "y = x % 2",
        "get_ipython().system('ls')",
        "print('?')",
    ],
)
def test_python_lines_are_not_masked(line: str) -> None:
    originals: dict[int, str] = {}
    assert mask_magics(line + "\n", [0], originals) == line + "\n"
    assert originals == {}


def test_magic_continuation_lines_and_strings() -> None:
    source = "!echo a \\\n  b\ntext = '''\n%not magic\n'''\n%%time"
    originals: dict[int, str] = {}
    masked = mask_magics(source, [0], originals)
    assert masked.splitlines() == [
        "import _torchlint_magic_0_",
        "import _torchlint_magic_1_",
        "text = '''",
        "%not magic",
        "'''",
        "import _torchlint_magic_2_",  # the string's line is read as one, not masked
    ]
    assert unmask_magics(masked, originals, set()) == source


def test_a_line_magic_only_starts_a_logical_line() -> None:
    """A line starting with `%`, `!` or `?` inside open brackets, a string or after a
    backslash continues Python; before and after such a line, real magics are masked."""
    source = (
        "%%time\n"
        "print('Epoch: %03d | Cost: %.4f'\n"
        "      %(epoch+1, cost))\n"
        "%matplotlib inline\n"
        "x = 'a %s' \\\n"
        "    % b  # not a comment's backslash \\\n"
        "!pip install torch\n"
        "y = [1,\n"
        "     !2]\n"
    )
    originals: dict[int, str] = {}
    masked = mask_magics(source, [0], originals)
    assert list(originals.values()) == ["%%time", "%matplotlib inline", "!pip install torch"]
    assert masked.splitlines()[1:3] == source.splitlines()[1:3]
    assert masked.splitlines()[4:6] == source.splitlines()[4:6]
    assert unmask_magics(masked, originals, set()) == source


def test_cell_magics_with_a_python_body_are_linted() -> None:
    notebook = parse_notebook(nbformat_dumps(training_notebook()))
    kinds = [(cell.index, cell.lint) for cell in notebook.cells]
    assert kinds == [
        (1, False),
        (2, True),
        (3, False),
        (4, True),
        (5, True),
        (6, True),
        (7, False),
        (8, False),
        (9, True),
    ]


# --- fixing ---


def test_fix_round_trip_touches_only_code_cell_sources(cwd: Path) -> None:
    before = write_notebook(cwd / "train.ipynb")
    done = invoke("fix", "--unsafe-fixes", "--extend-select", "TL201", "train.ipynb")
    assert done.exit_code == 0, done.output
    assert "Fixed 2 errors." in done.stderr
    after = (cwd / "train.ipynb").read_text(encoding="utf-8")
    # byte-identical outside the sources, and still exactly nbformat's layout
    assert without_sources(after) == without_sources(before)
    assert nbformat_dumps(json.loads(after)) == after
    old, new = json.loads(before), json.loads(after)
    for old_cell, new_cell in zip(old["cells"], new["cells"], strict=True):
        assert {k: v for k, v in old_cell.items() if k != "source"} == {
            k: v for k, v in new_cell.items() if k != "source"
        }
    sources = ["".join(cell["source"]) for cell in new["cells"]]
    assert sources[1].endswith(
        "import torch\nfrom torchlint.runtime import best_device, make_loader\n"
        "from torchvision import datasets, transforms"
    )
    assert sources[1].startswith(
        "%load_ext autoreload\n%autoreload 2\n!pip install -q torchvision\n"
    )
    assert sources[3].startswith("%%time\n")  # a cell magic stays first in its cell
    assert "loader = make_loader(dataset, batch_size=64, shuffle=True)\n" in sources[3]
    # `device` is bound later in the cell (to "cpu"): the selection goes inline, not shadowing
    # it, and the lengthened line is wrapped as ruff format would
    assert sources[4].startswith(
        "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).to(\n"
        "    best_device()\n)\n"
    )
    assert "model?\nfiles = !ls data\n" in sources[4]
    assert sources[5] == "".join(
        old["cells"][5]["source"]
    )  # the magic and the noqa'd line untouched
    assert sources[6] == "%%bash\necho model.cuda()\n"
    assert BOUNDARY not in after and "_torchlint_magic_" not in after
    # a second run changes nothing
    again = invoke("fix", "--unsafe-fixes", "train.ipynb")
    assert again.exit_code == 0 and "Fixed" not in again.stderr
    assert (cwd / "train.ipynb").read_text(encoding="utf-8") == after


def test_safe_fix_leaves_unsafe_ones_and_reports_them(cwd: Path) -> None:
    notebook = training_notebook()
    notebook["cells"][5]["source"].append("\ny = torch.log(1 + x)")
    before = write_notebook(cwd / "nb.ipynb", notebook)
    done = invoke("fix", "--output-format", "concise", "nb.ipynb")
    assert done.exit_code == 1
    assert "Fixed 1 error." in done.stderr
    assert [line.split(": ")[1].split()[0] for line in done.stdout.splitlines()] == [
        "TL101",
        "TL201",
    ]
    after = (cwd / "nb.ipynb").read_text(encoding="utf-8")
    assert "y = torch.log1p(x)" in after
    assert without_sources(after) == without_sources(before)


def test_fix_diff_shows_cells_and_writes_nothing(cwd: Path) -> None:
    before = write_notebook(cwd / "nb.ipynb")
    done = invoke("fix", "--diff", "--unsafe-fixes", "nb.ipynb")
    assert done.exit_code == 1
    assert "--- a/nb.ipynb:cell 4\n+++ b/nb.ipynb:cell 4\n" in done.stdout
    assert (
        "-loader = DataLoader(dataset, batch_size=64, shuffle=True)\n+loader = make_loader("
        in done.stdout
    )
    assert (cwd / "nb.ipynb").read_text(encoding="utf-8") == before


def test_fix_keeps_another_json_style(cwd: Path) -> None:
    """2-space indent, ASCII escapes, no final newline, unsorted keys: all kept."""
    notebook = training_notebook()
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": notebook["metadata"],
        "cells": notebook["cells"],
    }
    before = json.dumps(notebook, indent=2, ensure_ascii=True)
    (cwd / "nb.ipynb").write_text(before)
    assert invoke("fix", "--unsafe-fixes", "nb.ipynb").exit_code == 0
    after = (cwd / "nb.ipynb").read_text()
    assert after == json.dumps(json.loads(after), indent=2, ensure_ascii=True)
    assert after.isascii() and "premi\\u00e8re" in after
    assert without_sources(after) == without_sources(before)
    assert list(json.loads(after)) == ["nbformat", "nbformat_minor", "metadata", "cells"]


def test_fix_compact_notebook_and_crlf_sources(cwd: Path) -> None:
    notebook = {
        "cells": [code(["import torch\r\n", "x = torch.log(1 + y)\r\n", "z = 1"])],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    before = json.dumps(notebook)
    (cwd / "nb.ipynb").write_text(before)
    assert invoke("fix", "nb.ipynb").exit_code == 0
    after = (cwd / "nb.ipynb").read_text()
    assert json.loads(after)["cells"][0]["source"] == [
        "import torch\r\n",
        "x = torch.log1p(y)\r\n",
        "z = 1",
    ]
    assert after == before.replace("torch.log(1 + y)", "torch.log1p(y)")


def test_fix_from_stdin_prints_the_notebook(cwd: Path) -> None:
    text = nbformat_dumps(training_notebook())
    done = invoke("fix", "--unsafe-fixes", "--stdin-filename", "nb.ipynb", stdin=text.encode())
    assert done.exit_code == 0
    fixed = json.loads(done.stdout)
    assert "make_loader(" in "".join(fixed["cells"][3]["source"])
    assert without_sources(done.stdout) == without_sources(text)


def test_json_parser_spans() -> None:
    text = '{"a": [1, "x\\n", {"b": null}], "c": -2.5e3, "d": true}'
    root = parse_json(text)
    assert root.value == json.loads(text)
    items = root.members["a"].items  # type: ignore[index]
    assert text[items[1].start : items[1].end] == '"x\\n"'
    with pytest.raises(NotebookError):
        parse_json('{"a": 1,}')


def test_notebook_module_only_turns_cells_into_code_and_back() -> None:
    """The runner lints and fixes a notebook's code as a file's: no import runs back up."""
    import ast

    import torchlint.notebook

    tree = ast.parse(Path(torchlint.notebook.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torchlint")
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("torchlint")
    }
    assert imported == {"torchlint.diagnostics"}


def test_a_loader_every_cell_reads_for_one_batch_is_not_reported(cwd: Path) -> None:
    """TL101 judges the reads of a loader over all the cells: a later cell that trains on
    it counts as much as one in the same cell."""
    cells = [
        code(["from torch.utils.data import DataLoader\n", "from torchvision import datasets"]),
        code(["loader = DataLoader(datasets.ImageFolder(root), shuffle=True)"]),
        code(["images, labels = next(iter(loader))\n", "show(images)"]),
    ]
    notebook = {**training_notebook(), "cells": cells}
    write_notebook(cwd / "nb.ipynb", notebook)
    assert "TL101" not in invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    notebook["cells"].append(code(["for x, y in loader:\n", "    step(x, y)"]))
    write_notebook(cwd / "nb.ipynb", notebook)
    out = invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    assert out.startswith("nb.ipynb:cell 2:1:10: TL101")


def test_a_loop_in_another_cell_that_leaves_in_its_first_pass_is_a_look_at_a_batch(
    cwd: Path,
) -> None:
    """TL101: the loop that shows a batch and breaks is in a later cell; a cell that binds
    the name again for training is judged by its own reads."""
    cells = [
        code(["from torch.utils.data import DataLoader\n", "from torchvision import datasets"]),
        code(["test_loader = DataLoader(datasets.ImageFolder(root), shuffle=True)"]),
        code(["for images, labels in test_loader:\n", "    show(images)\n", "    break"]),
    ]
    notebook = {**training_notebook(), "cells": cells}
    write_notebook(cwd / "nb.ipynb", notebook)
    assert "TL101" not in invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    notebook["cells"].append(
        code(["test_loader = DataLoader(datasets.ImageFolder(root), shuffle=True)"])
    )
    notebook["cells"].append(code(["for x, y in test_loader:\n", "    step(x, y)"]))
    write_notebook(cwd / "nb.ipynb", notebook)
    out = invoke("check", "--output-format", "concise", "nb.ipynb").stdout
    assert [line.split(":")[1] for line in out.splitlines() if "TL101" in line] == ["cell 4"]
