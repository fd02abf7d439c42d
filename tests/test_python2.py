"""Python 2 files are not checked (named in the summary), not TL000; a Python 3 syntax
error stays TL000, however much Python 2 it resembles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchlint.python2 import python2_syntax

PYTHON_2 = [  # (what the file stops at, the file)
    ("a print statement", "import os\n\nprint 'hello', os.sep\n"),
    ("a print statement", "if verbose: print 'step'\nprint 'done'\n"),
    ("a print statement", "import sys\nprint >>sys.stderr, 'x'\nprint 'y %d' % (1,\n    )\n"),
    ("`except E, e:`", "try:\n    pass\nexcept (IOError, OSError), e:\n    pass\n"),
    ("an exec statement", "exec code in namespace\n"),
    ("`raise E, message`", "raise ValueError, 'bad value'\n"),
    ("a backtick repr", "key = `value`\nprint key\n"),
    ("`<>`", "if a <> b:\n    pass\n"),
    ("an octal literal", "import os\nos.chmod(path, 0777)\nprint 'done'\n"),
    ("a long literal", "mask = 0xFFFFFFFFL\nprint mask\n"),
    ("a `ur` string", "pattern = ur'\\w+'\nprint pattern\n"),
    ("a tuple parameter", "key = lambda (k, v): v\nprint key\n"),
    ("a tuple parameter", "def f(a, (b, c)):\n    print a\n"),
]


@pytest.mark.parametrize(("construct", "source"), PYTHON_2)
def test_python_2_constructs_are_recognised(construct: str, source: str) -> None:
    found = python2_syntax(source)
    assert found is not None
    assert found.construct == construct


PYTHON_3_ERRORS = [
    "import torch\nx = torch.ones(2).cuda(async=True)\nprint 'x'\n",  # 3.7+: `async` a keyword
    "def train()\n    pass\nprint 'x'\n",  # a missing colon before any Python 2
    # Python 3 files with a stray print statement: files to fix
    "name = 'x'\nprint f'{name}'\nprint name\n",
    "class A(B):\n    def __init__(self):\n        super().__init__()\n        print 'x'\n",
    "def f(x) -> int:\n    print x\n",
    "print('a', end='')\nprint 'b'\n",
    # two exception types without their brackets: a Python 3 bug, not Python 2's `as`
    "try:\n    pass\nexcept ValueError, TypeError:\n    print 'x'\n",
    "async def f():\n    print 'x'\n",
    # Python 2 look-alikes in strings and comments
    "s = 'print x'\nt = (\n",
    "# print x, except E, e:\nt = (\n",
    '"""Use `x` <> y."""\ndef f(:\n    pass\n',
    # what parses, and errors that are not Python 2's
    "print('x')\n",
    "if 1:\n\tx = 1\n        print 'y'\n",
    "def f(a=(1, 2))\n    print 'x'\n",
]


@pytest.mark.parametrize("source", PYTHON_3_ERRORS)
def test_python_3_code_and_its_errors_are_not_python_2(source: str) -> None:
    assert python2_syntax(source) is None


def test_a_python_2_file_is_not_checked_and_said_so(tmp_path: Path, run_cli) -> None:
    (tmp_path / "legacy.py").write_text(
        "import os\n\ndef main():\n    try:\n        pass\n    except IOError, e:\n"
        "        print 'failed', e\n"
    )
    (tmp_path / "train.py").write_text("import torch\nx = torch.ones(2).cuda(async=True)\n")
    done = run_cli("check", "--output-format", "json", ".")
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert [(d["filename"], d["code"]) for d in found] == [("train.py", "TL000")]
    errors = done.stderr.decode().splitlines()
    assert errors[-1] == "(1 file not checked: Python 2 code.)"
    assert (
        "torchlint: warning: legacy.py: not checked: Python 2 code (`except E, e:` at line 6), "
        "which Python 3 does not parse; exclude the file, or port it"
    ) in errors
    sarif = json.loads(run_cli("check", "--output-format", "sarif", "legacy.py").stdout)
    (notification,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notification["descriptor"]["id"] == "python-2"
    assert notification["message"]["text"] == "not checked: the file is Python 2 code"
