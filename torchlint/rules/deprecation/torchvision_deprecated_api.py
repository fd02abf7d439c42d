"""TL612 torchvision-deprecated-api."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use, as_keyword, module_alias, spell


def _table() -> dict[str, str]:
    """Classification builder -> the weights enum whose ``IMAGENET1K_V1`` torchvision maps
    ``pretrained=True`` to (models that had pretrained weights before torchvision 0.13)."""
    table = {"alexnet": "AlexNet_Weights", "googlenet": "GoogLeNet_Weights"}
    table["inception_v3"] = "Inception_V3_Weights"
    for depth in ("11", "13", "16", "19"):
        table[f"vgg{depth}"] = f"VGG{depth}_Weights"
        table[f"vgg{depth}_bn"] = f"VGG{depth}_BN_Weights"
    for depth in ("18", "34", "50", "101", "152"):
        table[f"resnet{depth}"] = f"ResNet{depth}_Weights"
    table["resnext50_32x4d"] = "ResNeXt50_32X4D_Weights"
    table["resnext101_32x8d"] = "ResNeXt101_32X8D_Weights"
    table["wide_resnet50_2"] = "Wide_ResNet50_2_Weights"
    table["wide_resnet101_2"] = "Wide_ResNet101_2_Weights"
    for depth in ("121", "161", "169", "201"):
        table[f"densenet{depth}"] = f"DenseNet{depth}_Weights"
    for version in ("1_0", "1_1"):
        table[f"squeezenet{version}"] = f"SqueezeNet{version}_Weights"
    for width in ("x0_5", "x1_0"):
        table[f"shufflenet_v2_{width}"] = f"ShuffleNet_V2_{width.upper()}_Weights"
    table["mobilenet_v2"] = "MobileNet_V2_Weights"
    table["mobilenet_v3_large"] = "MobileNet_V3_Large_Weights"
    table["mobilenet_v3_small"] = "MobileNet_V3_Small_Weights"
    for width in ("0_5", "1_0"):
        table[f"mnasnet{width}"] = f"MNASNet{width}_Weights"
    for index in range(8):
        table[f"efficientnet_b{index}"] = f"EfficientNet_B{index}_Weights"
    for kind in ("x", "y"):
        for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"):
            table[f"regnet_{kind}_{size}"] = f"RegNet_{kind.upper()}_{size.upper()}_Weights"
    for size in ("b_16", "b_32", "l_16", "l_32"):
        table[f"vit_{size}"] = f"ViT_{size.upper()}_Weights"
    for size in ("tiny", "small", "base", "large"):
        table[f"convnext_{size}"] = f"ConvNeXt_{size.capitalize()}_Weights"
    return table


CLASSIFICATION = _table()
# Subpackages whose builders share names with the classification ones but not their enums.
OTHER_TASKS = frozenset({"quantization", "detection", "segmentation", "video", "optical_flow"})
LEGACY = {"pretrained": "weights", "pretrained_backbone": "weights_backbone"}
TO_TENSOR = {"torchvision.transforms.v2.ToTensor": None}


class TorchvisionDeprecatedApi(DeprecatedNameRule):
    """
    ## What it does
    Reports `pretrained=` / `pretrained_backbone=` passed to a `torchvision.models`
    builder (or a literal `True` / `False` as the first positional argument of a
    classification builder, the old `pretrained` slot), and
    `torchvision.transforms.v2.ToTensor`.

    ## Why is this bad?
    Since torchvision 0.13 builders take `weights=` (a weights enum naming exactly which
    checkpoint, with its preprocessing and metadata); `pretrained` is deprecated, warns,
    and will be removed. `v2.ToTensor` is deprecated in favour of `v2.ToImage()` followed
    by `v2.ToDtype(torch.float32, scale=True)`.

    Opt-in (`extend-select = ["TL612"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 44 of 52 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were vendored
    code that is never built (LPIPS wrappers), and projects that target an old torchvision in
    files torchlint does not read.

    ## Example
    ```python
    from torchvision import models

    model = models.resnet50(pretrained=True)
    ```

    ## Use instead
    ```python
    model = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)
    # or, for the best available weights: weights=models.ResNet50_Weights.DEFAULT
    ```

    ## Fix safety
    Safe for the literals `True` / `False`: `False` becomes `weights=None`
    (`weights_backbone=None`), and `True` becomes the enum value torchvision itself maps
    `pretrained=True` to, `<Enum>.IMAGENET1K_V1` — not `.DEFAULT`, which is a different,
    newer checkpoint for several models (ResNet-50, MobileNetV2, RegNets...). The enum is
    known for the common classification models; other models and `pretrained_backbone=True`
    are reported without a fix. The enum is spelled through the module the call uses
    (`models.ResNet50_Weights`), or `torchvision.models...`, or imported. `ToTensor` gets a
    display-only suggestion.

    ## References
    - https://pytorch.org/vision/stable/models.html
    - https://pytorch.org/vision/stable/transforms.html#v1-or-v2-which-one-should-i-use
    """

    code = "TL612"
    default = False
    name = "torchvision-deprecated-api"
    applies_to_tests = True
    summary = "deprecated torchvision API"
    fix_applicability = Applicability.SAFE
    names = TO_TENSOR
    requires = ("torchvision",)  # every name this rule resolves starts with it
    examples = (
        Invalid(
            """
            from torchvision import models
            model = models.resnet50(pretrained=True)
            """,
            fixed="""
            from torchvision import models
            model = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)
            """,
        ),
        Invalid(
            """
            import torchvision
            a = torchvision.models.vgg16_bn(True)
            b = torchvision.models.mobilenet_v3_large(pretrained=False, num_classes=10)
            """,
            fixed="""
            import torchvision
            a = torchvision.models.vgg16_bn(weights=torchvision.models.VGG16_BN_Weights.IMAGENET1K_V1)
            b = torchvision.models.mobilenet_v3_large(weights=None, num_classes=10)
            """,
            count=2,
        ),
        Invalid(
            """
            from torchvision.models import efficientnet_b0
            net = efficientnet_b0(pretrained=True)
            """,
            fixed="""
            from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0
            net = efficientnet_b0(weights=EfficientNet_B0_Weights.IMAGENET1K_V1)
            """,
        ),
        Invalid(
            """
            import torchvision
            det = torchvision.models.detection.fasterrcnn_resnet50_fpn(
                pretrained=False, pretrained_backbone=False
            )
            """,
            fixed="""
            import torchvision
            det = torchvision.models.detection.fasterrcnn_resnet50_fpn(
                weights=None, weights_backbone=None
            )
            """,
        ),
        Invalid(
            """
            import torchvision
            det = torchvision.models.detection.maskrcnn_resnet50_fpn(pretrained=True)
            vit = torchvision.models.vit_h_14(pretrained=use_pretrained)
            """,
            fixed=None,
            count=2,
        ),
        Invalid(
            """
            import torch
            from torchvision.transforms import v2
            transform = v2.Compose([v2.ToTensor()])
            """,
            fixed=None,
        ),
        Valid(
            """
            from torchvision import models
            model = models.resnet50(weights=models.ResNet50_Weights.DEFAULT)
            """
        ),
        Valid(
            """
            from torchvision import transforms
            t = transforms.Compose([transforms.ToTensor()])
            """
        ),
        Valid(
            """
            import timm
            model = timm.create_model("resnet50", pretrained=True)
            """
        ),
        Valid(
            """
            from transformers import AutoModel
            model = AutoModel.from_pretrained("bert-base-uncased")
            """
        ),
        Valid(
            """
            from torchvision.models import resnet50, ResNet50_Weights
            model = resnet50(ResNet50_Weights.DEFAULT)
            """
        ),
        Valid(
            """
            from torchvision.models import resnet50
            def build(resnet50):
                return resnet50(pretrained=True)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        legacy = [a for a in node.args if a.keyword is not None and a.keyword.value in LEGACY]
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if not legacy and (last not in CLASSIFICATION or not node.args):
            return
        qualified = self.qualified_name(func)
        if qualified is None or not qualified.startswith("torchvision.models."):
            return
        parts = qualified.split(".")
        enum = None
        if len(parts) in (3, 4) and parts[2] not in OTHER_TASKS:
            enum = CLASSIFICATION.get(parts[-1])
        if not legacy and enum is not None:
            first = node.args[0]
            if first.keyword is None and (
                calls.is_true(first.value) or calls.is_false(first.value)
            ):
                legacy = [first]  # `resnet50(True)`: the old first parameter was `pretrained`
        if not legacy or in_compat_branch(self.context.ancestors, self.context, node):
            return
        self.report(
            legacy[0],
            "`pretrained=` is deprecated: pass `weights=`",
            fix=self._fix(node, legacy, enum),
        )

    def _fix(self, node: cst.Call, legacy: list[cst.Arg], enum: str | None) -> PendingFix | None:
        if calls.has_star_args(node) or any(calls.keyword(node, k) for k in LEGACY.values()):
            return None
        positional = [arg for arg in legacy if arg.keyword is None]
        if positional and len(calls.positional(node)) != 1:
            return None  # more positionals follow `pretrained`: leave them to a person
        preamble: tuple[str, ...] = ()
        replacements: dict[int, cst.Arg] = {}
        for arg in legacy:
            old = "pretrained" if arg.keyword is None else arg.keyword.value
            if calls.is_false(arg.value):
                value = "None"
            elif calls.is_true(arg.value) and old == "pretrained" and enum is not None:
                spelled = spell(self.context, node.func, f"torchvision.models.{enum}", True)
                if spelled is None:
                    return None
                value, preamble = f"{spelled[0]}.IMAGENET1K_V1", spelled[1]
            else:
                return None
            new = as_keyword(arg, LEGACY[old]).with_changes(value=cst.parse_expression(value))
            replacements[id(arg)] = new
        args = [replacements.get(id(arg), arg) for arg in node.args]
        return self.fix(
            Applicability.SAFE,
            "Pass `weights=` (the checkpoint `pretrained=True` loaded)",
            Replace(node, node.with_changes(args=args)),
            preamble=preamble,
        )

    def message(self, qualified: str) -> str:
        return (
            "`v2.ToTensor` is deprecated: use "
            "`v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])`"
        )

    def fix_use(self, use: Use) -> PendingFix | None:
        call = use.call
        if call is None or call.args:
            return None
        node = use.node
        v2 = "v2"
        if isinstance(node, cst.Attribute):
            v2 = self.context.code_for(node.value)
        torch = module_alias(self.context, "torch", import_if_free=False)
        text = (
            f"{v2}.Compose([{v2}.ToImage(), "
            f"{v2}.ToDtype({torch[0] if torch else 'torch'}.float32, scale=True)])"
        )
        return self.fix(Applicability.DISPLAY, f"Use `{text}`", Replace(call, text))
