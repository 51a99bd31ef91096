"""Linear baselines beside the deep models: scikit-learn logistic regression on the same folds and features.

Not in the paper. They answer the question a reader asks of every deep model: what does it add over a
linear model on simple utterance statistics?

- ``lin_speech``: mean and standard deviation of every speech feature over the real frames, and the log
  of the number of real frames (duration): 2 F + 1 values. With ``speech_norm="utterance"`` the means and
  standard deviations are 0 and 1 by construction, so only the duration is left; use ``"fold"``.
- ``lin_text``: the mean word vector over the real words (E values).
- ``lin_fusion``: both, concatenated (early fusion).

Each is a ``StandardScaler`` + ``LogisticRegressionCV`` pipeline fitted on the fold's training part only;
the inverse regularisation strength C is chosen by 5-fold cross-validation (log loss) inside that
training part.
The validation part is not used and the test part is predicted once.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tsin_nb.core import BASELINES, TSINConfig
from tsin_nb.features import FeatureStore
from tsin_nb.model import masked_mean
from tsin_nb.train.metrics import confusion, unweighted_accuracy, weighted_accuracy
from tsin_nb.train.trainer import FitResult, check_inputs

#: Values of C tried by the cross-validation inside the training part.
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def speech_statistics(store: FeatureStore, rows: torch.Tensor) -> np.ndarray:
    """(U, 2 F + 1): mean and std of each speech feature over real frames, and log(real frames)."""
    x, mask = store.speech[rows].double(), store.speech_mask[rows]  # (U, N, F), (U, N)
    mean = masked_mean(x, mask)  # (U, F)
    var = masked_mean((x - mean[:, None, :]) ** 2, mask)  # (U, F)
    n = mask.sum(dim=1, keepdim=True).clamp(min=1).double()  # (U, 1)
    return torch.cat([mean, var.sqrt(), n.log()], dim=1).numpy()  # (U, 2F + 1)


def text_statistics(store: FeatureStore, rows: torch.Tensor) -> np.ndarray:
    """(U, E): the mean word vector over real words."""
    return masked_mean(store.text[rows].double(), store.text_mask[rows]).numpy()  # (U, E)


def _all_rows(store: FeatureStore, kind: str) -> np.ndarray:
    """:func:`speech_statistics` (``kind="speech"``) or :func:`text_statistics` of every store row, computed once per
    store (each row's statistics do not depend on the other rows: every fold and baseline indexes the same table)."""
    every = torch.arange(len(store))
    if kind == "speech":
        return store.derived(("baseline", kind), (store.speech, store.speech_mask),
                             lambda: speech_statistics(store, every))
    return store.derived(("baseline", kind), (store.text, store.text_mask), lambda: text_statistics(store, every))


def baseline_features(store: FeatureStore, rows: torch.Tensor, variant: str) -> np.ndarray:
    """The utterance-level input of one linear baseline for the store rows ``rows``."""
    if variant not in BASELINES:
        raise ValueError(f"unknown baseline {variant!r}; choose one of {', '.join(BASELINES)}")
    kinds = {"lin_speech": ("speech",), "lin_text": ("text",), "lin_fusion": ("speech", "text")}[variant]
    return np.concatenate([_all_rows(store, kind)[rows.numpy()] for kind in kinds], axis=1)


def fit_linear(store: FeatureStore, fold: Any, cfg: TSINConfig, variant: str) -> FitResult:
    """Fit one linear baseline on ``fold.train`` and predict ``fold.test`` once; the result saves like a deep fold's."""
    idx = check_inputs(None, store, fold, cfg)
    t0 = time.perf_counter()
    X_train = baseline_features(store, idx["train"], variant)  # (U_train, H)
    y_train = store.labels[idx["train"]].numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(C_GRID), cv=5, scoring="neg_log_loss",
                                                                  l1_ratios=(0.0,), max_iter=3000,
                                                                  use_legacy_attributes=False))
    # one BLAS thread: these problems are small, and OpenBLAS threads spin 100x slower on a busy machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    X_test = baseline_features(store, idx["test"], variant)  # (U_test, H)
    labels = store.labels[idx["test"]].numpy()
    probs = clf.predict_proba(X_test).astype(np.float32)  # (U_test, C)
    preds = clf.classes_[probs.argmax(axis=1)].astype(np.int64)
    metrics = {"wa": weighted_accuracy(labels, preds), "ua": unweighted_accuracy(labels, preds),
               "confusion": confusion(labels, preds), "n_test": int(len(labels)), "C": float(clf[-1].C_)}
    return FitResult(
        metrics=metrics, ids=list(fold.test), labels=labels, preds=preds, probs=probs,
        embeddings=clf.decision_function(X_test).astype(np.float32), alignments=None, speech_weights=None,
        text_weights=None, word_mask=store.text_mask[idx["test"]].numpy(), history=[],
        wall_s=time.perf_counter() - t0, device="cpu", variant=variant, fold=fold.name, epochs=0,
        selected_epoch=0, finished=True, config=cfg.to_dict(),
    )
