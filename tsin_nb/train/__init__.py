"""Stage 4, one fold: ``fit`` (batches, checkpoints, predictions, embeddings, alignments), WA / UA and
confusion counts, and the scikit-learn linear baselines on the same folds.

Imports ``tsin_nb.core``, ``tsin_nb.features`` and ``tsin_nb.model``.
"""

from tsin_nb.train.baselines import C_GRID, baseline_features, fit_linear, speech_statistics, text_statistics
from tsin_nb.train.batches import autocast, cut_batch, feature_tensors, pool_once, store_tensors
from tsin_nb.train.checkpoints import set_aside
from tsin_nb.train.metrics import (
    confusion,
    per_class_recall,
    summarize,
    unweighted_accuracy,
    weighted_accuracy,
)
from tsin_nb.train.spans import alignment_loss, span_targets
from tsin_nb.train.steps import prior_weight_at
from tsin_nb.train.trainer import (
    CHECKPOINT,
    FitResult,
    config_diff,
    first_epoch_of_fit,
    fit,
    fold_digest,
    fold_speech_stats,
    load_checkpoint,
    predict,
)

__all__ = [
    "C_GRID",
    "autocast",
    "baseline_features",
    "first_epoch_of_fit",
    "CHECKPOINT",
    "FitResult",
    "alignment_loss",
    "config_diff",
    "confusion",
    "cut_batch",
    "feature_tensors",
    "fit",
    "fit_linear",
    "fold_digest",
    "fold_speech_stats",
    "load_checkpoint",
    "per_class_recall",
    "pool_once",
    "predict",
    "prior_weight_at",
    "set_aside",
    "span_targets",
    "speech_statistics",
    "store_tensors",
    "summarize",
    "text_statistics",
    "unweighted_accuracy",
    "weighted_accuracy",
]
