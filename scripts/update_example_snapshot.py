"""Rewrite tests/rules/example_snapshot.json from the rules' Invalid examples.

Run it when a rule's examples, positions or fix applicability change on purpose, and read
`git diff tests/rules/example_snapshot.json` before committing: every changed line is a
changed promise (a diagnostic that moved, a fix that plain `fix` now applies).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.example_snapshot import SNAPSHOT, dump, live_snapshot

if __name__ == "__main__":
    SNAPSHOT.write_text(dump(live_snapshot()))
    print(f"updated {SNAPSHOT}")
