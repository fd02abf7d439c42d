"""When each API a version rule reports warns or is gone, and when its replacement appeared.

One table for every version rule, so the facts are read and checked in one place (a test
walks the catalog against it). ``verdict`` applies them to a file's supported range
(``Settings.range_of``: its project's declared requirements, ``target-version`` and
``max-target-version``, evidence such as an import of ``torch._six``):

- a diagnostic only where some supported release warns or breaks: a project whose newest
  supported torch is 2.2 never sees the warning that 2.4 added;
- a fix only where the replacement exists on the oldest supported release; otherwise the
  message says which supported releases lack it, and no fix is offered;
- where the oldest supported release is not known, the fix is offered and its message says
  which torch it assumes.

``Rule.report(..., api=...)`` asks the table; a rule does not repeat these checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torchlint.torch_versions import Version, format_version

if TYPE_CHECKING:
    from torchlint.config import Settings

ALWAYS: Version = (0, 0)  # a hazard on every release (an unsafe load)
FUNCTORCH = ("vmap", "grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "functionalize")


@dataclass(frozen=True)
class ApiFacts:
    """What one reported API does across releases of ``package``.

    ``hazard``: the first release where using it warns or fails (None: it never does; the
    finding is worth acting on only through its replacement, as with a private path to a
    public function). ``replacement``: what the fix writes (a dotted name or a keyword), and
    ``since``: the first release that has it."""

    hazard: Version | None
    replacement: str
    since: Version | None = None
    package: str = "torch"


def _amp(device: str, kind: str) -> ApiFacts:
    # torch.amp.GradScaler("cuda") and torch.amp.custom_fwd(device_type=) are 2.4's (the
    # device-generic autocast is older, but the rule writes the 2.4 forms throughout); the
    # device-specific spellings warn (FutureWarning) from 2.4.
    return ApiFacts((2, 4), f"torch.amp.{kind}", (2, 4))


# code -> {qualified API: facts}; the key None holds the facts of every use the rule reports
# without naming an API.
FACTS: dict[str, dict[str | None, ApiFacts]] = {
    "TL601": {
        f"torch.{device}.amp{module}.{kind}": _amp(device, kind)
        for device, kinds in (
            ("cuda", ("autocast", "GradScaler", "custom_fwd", "custom_bwd")),
            ("cpu", ("autocast", "GradScaler")),
        )
        for kind in kinds
        for module in (
            "",
            ".grad_scaler" if kind == "GradScaler" else ".autocast_mode",
        )
    },
    # set_default_tensor_type warns from 2.1; set_default_dtype is far older.
    "TL609": {"torch.set_default_tensor_type": ApiFacts((2, 1), "torch.set_default_dtype")},
    # The torch.linalg counterparts arrived in 1.8-1.13; the old functions warn from the
    # release their replacement appeared (not before: a warning needs somewhere to point).
    "TL610": {
        "torch.solve": ApiFacts((1, 9), "torch.linalg.solve", (1, 8)),
        "torch.symeig": ApiFacts((1, 9), "torch.linalg.eigh", (1, 8)),
        "torch.matrix_rank": ApiFacts((1, 9), "torch.linalg.matrix_rank", (1, 8)),
        "torch.lstsq": ApiFacts((1, 9), "torch.linalg.lstsq", (1, 9)),
        "torch.qr": ApiFacts((1, 9), "torch.linalg.qr", (1, 9)),
        "torch.cholesky": ApiFacts((1, 9), "torch.linalg.cholesky", (1, 9)),
        "torch.chain_matmul": ApiFacts((1, 9), "torch.linalg.multi_dot", (1, 9)),
        "torch.ger": ApiFacts((1, 8), "torch.outer", (1, 8)),
        "torch.lu": ApiFacts((1, 13), "torch.linalg.lu_factor", (1, 13)),
        "torch.lu_solve": ApiFacts((1, 13), "torch.linalg.lu_solve", (1, 13)),
        "torch.triangular_solve": ApiFacts((1, 11), "torch.linalg.solve_triangular", (1, 11)),
        "torch.testing.assert_allclose": ApiFacts((1, 12), "torch.testing.assert_close", (1, 9)),
        "torch.backends.cuda.sdp_kernel": ApiFacts(
            (2, 3), "torch.nn.attention.sdpa_kernel", (2, 3)
        ),
        "torch.utils._pytree._register_pytree_node": ApiFacts(
            (2, 2), "torch.utils._pytree.register_pytree_node", (2, 2)
        ),
        **{
            f"functorch.{name}": ApiFacts((2, 0), f"torch.func.{name}", (2, 0))
            for name in FUNCTORCH
        },
    },
    # Private path, public function: nothing warns, the public path is the whole point.
    "TL611": {
        f"torch.utils.data._utils.collate.{name}": ApiFacts(
            None, f"torch.utils.data.{name}", (1, 11)
        )
        for name in ("default_collate", "default_convert")
    },
    # `pretrained=` warns from torchvision 0.13, the release that added `weights=`.
    "TL612": {None: ApiFacts((0, 13), "weights=", (0, 13), package="torchvision")},
    # An unsafe load is a hazard everywhere, but only `weights_only` (1.13) can fix it.
    "TL701": {None: ApiFacts(ALWAYS, "weights_only=", (1, 13))},
}


def facts_for(code: str, api: str | None) -> ApiFacts | None:
    table = FACTS.get(code)
    if table is None:
        return None
    return table.get(api) if api is not None else table.get(None)


@dataclass(frozen=True)
class Verdict:
    report: bool  # some supported release warns or breaks (or the finding is actionable)
    fix: bool  # the replacement exists on every supported release
    note: str = ""  # appended to the message: why no fix, or what the fix assumes


def verdict(code: str, api: str | None, settings: Settings, fixed: bool = True) -> Verdict | None:
    """What a version rule may say about ``api`` for a file with these ``settings``; None
    when the table has no facts for it (the rule decides alone). ``fixed``: a fix was
    offered (the note on an assumed floor is only said then)."""
    facts = facts_for(code, api)
    if facts is None:
        return None
    supported = settings.range_of(facts.package)
    lower, upper = supported.lower, supported.upper
    since = facts.since
    has_replacement_on_floor = since is None or (lower is not None and lower >= since)
    if facts.hazard is None:  # nothing warns: only the replacement makes it worth saying
        if not (has_replacement_on_floor or lower is None):
            return Verdict(False, False)
    elif upper is not None and (
        upper < facts.hazard or (since is not None and upper < since)
    ):  # no supported release warns, or none could use the replacement
        return Verdict(False, False)
    if has_replacement_on_floor:
        return Verdict(True, True)
    package = facts.package
    assert since is not None
    if lower is None:
        note = (
            f" (the fix assumes {package} >= {format_version(since)}: no {package} "
            "requirement with a lower bound was found)"
            if fixed
            else ""
        )
        return Verdict(True, True, note)
    newest_lacking = _before(since)
    if upper is not None and upper < newest_lacking:
        newest_lacking = upper
    lacking = format_version(lower)
    if newest_lacking != lower:
        lacking += f" to {format_version(newest_lacking)}"
    return Verdict(
        True,
        False,
        f"; not fixed: `{facts.replacement}` needs {package} {format_version(since)}, "
        f"and {package} {lacking}, which this project supports, lack it",
    )


def _before(version: Version) -> Version:
    from torchlint.torch_versions import _newest_before

    return _newest_before(version)
