"""One severity story, ruff's: every diagnostic is an error.

A diagnostic is something to fix or to suppress, whatever its fix's applicability (a
display-only fix is a hint on how, not a lesser finding). Every format says so the same way
(GitHub ``::error``, SARIF ``level: error``), and the summary counts every diagnostic as an
error; only fixes ``torchlint fix`` would apply count as fixable.
"""

LEVEL = "error"
