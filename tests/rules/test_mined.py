"""Rules mined from real bug fixes (issue 31): real code from the tuning projects, before and
after, with its source and licence. Where a project has not fixed the code, "after" is what
torchlint's fix makes of it, and the test checks that a second run is clean."""

from __future__ import annotations

import textwrap

from tests.helpers import fix
from tests.helpers import lint as lint_file


def lint(source: str, code: str):
    return lint_file(source, code).diagnostics


# Project-MONAI/MONAI, monai/networks/blocks/crossattention.py (CrossAttentionBlock, trimmed;
# Apache-2.0). The flash-attention path passes the module's rate in eval mode too, while the
# other path uses `nn.Dropout` (`self.drop_weights`), which follows the mode.
MONAI_CROSS_ATTENTION = textwrap.dedent(
    """
    import torch
    import torch.nn as nn


    class CrossAttentionBlock(nn.Module):
        def __init__(self, hidden_size, num_heads, dropout_rate=0.0, use_flash_attention=False):
            super().__init__()
            self.drop_weights = nn.Dropout(dropout_rate)
            self.dropout_rate = dropout_rate
            self.use_flash_attention = use_flash_attention

        def forward(self, x, context=None):
            q, k, v = self.split(x, context)
            if self.use_flash_attention:
                x = torch.nn.functional.scaled_dot_product_attention(
                    query=q, key=k, value=v, scale=self.scale, dropout_p=self.dropout_rate, is_causal=self.causal
                )
            else:
                att_mat = (torch.einsum("blxd,blyd->blxy", q, k) * self.scale).softmax(dim=-1)
                x = torch.einsum("bhxy,bhyd->bhxd", self.drop_weights(att_mat), v)
            return x
    """
)

# kornia/kornia, kornia/models/kimi_vl/moonvit.py (Apache-2.0): the gated form, correct.
KORNIA_KIMI_GATED = textwrap.dedent(
    """
    import torch.nn as nn
    import torch.nn.functional as F


    class MoonVitAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dropout = nn.Dropout(config.attention_dropout_p)

        def forward(self, query, key, value, attention_mask=None):
            return F.scaled_dot_product_attention(
                query, key, value, attn_mask=attention_mask, dropout_p=self.dropout.p if self.training else 0.0
            )
    """
)

# kornia/kornia, kornia/models/sam3/architecture/common.py (Apache-2.0), and
# lucidrains/denoising-diffusion-pytorch, denoising_diffusion_pytorch/attend.py (MIT): the rate
# gated into a local first, then passed by name.
GATED_LOCAL = textwrap.dedent(
    """
    import torch.nn as nn
    import torch.nn.functional as F


    class Attention(nn.Module):
        def forward(self, q, k, v):
            dropout_p = self.dropout.p if self.training and self.dropout.p > 0.0 else 0.0
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


    class Attend(nn.Module):
        def flash_attn(self, q, k, v):
            out = F.scaled_dot_product_attention(
                q, k, v,
                dropout_p = self.dropout if self.training else 0.
            )
            return out
    """
)


def test_monai_attention_dropout_is_reported_and_fixed() -> None:
    found = lint(MONAI_CROSS_ATTENTION, "TL315")
    assert [(d.code, d.start.line) for d in found] == [("TL315", 17)]
    fixed = fix(MONAI_CROSS_ATTENTION, "TL315", unsafe=False)
    assert "dropout_p=self.dropout_rate if self.training else 0.0" in fixed.source
    assert lint(fixed.source, "TL315") == []


def test_gated_rates_from_real_code_are_not_reported() -> None:
    assert lint(KORNIA_KIMI_GATED, "TL315") == []
    assert lint(GATED_LOCAL, "TL315") == []


def test_outside_a_module_the_rate_is_not_reported() -> None:
    """A plain function cannot know the mode: whoever calls it passes the right rate."""
    source = MONAI_CROSS_ATTENTION.replace("class CrossAttentionBlock(nn.Module):", "class Block:")
    assert lint(source, "TL315") == []


ACCUMULATION = textwrap.dedent(
    """
    def train(model, loader, optimizer, criterion, accumulation_steps):
        model.train()
        for step, (x, y) in enumerate(loader):
            loss = criterion(model(x), y) / accumulation_steps
            loss.backward()
            if step % accumulation_steps == 0:
                optimizer.step()
                optimizer.zero_grad()
    """
)


def test_accumulation_off_by_one_fix_is_the_maintainers_form() -> None:
    assert [d.code for d in lint(ACCUMULATION, "TL316")] == ["TL316"]
    fixed = fix(ACCUMULATION, "TL316")
    assert "if (step + 1) % accumulation_steps == 0:" in fixed.source
    assert lint(fixed.source, "TL316") == []
    assert fix(ACCUMULATION, "TL316", unsafe=False).source == ACCUMULATION


