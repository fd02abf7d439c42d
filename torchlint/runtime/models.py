"""A small, correct residual network to point to from architecture diagnostics.

It is the working version of the seed chapter's ``MyNetwork``, which adds a ``[N, 32, H, W]``
shortcut to ``[N, 10]`` logits (a shape error), flattens to a hard-coded ``32 * 8 * 8`` (so only
8x8 inputs work) and gives its convolutions a bias that the following BatchNorm cancels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ResNet", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """Basic residual block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    - Convolutions have ``bias=False``: BatchNorm subtracts the per-channel mean right after,
      which cancels any bias, and its own ``beta`` plays that role. A bias there only costs
      parameters and memory.
    - The shortcut is the identity when input and output have the same shape, which keeps a
      clean gradient path through deep stacks. When the block changes the channel count or
      downsamples (``stride > 1``), a 1x1 convolution (no bias) plus BatchNorm projects the input
      to the output's shape, so the addition is always between tensors of the same shape.
    - The residual is added before the last ReLU, as in He et al. (2016).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1 or stride < 1:
            raise ValueError(
                "ResidualBlock needs positive in_channels, out_channels and stride, got "
                f"{in_channels}, {out_channels}, {stride}"
            )
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Reference residual network for image classification; ``forward`` returns logits.

    Layout: a 3x3 stem (conv, BatchNorm, ReLU) at ``base_width`` channels; then one stage per
    entry of ``blocks_per_stage``, each made of ``ResidualBlock``s, doubling the width and
    halving the resolution at the start of every stage after the first; then global average
    pooling, dropout and a linear classifier.

    Why each choice:

    - A stride-1 3x3 stem (not ImageNet's 7x7/stride 2 + max-pool) keeps detail in small images
      such as 28x28 MNIST or 32x32 CIFAR.
    - ``bias=False`` on every convolution, because each is followed by BatchNorm, which cancels
      a bias (see ``ResidualBlock``).
    - Identity shortcuts, with 1x1 projections only where the shape changes, so the residual
      addition happens *inside* each block between same-shaped feature maps. The seed chapter's
      ``MyNetwork`` instead added a feature map to the logits, which cannot work.
    - ``nn.AdaptiveAvgPool2d(1)`` instead of flattening a fixed-size map, so any input size
      works (``MyNetwork`` hard-coded ``32 * 8 * 8``) and the classifier has few parameters.
    - ``nn.Dropout(dropout)`` right before the classifier, as a module (not a functional call)
      so ``model.eval()`` turns it off; remember ``evaluating(model)`` for inference.
    - Kaiming-normal initialisation (``fan_out``, ReLU gain) for convolutions, because it keeps
      activation variance stable through ReLU layers; BatchNorm starts as the identity
      (weight 1, bias 0). ``zero_init_residual=True`` zeroes each block's last BatchNorm weight
      so every block starts as the identity, which helps very deep or large-batch training.

    Args:
        in_channels: input channels (1 for grayscale, 3 for RGB).
        num_classes: number of output logits.
        blocks_per_stage: residual blocks in each stage; its length is the number of stages.
        base_width: channels of the stem and first stage.
        dropout: dropout probability before the classifier (0 disables it).
        zero_init_residual: start every residual block as the identity function.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        blocks_per_stage: Sequence[int] = (2, 2, 2),
        base_width: int = 16,
        dropout: float = 0.5,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1 or base_width < 1:
            raise ValueError(
                "ResNet needs positive in_channels, num_classes and base_width, got "
                f"{in_channels}, {num_classes}, {base_width}"
            )
        stages = tuple(blocks_per_stage)
        if not stages or any(n < 1 for n in stages):
            raise ValueError(
                f"blocks_per_stage must be a non-empty sequence of positive ints, got {stages}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base_width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        channels = base_width
        for index, num_blocks in enumerate(stages):
            width = base_width * 2**index
            for block in range(num_blocks):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(ResidualBlock(channels, width, stride))
                channels = width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, ResidualBlock):
                    nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        out = torch.flatten(self.pool(out), 1)
        return self.fc(self.dropout(out))
