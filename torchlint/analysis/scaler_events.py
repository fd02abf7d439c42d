"""What a function does with its gradient scalers, in source order: read once per function
for the three rules about ``GradScaler`` (TL903 clip-scaled-gradients, TL904
scaler-step-without-update, TL905 backward-bypasses-scaler), which each walked the
function's calls for their own part of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.distributed import (
    DistFacts,
    Site,
    callee,
    dist_facts,
    mentions_attribute,
    scaled_backward,
)
from torchlint.names import dotted_name

if TYPE_CHECKING:
    from torchlint.context import FileContext


@dataclass(eq=False)
class ScalerEvents:
    """The calls of one function that matter to a scaler, each list in source order."""

    facts: DistFacts
    sites: tuple[Site, ...]  # every call of the function
    backwards: list[tuple[int, str, Site]] = field(default_factory=list)  # scaled, by scaler
    unscales: dict[str, int] = field(default_factory=dict)  # first `unscale_` per scaler
    steps: dict[str, list[Site]] = field(default_factory=dict)  # `<receiver>.step(...)`
    step_orders: dict[str, list[int]] = field(default_factory=dict)
    handed: dict[str, list[int]] = field(default_factory=dict)  # calls a name is passed to
    # `.step()` of anything, and scaled backwards: what may come after a backward
    stops: list[Site] = field(default_factory=list)
    stop_orders: list[int] = field(default_factory=list)

    @cached_property
    def helpers(self) -> list[int]:
        """The calls that may unscale: a same-file helper that does, or a ``self.`` method
        torchlint cannot find (only TL903 asks: it looks into other functions)."""
        return [site.order for site in self.sites if _may_unscale(self.facts, site)]


def scaler_events(context: FileContext, function: cst.CSTNode) -> ScalerEvents:
    """The scaler events of ``function`` (a FunctionDef, or the Module), computed once."""
    cache: dict[int, ScalerEvents] = context.fact("distributed.scaler_events", lambda _: {})
    found = cache.get(id(function))
    if found is None:
        found = cache[id(function)] = _events(dist_facts(context), function)
    return found


def _events(facts: DistFacts, function: cst.CSTNode) -> ScalerEvents:
    events = ScalerEvents(facts, tuple(facts.by_function.get(id(function), ())))
    for site in events.sites:
        scaler = scaled_backward(site)
        if scaler is not None:
            events.backwards.append((site.order, scaler, site))
        receiver, method = site.receiver(), site.method()
        if method == "unscale_" and receiver is not None:
            events.unscales.setdefault(receiver, site.order)
        if method == "step" and receiver is not None:
            events.steps.setdefault(receiver, []).append(site)
            events.step_orders.setdefault(receiver, []).append(site.order)
        if method == "step" or scaler is not None:
            events.stops.append(site)
            events.stop_orders.append(site.order)
        for arg in site.node.args:
            text = dotted_name(arg.value)
            if text is not None:
                events.handed.setdefault(text, []).append(site.order)
    return events


def _may_unscale(facts: DistFacts, site: Site) -> bool:
    func = site.node.func
    found = callee(facts, site)
    if found is not None:
        return mentions_attribute(found, "unscale_")
    return (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == "self"
    )


def scaler_updates(context: FileContext) -> frozenset[str | None]:
    """Receivers of every ``.update()`` call in the file: a helper method may update the
    scaler a function steps."""
    return context.fact(
        "distributed.scaler_updates",
        lambda context: frozenset(
            site.receiver() for site in dist_facts(context).sites if site.method() == "update"
        ),
    )
