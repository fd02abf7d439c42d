"""The loss functions of ``torch.nn.functional``, one list for every rule that needs them."""

from __future__ import annotations

# The losses that still accept the pre-0.4 ``size_average`` / ``reduce`` arguments (every
# loss that existed before ``reduction`` replaced them).
LEGACY_REDUCTION_LOSSES = frozenset(
    {
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cosine_embedding_loss",
        "cross_entropy",
        "hinge_embedding_loss",
        "kl_div",
        "l1_loss",
        "margin_ranking_loss",
        "mse_loss",
        "multi_margin_loss",
        "multilabel_margin_loss",
        "multilabel_soft_margin_loss",
        "nll_loss",
        "poisson_nll_loss",
        "smooth_l1_loss",
        "soft_margin_loss",
        "triplet_margin_loss",
    }
)

# Every functional loss: its result is the tensor one calls ``backward()`` on. The later
# ones take ``reduction`` only.
FUNCTIONAL_LOSSES = LEGACY_REDUCTION_LOSSES | {
    "ctc_loss",
    "gaussian_nll_loss",
    "huber_loss",
    "triplet_margin_with_distance_loss",
}