def test_accumulation_with_the_test_before_backward_is_not_reported() -> None:
    """Stepping at the top of the iteration applies what the previous n micro-batches left."""
    lines = ACCUMULATION.splitlines()
    moved = "\n".join([*lines[:4], *lines[6:9], *lines[4:6]]) + "\n"
    assert "loss.backward()" in moved.splitlines()[-1]
    assert lint(moved, "TL316") == []


def test_zero_grad_every_micro_batch_is_reported_once_moved_out_of_the_step() -> None:
    wiped = ACCUMULATION.replace("            optimizer.zero_grad()\n", "").replace(
        "        loss = criterion", "        optimizer.zero_grad()\n        loss = criterion"
    )
    found = lint(wiped, "TL317")
    assert [(d.code, d.start.line) for d in found] == [("TL317", 5)]
    assert lint(ACCUMULATION, "TL317") == []


def test_no_grad_class_in_with_is_fixed_with_parentheses() -> None:
    source = "import torch as th\nwith th.no_grad:\n    y = model(x)\n"
    fixed = fix(source, "TL314", unsafe=False)
    assert fixed.source == "import torch as th\nwith th.no_grad():\n    y = model(x)\n"
    assert lint(fixed.source, "TL314") == []


def test_cuda_true_is_device_one() -> None:
    source = "x = x.cuda(True)\ny = y.cuda(1)\n"
    assert [(d.code, d.start.line) for d in lint(source, "TL207")] == [("TL207", 1)]
    assert fix(source, "TL207").source == "x = x.cuda(non_blocking=True)\ny = y.cuda(1)\n"
    assert fix(source, "TL207", unsafe=False).source == source


SEEDED_WORKERS = textwrap.dedent(
    """
    import numpy as np
    import torch
    from torch.utils.data import DataLoader


    def worker_init_fn(worker_id):
        np.random.seed(SEED + worker_id)


    loader = DataLoader(dataset, batch_size=32, num_workers=4, worker_init_fn=worker_init_fn)
    """
)


def test_worker_seed_from_the_id_repeats_every_epoch() -> None:
    assert [(d.code, d.start.line) for d in lint(SEEDED_WORKERS, "TL804")] == [("TL804", 8)]


def test_worker_seed_from_torch_or_a_local_is_not_reported() -> None:
    from_torch = SEEDED_WORKERS.replace("SEED + worker_id", "torch.initial_seed() % 2**32")
    assert lint(from_torch, "TL804") == []
    local = SEEDED_WORKERS.replace(
        "    np.random.seed(SEED + worker_id)",
        "    seed = base_seed()\n    np.random.seed(seed + worker_id)",
    )
    assert lint(local, "TL804") == []
    persistent = SEEDED_WORKERS.replace("num_workers=4,", "num_workers=4, persistent_workers=True,")
    assert lint(persistent, "TL804") == []


# pytorch/opacus, examples/cifar10.py before 3c466279b8 "Remove redundant zero_grads (#96)"
# (train loop, trimmed; Apache-2.0). The maintainers moved `zero_grad()` into the step branch,
# but with the DP optimizer's `virtual_step()` keeping the clipped gradients, the old code was
# redundant rather than wrong: TL317 must not report it. Without `virtual_step` it is the bug.
OPACUS_CIFAR10 = textwrap.dedent(
    """
    def train(args, model, train_loader, optimizer, epoch, device):
        model.train()
        criterion = nn.CrossEntropyLoss()
        for i, (images, target) in enumerate(tqdm(train_loader)):
            images = images.to(device)
            target = target.to(device)
            output = model(images)
            loss = criterion(output, target)

            # compute gradient and do SGD step
            optimizer.zero_grad()
            loss.backward()

            # make sure we take a step after processing the last mini-batch in the
            # epoch to ensure we start the next epoch with a clean state
            if ((i + 1) % args.n_accumulation_steps == 0) or ((i + 1) == len(train_loader)):
                optimizer.step()
            else:
                optimizer.virtual_step()
    """
)


def test_opacus_virtual_step_is_not_an_accumulation_wipe() -> None:
    assert lint(OPACUS_CIFAR10, "TL317") == []
    plain = OPACUS_CIFAR10.replace("        else:\n            optimizer.virtual_step()\n", "")
    assert [(d.code, d.start.line) for d in lint(plain, "TL317")] == [("TL317", 12)]


# Pattern 15: `zero_grad()` sets gradients to None (torch >= 2.0), so adding into them by
# hand before any `backward()` raises. The shape of manual accumulation of
# `torch.autograd.grad` results, as written for torch < 2.0.
MANUAL_ACCUMULATION = textwrap.dedent(
    """
    import torch


    def train_step(model, optimizer, criterion, micro_batches):
        optimizer.zero_grad()
        for x, y in micro_batches:
            loss = criterion(model(x), y)
            grads = torch.autograd.grad(loss, list(model.parameters()))
            for p, g in zip(model.parameters(), grads):
                p.grad += g
        optimizer.step()
    """
)


