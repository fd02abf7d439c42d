"""ResidualBlock and ResNet: shapes, structure, initialisation, and that it actually learns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchlint.runtime import ResidualBlock, ResNet, evaluating


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These tiny convolutions gain nothing from intra-op threads, which on a busy 2-core
    machine spin against the other processes and make the training tests 4x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _problem(n: int, channels: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes, each a fixed random image, seen through noise."""
    templates = torch.randn(3, channels, size, size, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % 3
    noise = torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))
    return templates[labels] + 0.75 * noise, labels


@pytest.mark.parametrize(("in_channels", "size"), [(1, 28), (3, 32)])
def test_learns_a_small_problem(in_channels: int, size: int) -> None:
    torch.manual_seed(0)
    model = ResNet(in_channels=in_channels, num_classes=3, blocks_per_stage=(1, 1), base_width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, labels = _problem(48, in_channels, size, seed=1)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.9  # about ln(3) at the start: nothing learnt yet
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    held_out, truth = _problem(60, in_channels, size, seed=2)
    with evaluating(model):
        accuracy = (model(held_out).argmax(1) == truth).float().mean().item()
    assert accuracy >= 0.8  # chance is 1/3


@pytest.mark.parametrize(
    ("in_channels", "height", "width"),
    [(1, 28, 28), (3, 32, 32), (3, 1, 1), (3, 7, 7), (3, 17, 33), (1, 64, 64), (5, 12, 12)],
)
def test_any_input_size_gives_logits(in_channels: int, height: int, width: int) -> None:
    model = ResNet(in_channels=in_channels, num_classes=7)
    with evaluating(model):
        out = model(torch.randn(2, in_channels, height, width))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_default_architecture() -> None:
    model = ResNet()
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 6  # blocks_per_stage=(2, 2, 2)
    assert [b.conv2.out_channels for b in blocks] == [16, 16, 32, 32, 64, 64]
    assert model.fc.in_features == 64 and model.fc.out_features == 10
    assert model.stem[0].in_channels == 3
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5
    assert isinstance(model.pool, nn.AdaptiveAvgPool2d)


def test_configurable_depth_and_width() -> None:
    model = ResNet(blocks_per_stage=(1, 3), base_width=4, num_classes=2, dropout=0.1)
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert [b.conv2.out_channels for b in blocks] == [4, 8, 8, 8]
    assert [b.conv1.stride for b in blocks] == [(1, 1), (2, 2), (1, 1), (1, 1)]
    assert model.fc.in_features == 8 and model.dropout.p == 0.1


def test_shortcut_is_identity_unless_the_shape_changes() -> None:
    same = ResidualBlock(16, 16)
    assert isinstance(same.shortcut, nn.Identity)
    for block in (ResidualBlock(16, 32), ResidualBlock(16, 16, stride=2)):
        conv, bn = block.shortcut
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.bias is None
        assert isinstance(bn, nn.BatchNorm2d)
    assert ResidualBlock(16, 32, stride=2)(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    assert same(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)


def test_convolutions_before_batchnorm_have_no_bias() -> None:
    model = ResNet()
    modules = list(model.modules())
    convs = [i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 6 * 2 + 2  # stem, two per block, two projection shortcuts
    for i in convs:
        assert modules[i].bias is None
        assert isinstance(modules[i + 1], nn.BatchNorm2d)  # registered right after its BN


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = ResNet(in_channels=1, num_classes=4)
    F.cross_entropy(model(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout() -> None:
    torch.manual_seed(0)
    model = ResNet(num_classes=10)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout active
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_initialisation() -> None:
    torch.manual_seed(0)
    model = ResNet(base_width=32)
    conv = model.stages[-1].conv2  # 128 -> 128 channels, 3x3: plenty of weights
    expected_std = (2.0 / (conv.out_channels * 9)) ** 0.5  # kaiming normal, fan_out, relu
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_zero_init_residual() -> None:
    model = ResNet(zero_init_residual=True)
    block = model.stages[0]
    assert torch.equal(block.bn2.weight, torch.zeros_like(block.bn2.weight))
    assert torch.equal(block.bn1.weight, torch.ones_like(block.bn1.weight))
    x = torch.relu(torch.randn(2, 16, 8, 8))  # a block starts as the identity (for x >= 0)
    with evaluating(block):
        assert torch.allclose(block(x), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"blocks_per_stage": ()},
        {"blocks_per_stage": (2, 0)},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"num_classes": 0},
        {"in_channels": 0},
        {"base_width": 0},
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ResNet(**kwargs)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda() -> None:
    model = ResNet(in_channels=1).cuda()
    loss = F.cross_entropy(model(torch.randn(4, 1, 28, 28, device="cuda")), torch.arange(4).cuda())
    loss.backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in model.parameters())
