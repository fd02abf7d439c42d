"""TL000 invalid-syntax."""

from torchlint.rules.base import Invalid, Rule, Valid


class InvalidSyntax(Rule):
    """
    ## What it does
    Reports a file that does not parse, at the position of the syntax error.

    ## Why is this bad?
    Nothing else in a file that does not parse can be checked, and Python will refuse to
    run it. The other files are still linted.

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
        Valid("def train():\n    pass\n"),
        Valid("x = (1,\n     2)\n"),
        Valid("match command:\n    case [x]:\n        pass\n"),
        Valid(""),
    )
