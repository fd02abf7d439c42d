"""Files a run leaves unchecked on purpose, and why: every output format and the summary
name them, so that a skipped file never reads as a clean one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

TOO_LARGE = "larger than max-file-size"


@dataclass(frozen=True)
class NotChecked:
    path: str
    setting: str  # the setting that skipped it: "max-file-size", "max-nesting", ... "python-2"
    reason: str  # after "the file is": "larger than max-file-size"
    why: str = ""  # "not checked: 2 KiB is more than `max-file-size` (1 KiB)": by how much


def larger_than_max_file_size(path: str, why: str = "") -> NotChecked:
    return NotChecked(path, "max-file-size", TOO_LARGE, why)


def nested_too_deeply(path: str, limit: int, why: str = "") -> NotChecked:
    return NotChecked(path, "max-nesting", nested_reason(limit), why)


def too_costly_to_parse(path: str, limit: int, why: str = "") -> NotChecked:
    return NotChecked(path, "max-parse-memory", costly_reason(limit), why)


def chained_too_long(path: str, limit: int, why: str = "") -> NotChecked:
    return NotChecked(path, "operator-chain", chain_reason(limit), why)


PYTHON_2 = "Python 2 code"


def python_2(path: str, why: str = "") -> NotChecked:
    """Python 2 code (``print "x"``, ``except E, e:``): its TL000 is not one a maintainer
    acts on, and nothing else in it can be checked."""
    return NotChecked(path, "python-2", PYTHON_2, why)


def chain_reason(limit: int) -> str:
    return f"an expression chains more than {limit:,} operators"


def costly_reason(limit: int) -> str:
    return f"estimated to take more than {limit:,} MiB to parse"


def nested_reason(limit: int) -> str:
    return f"nested deeper than {limit:,} brackets"


def note(skipped: Sequence[NotChecked]) -> str:
    """``1 file not checked: larger than max-file-size``; with several reasons, each with
    its count (``2 files not checked: 1 larger than max-file-size, 1 nested deeper than 40
    brackets``); '' when every file was checked."""
    if not skipped:
        return ""
    count = len(skipped)
    reasons = Counter(item.reason for item in skipped)
    said = (
        next(iter(reasons))
        if len(reasons) == 1
        else ", ".join(f"{n} {reason}" for reason, n in reasons.items())
    )
    return f"{count} file{'s' if count != 1 else ''} not checked: {said}"
