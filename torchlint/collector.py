"""Garbage-collector settings for a batch run: libcst builds millions of small objects.

CPython starts a collection every 700 net allocations and, every tenth of those, walks
the older objects too: during a parse that is thousands of collections, each visiting the
imported modules and the trees still alive, and it finds almost nothing (CST nodes hold no
reference cycles; reference counting frees them). Freezing what is imported moves it out of
the collector's sight, and a larger first threshold makes collections rarer. Measured on a
cold run over a sample of the ecosystem corpus (``gc.callbacks``): the collector's share of
the CPU time fell from 12 % to under 5 %, for a few MB more memory. (mypy does the same.)
"""

from __future__ import annotations

import gc

FIRST_THRESHOLD = 100_000


def tune_for_batch() -> None:
    """Set once, before linting: ``--jobs`` workers forked from this process (Linux) inherit
    it; spawned ones (macOS, Windows) keep Python's defaults."""
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_THRESHOLD, second, third)
