"""WA (Eq. 13), UA (Eq. 14) and the confusion matrix on hand-computed examples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tsin_nb.train import confusion, per_class_recall, summarize, unweighted_accuracy, weighted_accuracy

# 6 ang, 2 hap, 1 sad, 1 neu; every ang is right, both hap are called ang, sad right, neu called sad.
Y = [0, 0, 0, 0, 0, 0, 1, 1, 2, 3]
Y_HAT = [0, 0, 0, 0, 0, 0, 0, 0, 2, 2]


def test_wa_and_ua_differ_on_imbalanced_classes() -> None:
    # WA = 7 right / 10 = 0.7. Per-class recall: ang 6/6, hap 0/2, sad 1/1, neu 0/1 -> UA = 2/4 = 0.5.
    assert weighted_accuracy(Y, Y_HAT) == pytest.approx(0.7)
    assert unweighted_accuracy(Y, Y_HAT) == pytest.approx(0.5)


def test_wa_is_eq13_class_weighted_mean_of_recalls() -> None:
    rec = per_class_recall(Y, Y_HAT)
    assert rec == {"ang": 1.0, "hap": 0.0, "sad": 1.0, "neu": 0.0}
    n_c = {"ang": 6, "hap": 2, "sad": 1, "neu": 1}
    assert weighted_accuracy(Y, Y_HAT) == pytest.approx(sum(n_c[e] * rec[e] for e in n_c) / 10)


def test_ua_ignores_classes_absent_from_y() -> None:
    # No neu in y: UA averages ang 2/3, hap 1/1, sad 0/1 -> (2/3 + 1 + 0) / 3 = 5/9; a neu prediction is an error.
    y = [0, 0, 0, 1, 2]
    y_hat = [0, 0, 3, 1, 3]
    assert unweighted_accuracy(y, y_hat) == pytest.approx(5 / 9)
    assert weighted_accuracy(y, y_hat) == pytest.approx(3 / 5)
    assert per_class_recall(y, y_hat)["neu"] is None


def test_confusion_rows_are_true_columns_predicted() -> None:
    cm = confusion([2], [1])  # one sad utterance predicted as hap
    assert cm.shape == (4, 4)
    assert cm[2, 1] == 1 and cm.sum() == 1
    full = confusion(Y, Y_HAT)
    assert full[1, 0] == 2  # both hap called ang
    assert full[3, 2] == 1  # neu called sad
    assert full.sum(axis=1).tolist() == [6, 2, 1, 1]  # row sums are class sizes


def test_confusion_normalized_rows_sum_to_one_or_zero() -> None:
    cm = confusion([0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 2], normalize=True)
    assert cm[0].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert cm[1].tolist() == [0.0, 0.75, 0.25, 0.0]
    assert cm[2].sum() == 0 and cm[3].sum() == 0


def test_accepts_tensors_and_arrays() -> None:
    assert weighted_accuracy(torch.tensor(Y), np.array(Y_HAT)) == pytest.approx(0.7)


def test_summarize_is_json_ready() -> None:
    s = summarize(Y, Y_HAT)
    assert s["wa"] == pytest.approx(0.7) and s["ua"] == pytest.approx(0.5) and s["n"] == 10
    assert s["confusion"][1][0] == 2
    json.dumps(s)


@pytest.mark.parametrize(
    ("y", "y_hat", "match"),
    [([0, 1], [0], "2 labels but y_hat has 1"), ([], [], "empty"), ([0, 4], [0, 0], "unknown class ids \\[4\\]")],
)
def test_bad_input_is_a_clear_error(y: list[int], y_hat: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        weighted_accuracy(y, y_hat)
