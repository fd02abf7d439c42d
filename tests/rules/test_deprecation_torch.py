"""Every TL6 entry checked against the installed torch: it warns, is documented deprecated,
or is gone. A deprecation that torch took back (as `F.sigmoid` / `F.tanh` in torch 2.x) fails
here instead of reaching users as noise. Skipped where torch is not installed."""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from torchlint.rules.deprecation import VARIABLE
from torchlint.rules.deprecation.deprecated_amp_api import AMP
from torchlint.rules.deprecation.deprecated_functional import FUNCTIONAL
from torchlint.rules.deprecation.init_without_underscore import RENAMED
from torchlint.rules.deprecation.legacy_reduction_args import LOSSES
from torchlint.rules.deprecation.legacy_tensor_constructor import CONSTRUCTORS
from torchlint.rules.deprecation.nonpublic_api import PUBLIC
from torchlint.rules.deprecation.removed_or_deprecated_function import TABLE
from torchlint.rules.deprecation.set_default_tensor_type import SET_DEFAULT
from torchlint.rules.deprecation.torchvision_deprecated_api import TO_TENSOR

torch = pytest.importorskip("torch")

GONE = object()


def resolve(qualified: str) -> Any:
    """The object ``qualified`` names in the installed packages, or ``GONE``."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part, GONE)
            if found is GONE:
                return GONE
        return found
    return GONE


class _Registered:
    """A fresh class for the pytree registration call."""


# How to use an entry whose docstring does not say it is deprecated, to see it warn (or
# raise that it was removed). A new such entry needs a line here.
USES: dict[str, Callable[[Any], object]] = {
    "torch.solve": lambda f: f(torch.eye(2), torch.eye(2)),
    "torch.lstsq": lambda f: f(torch.eye(2), torch.eye(2)),
    "torch.symeig": lambda f: f(torch.eye(2)),
    "torch.matrix_rank": lambda f: f(torch.eye(2)),
    "torch.backends.cuda.sdp_kernel": lambda f: f(),
    # the name is also a submodule, which `resolve` finds first: call the function itself
    "torch.nn.utils.weight_norm": lambda f: torch.nn.utils.weight_norm(torch.nn.Linear(2, 2)),
    "torch.utils._pytree._register_pytree_node": lambda f: f(
        _Registered, lambda x: ([], None), lambda values, context: _Registered()
    ),
}


def evidence(qualified: str) -> str | None:
    """Why ``qualified`` is worth reporting on this torch, or None when nothing shows it."""
    found = resolve(qualified)
    if found is GONE:
        return "gone"
    if "deprecat" in (inspect.getdoc(found) or "").lower():
        return "documented"
    use = USES.get(qualified)
    if use is None:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            use(found)
        except RuntimeError as error:
            return "gone" if "removed" in str(error) else None
    if any("deprecat" in str(warning.message).lower() for warning in caught):
        return "warns"
    return None


DEPRECATED_NAMES = sorted({*AMP, *FUNCTIONAL, *RENAMED, *TABLE, *SET_DEFAULT})


@pytest.mark.parametrize("qualified", DEPRECATED_NAMES)
def test_each_deprecated_name_warns_is_documented_or_is_gone(qualified: str) -> None:
    assert evidence(qualified) is not None, (
        f"{qualified} neither warns, nor is documented deprecated, nor is gone in torch "
        f"{torch.__version__}: drop it from its rule's table (or add a use to USES)"
    )


@pytest.mark.parametrize("qualified", ["torch.nn.functional.sigmoid", "torch.nn.functional.tanh"])
def test_the_functionals_tl605_dropped_no_longer_warn(qualified: str) -> None:
    """If a torch release deprecated them again, TL605 should report them again."""
    function = resolve(qualified)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        function(torch.zeros(2))
    assert evidence(qualified) is None


def test_size_average_and_reduce_warn_or_are_documented_deprecated() -> None:
    silent = []
    for qualified in sorted(LOSSES):
        loss = resolve(qualified)
        if loss is GONE:
            continue
        if inspect.isclass(loss):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loss(size_average=False)
            if not any("deprecat" in str(w.message) for w in caught):
                silent.append(qualified)
        elif "size_average" in (doc := inspect.getdoc(loss) or "") and "Deprecated" not in doc:
            silent.append(qualified)
    assert silent == []


def test_torch_tensor_of_a_tensor_warns() -> None:
    with pytest.warns(UserWarning, match="copy construct from a tensor"):
        torch.tensor(torch.ones(2))


def test_variable_is_a_no_op_and_volatile_warns() -> None:
    """``Variable(t)`` gives back a plain tensor: the wrapper does nothing any more."""
    tensor = torch.ones(2)
    for qualified in VARIABLE:
        wrapped = resolve(qualified)(tensor)
        assert type(wrapped) is torch.Tensor
        assert wrapped.data_ptr() == tensor.data_ptr()
        with pytest.warns(UserWarning, match="volatile was removed"):
            resolve(qualified)(tensor, volatile=True)


def test_private_collate_names_are_the_public_functions() -> None:
    for private, public in PUBLIC.items():
        assert resolve(private) is resolve(public)


@pytest.mark.parametrize("qualified", sorted(q for q in CONSTRUCTORS if ".cuda." not in q))
def test_legacy_constructors_take_sizes_not_values(qualified: str) -> None:
    """The form TL608 reports: an integer argument is a size, and the memory is not set."""
    made = resolve(qualified)(3)
    assert made.shape == (3,)
    assert resolve(qualified)(0).numel() == 0  # not the value 0


@pytest.mark.parametrize("qualified", sorted(q for q in CONSTRUCTORS if ".cuda." in q))
def test_cuda_legacy_constructors_hard_code_the_device(qualified: str) -> None:
    constructor = resolve(qualified)
    if torch.cuda.is_available():
        assert constructor(2).is_cuda
    else:
        with pytest.raises(TypeError, match="not available"):
            constructor(2)


def test_torchvision_entries() -> None:
    pytest.importorskip("torchvision")
    for qualified in TO_TENSOR:
        assert evidence(qualified) is not None, qualified
    models = importlib.import_module("torchvision.models")
    with pytest.warns(UserWarning, match="deprecated"):
        models.resnet18(pretrained=False)
