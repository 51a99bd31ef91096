"""Stage 3, the network: masked layers, the speech and text encoders (Eqs. 1-2), temporal alignment
(Eqs. 3-5, ``alignment``), semantic interaction (Eqs. 6-9), fusion and MEC (Eqs. 10-12), TSIN and its ablations.

Imports ``tsin_nb.core`` only (a model sees tensors, never files).
"""

from tsin_nb.model.alignment import (
    LocalWindow,
    PositionScore,
    TimeWarp,
    WordMatch,
    alignment_logits,
    alignment_weights,
    diagonal_prior,
    forward_sum_loss,
    prior_alignment,
    span_alignment,
    temporal_alignment,
    uniform_alignment,
    word_match_loss,
)
from tsin_nb.model.layers import (
    MaskedLSTM,
    MultiKernelBlock,
    SpeechEncoder,
    TextEncoder,
    count_parameters,
    loss_fn,
    masked_mean,
    masked_softmax,
    pool_frames,
)
from tsin_nb.model.tsin import (
    MEC,
    FusionLSTM,
    SemanticInteraction,
    TSINOutput,
    build_model,
    normalize_weights,
)

__all__ = [
    "MaskedLSTM",
    "FusionLSTM",
    "LocalWindow",
    "TimeWarp",
    "MEC",
    "MultiKernelBlock",
    "SemanticInteraction",
    "SpeechEncoder",
    "TSINOutput",
    "TextEncoder",
    "alignment_logits",
    "alignment_weights",
    "build_model",
    "count_parameters",
    "diagonal_prior",
    "forward_sum_loss",
    "loss_fn",
    "masked_mean",
    "masked_softmax",
    "normalize_weights",
    "pool_frames",
    "PositionScore",
    "prior_alignment",
    "temporal_alignment",
    "span_alignment",
    "uniform_alignment",
    "WordMatch",
    "word_match_loss",
]