def test_grad_added_after_zero_grad_is_reported() -> None:
    assert [(d.code, d.start.line) for d in lint(MANUAL_ACCUMULATION, "TL319")] == [("TL319", 11)]


def test_grad_added_after_backward_or_with_zeros_kept_is_not_reported() -> None:
    after_backward = MANUAL_ACCUMULATION.replace(
        "        grads = torch.autograd.grad(loss, list(model.parameters()))\n",
        "        loss.backward()\n        grads = noise(model)\n",
    )
    assert lint(after_backward, "TL319") == []
    kept = MANUAL_ACCUMULATION.replace("zero_grad()", "zero_grad(set_to_none=False)")
    assert lint(kept, "TL319") == []
    guarded = MANUAL_ACCUMULATION.replace(
        "            p.grad += g\n",
        "            if p.grad is None:\n                p.grad = g\n            else:\n"
        "                p.grad += g\n",
    )
    assert lint(guarded, "TL319") == []
    checked = MANUAL_ACCUMULATION.replace(
        "            p.grad += g\n",
        "            if p.grad is not None:\n                p.grad += g\n",
    )
    assert lint(checked, "TL319") == []


def test_grad_update_needs_a_loop_over_parameters() -> None:
    """``zip(buffers, grads)`` is not known to hold the cleared parameters."""
    other = MANUAL_ACCUMULATION.replace("zip(model.parameters(), grads)", "zip(buffers, grads)")
    assert lint(other, "TL319") == []


# Pattern 5: a discarded `.to()` / cast of a `forward` argument.
FORWARD_CAST = textwrap.dedent(
    """
    import torch.nn as nn


    class Classifier(nn.Module):
        def forward(self, x):
            x.float()
            return self.fc(x.view(x.size(0), -1))
    """
)


def test_cast_of_a_forward_argument_is_reported_and_fixed() -> None:
    assert [(d.code, d.start.line) for d in lint(FORWARD_CAST, "TL204")] == [("TL204", 7)]
    fixed = fix(FORWARD_CAST, "TL204", unsafe=False)
    assert "        x = x.float()\n" in fixed.source
    assert lint(fixed.source, "TL204") == []


def test_forward_argument_that_may_be_a_batch_object_is_not_reported() -> None:
    """PyG's ``Data.to`` and transformers' ``BatchEncoding.to`` move in place: an argument
    read with an attribute a tensor lacks is not surely a tensor."""
    batch = FORWARD_CAST.replace("x.view(x.size(0), -1)", "x.view(x.size(0), -1), x.pixel_mask")
    assert lint(batch, "TL204") == []
    module = FORWARD_CAST.replace("def forward(self, x):", "def forward(self, x: nn.Module):")
    assert lint(module, "TL204") == []
    no_evidence = FORWARD_CAST.replace("self.fc(x.view(x.size(0), -1))", "self.fc(x)")
    assert lint(no_evidence, "TL204") == []
    not_forward = FORWARD_CAST.replace("def forward(", "def predict(")
    assert lint(not_forward, "TL204") == []


