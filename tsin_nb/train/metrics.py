"""WA and UA (Eqs. 13-14) and the confusion matrix, computed with scikit-learn.

Class ids are positions in :data:`tsin_nb.core.EMOTIONS`. UA averages the per-class
recall over the classes present in ``y`` only: a class with no test samples has no
defined accuracy (0/0), so it is left out of the mean rather than counted as 0 or 1.
Every protocol of the paper has all four classes in each test fold, where both readings agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

from tsin_nb.core import EMOTIONS

LABELS: tuple[int, ...] = tuple(range(len(EMOTIONS)))


def _as_labels(y: Any, y_hat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both label vectors as int arrays, checked for equal non-zero length and known classes."""
    y = np.asarray(y).astype(np.int64).ravel()
    y_hat = np.asarray(y_hat).astype(np.int64).ravel()
    if y.shape != y_hat.shape:
        raise ValueError(f"y has {y.size} labels but y_hat has {y_hat.size}")
    if y.size == 0:
        raise ValueError("no labels: y and y_hat are empty")
    bad = sorted(set(np.unique(np.concatenate([y, y_hat])).tolist()) - set(LABELS))
    if bad:
        raise ValueError(f"unknown class ids {bad}; expected 0..{len(EMOTIONS) - 1} ({', '.join(EMOTIONS)})")
    return y, y_hat


def weighted_accuracy(y: Any, y_hat: Any) -> float:
    """Eq. 13: per-class accuracies weighted by class size, i.e. the overall accuracy."""
    y, y_hat = _as_labels(y, y_hat)
    return float(accuracy_score(y, y_hat))


def unweighted_accuracy(y: Any, y_hat: Any) -> float:
    """Eq. 14: the mean per-class recall over the classes present in ``y``."""
    y, y_hat = _as_labels(y, y_hat)
    present = np.unique(y).tolist()
    return float(recall_score(y, y_hat, labels=present, average="macro", zero_division=0))


def per_class_recall(y: Any, y_hat: Any) -> dict[str, float | None]:
    """Accuracy_c of Eqs. 13-14 for each emotion; None for a class absent from ``y``."""
    y, y_hat = _as_labels(y, y_hat)
    rec = recall_score(y, y_hat, labels=list(LABELS), average=None, zero_division=0)
    present = set(np.unique(y).tolist())
    return {e: (float(rec[c]) if c in present else None) for c, e in enumerate(EMOTIONS)}


def confusion(y: Any, y_hat: Any, normalize: bool | str = False) -> np.ndarray:
    """Confusion matrix (C, C): rows are true classes, columns predicted; ``normalize=True`` divides each row by its size."""
    y, y_hat = _as_labels(y, y_hat)
    norm = "true" if normalize is True else (normalize or None)
    return confusion_matrix(y, y_hat, labels=list(LABELS), normalize=norm)


def summarize(y: Any, y_hat: Any) -> dict[str, Any]:
    """WA, UA, per-class recall, confusion counts (nested lists) and sample count, JSON-ready."""
    y, y_hat = _as_labels(y, y_hat)
    return {
        "wa": weighted_accuracy(y, y_hat),
        "ua": unweighted_accuracy(y, y_hat),
        "recall": per_class_recall(y, y_hat),
        "confusion": confusion(y, y_hat).astype(int).tolist(),
        "n": int(y.size),
    }