# Pattern 8: an attribute of the model read through its DDP / DataParallel wrapper.
WRAPPED = textwrap.dedent(
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP


    def main(args, model, loader):
        if args.distributed:
            model = DDP(model, device_ids=[args.gpu])
        for images, targets in loader:
            loss = model(images, targets)
            loss.backward()
        print(model.num_classes)
    """
)


def test_model_attribute_read_through_the_wrapper_is_reported() -> None:
    assert [(d.code, d.start.line) for d in lint(WRAPPED, "TL909")] == [("TL909", 12)]


def test_model_attribute_read_through_module_is_not_reported() -> None:
    unwrapped = WRAPPED.replace("print(model.num_classes)", "print(model.module.num_classes)")
    assert lint(unwrapped, "TL909") == []
    api = WRAPPED.replace("print(model.num_classes)", "model.eval()\n    model.no_sync()")
    assert lint(api, "TL909") == []
    rebound = WRAPPED.replace(
        "    print(model.num_classes)", "    model = model.module\n    print(model.num_classes)"
    )
    assert lint(rebound, "TL909") == []


# Pattern 11: a logging record that keeps the loss with its graph.
LOGGED_RECORDS = textwrap.dedent(
    """
    def train(model, loader, optimizer, criterion):
        history = []
        for step, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            history.append({"step": step, "loss": loss})
        return history
    """
)


def test_loss_kept_in_a_logging_record_is_reported_and_detached() -> None:
    assert [(d.code, d.start.line) for d in lint(LOGGED_RECORDS, "TL305")] == [("TL305", 9)]
    fixed = fix(LOGGED_RECORDS, "TL305", unsafe=False)
    assert 'history.append({"step": step, "loss": loss.detach()})' in fixed.source
    assert lint(fixed.source, "TL305") == []
    as_number = LOGGED_RECORDS.replace('"loss": loss}', '"loss": loss.item()}')
    assert lint(as_number, "TL305") == []


# kornia/kornia, test/color/test_zca.py before b8819dda6 "[Fix] Minor update improvements to
# zca ..." (trimmed; Apache-2.0). The maintainers wrote `expected = expected.to(device)`;
# `expected` is arithmetic on torch operations in both branches.
KORNIA_ZCA = textwrap.dedent(
    """
    import torch


    class TestZCA:
        def test_zca_unbiased(self, unbiased, device):
            data = torch.tensor([[0, 1], [1, 0], [-1, 0], [0, -1]], dtype=torch.float32).to(device)

            if unbiased:
                expected = torch.sqrt(1.5 * torch.abs(data)) * torch.sign(data)
            else:
                expected = torch.sqrt(2 * torch.abs(data)) * torch.sign(data)

            expected.to(device)

            zca = kornia.color.ZCAWhitening(unbiased=unbiased).fit(data)
            actual = zca(data)
            assert_allclose(actual, expected)
    """
)

# kornia/kornia, test/augmentation/test_augmentation.py before d5a551f94 "fix augmentation gpu
# tests" (trimmed; Apache-2.0).
KORNIA_VFLIP = textwrap.dedent(
    """
    import torch
    from kornia.augmentation import RandomVerticalFlip  # trimmed, as the original imports it

    class TestRandomVerticalFlip:
        def test_random_vflip(self, device):
            f = RandomVerticalFlip(p=1.0, return_transform=True)
            input = torch.tensor([[0., 0., 0.],
                                  [0., 0., 0.],
                                  [0., 1., 1.]])  # 3 x 3
            input.to(device)
            expected = torch.tensor([[0., 1., 1.],
                                     [0., 0., 0.],
                                     [0., 0., 0.]])  # 3 x 3
            assert_allclose(f(input)[0], expected)
    """
)


def test_kornia_discarded_moves_are_reported_and_fixed_as_the_maintainers_did() -> None:
    assert [(d.code, d.start.line) for d in lint(KORNIA_ZCA, "TL204")] == [("TL204", 14)]
    assert [(d.code, d.start.line) for d in lint(KORNIA_VFLIP, "TL204")] == [("TL204", 11)]
    fixed = fix(KORNIA_ZCA, "TL204", unsafe=False)
    assert "        expected = expected.to(device)\n" in fixed.source
    assert lint(fixed.source, "TL204") == []
    fixed = fix(KORNIA_VFLIP, "TL204", unsafe=False)
    assert "        input = input.to(device)\n" in fixed.source


# huggingface/diffusers, examples/dreambooth/train_dreambooth_flux.py before 71f34fc5a4
# "[Flux LoRA] fix issues in flux lora scripts" (trimmed; Apache-2.0). The text encoder was
# wrapped for DDP by `accelerator.prepare` in another function, so `text_encoder.dtype` raised
# when training distributed. The maintainers' fix branches on `hasattr(text_encoder, "module")`.
DIFFUSERS_T5_EMBEDS = textwrap.dedent(
    """
    import torch


    def _encode_prompt_with_t5(text_encoder, tokenizer, prompt=None, device=None):
        text_input_ids = tokenizer(prompt, return_tensors="pt").input_ids
        prompt_embeds = text_encoder(text_input_ids.to(device))[0]

        dtype = text_encoder.dtype
        return prompt_embeds.to(dtype=dtype, device=device)
    """
)


def test_diffusers_wrap_in_another_function_is_out_of_reach() -> None:
    """Not caught: the wrap is not in the function (TL909 follows local assignments only)."""
    assert lint(DIFFUSERS_T5_EMBEDS, "TL909") == []
    wrapped_here = DIFFUSERS_T5_EMBEDS.replace(
        "    text_input_ids = tokenizer",
        "    text_encoder = torch.nn.parallel.DistributedDataParallel(text_encoder)\n"
        "    text_input_ids = tokenizer",
    )
    assert [(d.code, d.start.line) for d in lint(wrapped_here, "TL909")] == [("TL909", 10)]
    fixed = wrapped_here.replace(
        "    dtype = text_encoder.dtype\n",
        '    if hasattr(text_encoder, "module"):\n        dtype = text_encoder.module.dtype\n'
        "    else:\n        dtype = text_encoder.dtype\n",
    )
    assert lint(fixed, "TL909") == []
