"""Paired differences with 95 % intervals over (fold, seed) units, read from tiny results folders written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tsin_nb.core import EMOTIONS
from tsin_nb.runs import (
    PairedDifference,
    compare,
    compare_each,
    comparison_table,
    mean_intervals,
    paired_difference,
    paired_units,
    t_half_width,
)

FOLDS = ("Session1", "Session2", "Session3")
LABELS = [e for e in EMOTIONS for _ in range(2)]  # 8 test utterances per fold, 2 per class: UA = WA = correct / 8


def _write_fold(out: Path, variant: str, fold: str, ids: list[str], labels: list[str], preds: list[str],
                seed: int, protocol: str = "SesI") -> None:
    folder = out / protocol / variant / fold
    folder.mkdir(parents=True)
    pd.DataFrame({"utt_id": ids, "label": labels, "pred": preds}).to_csv(folder / "predictions.csv", index=False)
    wa = float(np.mean([a == b for a, b in zip(labels, preds)]))
    metrics = {"protocol": protocol, "variant": variant, "fold": fold, "fold_index": FOLDS.index(fold),
               "seed": seed, "wa": wa, "ua": wa}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "DONE").write_text("")


def _preds(correct: int) -> list[str]:
    """Predictions over LABELS with the first ``correct`` right and the rest one class off."""
    return [y if i < correct else EMOTIONS[(EMOTIONS.index(y) + 1) % 4] for i, y in enumerate(LABELS)]


def _results(root: Path, correct: dict[str, list[list[int]]]) -> list[Path]:
    """One results folder per seed; ``correct[variant][seed][fold]`` test utterances right out of 8."""
    outs = []
    n_seeds = len(next(iter(correct.values())))
    for seed in range(n_seeds):
        out = root / f"seed{seed}"
        for variant, per_seed in correct.items():
            for f, fold in enumerate(FOLDS):
                ids = [f"{fold}_u{i}" for i in range(len(LABELS))]
                _write_fold(out, variant, fold, ids, LABELS, _preds(per_seed[seed][f]), seed)
        outs.append(out)
    return outs


A_CORRECT = [[7, 6, 8], [6, 7, 7]]
B_CORRECT = [[5, 5, 6], [6, 4, 5]]


def test_t_interval_matches_a_hand_computed_case(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT})
    res = compare(outs, "SesI", "tsin", "no_ta")
    d = 100 * (np.array(A_CORRECT) - np.array(B_CORRECT)).ravel() / 8  # points, 6 units
    se = d.std(ddof=1) / np.sqrt(d.size)
    half = stats.t.ppf(0.975, d.size - 1) * se
    assert isinstance(res, PairedDifference)
    assert res.n_units == 6 and res.method == "t" and res.metric == "ua"
    assert res.mean == pytest.approx(d.mean())
    assert (res.low, res.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert res.verdict == "higher" and res.low > 0
    assert res.mean_a == pytest.approx(100 * np.mean(A_CORRECT) / 8)
    assert "higher" in str(res) and "6 units" in str(res)
    units = res.units
    assert list(units["fold"]) == list(FOLDS) * 2 and list(units["seed"]) == [0, 0, 0, 1, 1, 1]
    assert np.allclose(units["d_ua"], d) and np.allclose(units["d_wa"], d)
    # reversed order: the same interval, mirrored
    rev = compare(outs, "SesI", "no_ta", "tsin")
    assert rev.verdict == "lower" and rev.low == pytest.approx(-res.high) and rev.high == pytest.approx(-res.low)


def test_ua_is_the_mean_recall_per_unit(tmp_path: Path) -> None:
    labels = ["ang"] * 6 + ["sad"] * 2
    ids = [f"u{i}" for i in range(8)]
    _write_fold(tmp_path, "tsin", "Session1", ids, labels, ["ang"] * 8, seed=0)
    _write_fold(tmp_path, "text", "Session1", ids, labels, labels, seed=0)
    units = paired_units(tmp_path, "SesI", "tsin", "text")
    assert units.loc[0, "ua_a"] == pytest.approx(0.5) and units.loc[0, "wa_a"] == pytest.approx(0.75)
    assert units.loc[0, "d_ua"] == pytest.approx(-50.0) and units.loc[0, "d_wa"] == pytest.approx(-25.0)


def test_no_measurable_difference_when_the_interval_holds_zero(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": [[6, 5, 7], [5, 6, 6]], "no_si": [[5, 6, 5], [6, 5, 7]]})
    res = compare(outs, "SesI", "tsin", "no_si")
    assert res.low < 0 < res.high
    assert res.verdict == "no measurable difference"


def test_equal_differences_give_a_single_point_interval(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": [[6, 6, 6], [7, 7, 7]], "text": [[5, 5, 5], [6, 6, 6]]})
    res = compare(outs, "SesI", "tsin", "text")
    assert res.low == res.high == pytest.approx(12.5) and res.verdict == "higher"


def test_refuses_when_test_ids_differ(tmp_path: Path) -> None:
    ids = [f"u{i}" for i in range(8)]
    for fold in FOLDS:
        _write_fold(tmp_path, "tsin", fold, ids, LABELS, LABELS, seed=0)
        other = ids[:-1] + ["elsewhere"] if fold == "Session2" else ids
        _write_fold(tmp_path, "no_ta", fold, other, LABELS, LABELS, seed=0)
    with pytest.raises(ValueError, match=r"fold Session2 .*tsin was tested on 8 utterances and no_ta on 8, 2 ids"):
        compare(tmp_path, "SesI", "tsin", "no_ta")


def test_refuses_a_fold_finished_for_one_variant_only(tmp_path: Path) -> None:
    ids = [f"u{i}" for i in range(8)]
    for fold in FOLDS:
        _write_fold(tmp_path, "tsin", fold, ids, LABELS, LABELS, seed=0)
    _write_fold(tmp_path, "no_ta", "Session1", ids, LABELS, LABELS, seed=0)
    with pytest.raises(ValueError, match="fold Session2 .*finished for tsin but not for no_ta"):
        paired_units(tmp_path, "SesI", "tsin", "no_ta")


def test_refuses_two_folders_of_the_same_seed(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT[:1], "text": B_CORRECT[:1]})
    with pytest.raises(ValueError, match="both trained with seed 0"):
        paired_units([outs[0], outs[0]], "SesI", "tsin", "text")


def test_subset_restricts_every_unit(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "text": B_CORRECT})
    # the even utterances, one of each class: UA = WA = right ones among them / 4
    keep = {f"{fold}_u{i}" for fold in FOLDS for i in range(0, 8, 2)}
    res = compare(outs, "SesI", "tsin", "text", ids=keep, subset="focus")
    assert set(res.units["n"]) == {4} and res.subset == "focus"
    right_even = lambda k: sum(1 for i in range(0, 8, 2) if i < k)  # noqa: E731
    d = [100 * (right_even(a) - right_even(b)) / 4 for ra, rb in zip(A_CORRECT, B_CORRECT) for a, b in zip(ra, rb)]
    assert np.allclose(res.units["d_ua"], d)
    assert res.mean == pytest.approx(np.mean(d))
    with pytest.raises(ValueError, match="holds none of the 1 utterances"):
        compare(outs, "SesI", "tsin", "text", ids={"not_there"})


def test_bootstrap_is_reproducible_with_a_fixed_seed(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT})
    units = paired_units(outs, "SesI", "tsin", "no_ta")
    one = paired_difference(units, method="bootstrap", random_state=3, n_resamples=2000)
    two = paired_difference(units, method="bootstrap", random_state=3, n_resamples=2000)
    assert (one.low, one.high) == (two.low, two.high)
    assert one.method == "bootstrap" and one.low <= one.mean <= one.high
    d = units["d_ua"].to_numpy()
    assert d.min() <= one.low and one.high <= d.max()  # a percentile interval stays within the units
    bca = paired_difference(units, method="bca", random_state=3, n_resamples=2000)
    assert np.isfinite([bca.low, bca.high]).all() and bca.method == "bca"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT})
    units = paired_units(outs, "SesI", "tsin", "no_ta")
    with pytest.raises(ValueError, match="method 'z'"):
        paired_difference(units, method="z")
    with pytest.raises(ValueError, match="metric 'f1'"):
        paired_difference(units, metric="f1")
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference(units.iloc[:1])


def test_comparison_table_is_tidy(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT, "text": B_CORRECT})
    rows = [compare(outs, "SesI", "tsin", b, metric=m) for b in ("no_ta", "text") for m in ("ua", "wa")]
    table = comparison_table(rows)
    assert list(table.columns[:4]) == ["protocol", "a", "b", "subset"]
    assert len(table) == 4 and list(table["b"]) == ["no_ta", "no_ta", "text", "text"]
    assert list(table["metric"]) == ["ua", "wa", "ua", "wa"] and set(table["verdict"]) == {"higher"}
    assert table.loc[0, "mean"] == pytest.approx(rows[0].mean)


def test_mean_intervals_match_a_hand_computed_t_interval(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT})
    table = mean_intervals(outs, "SesI", ["tsin", "no_ta", "text"]).set_index("variant")
    assert list(table.index) == ["tsin", "no_ta"]  # a variant without results is left out
    for variant, correct in (("tsin", A_CORRECT), ("no_ta", B_CORRECT)):
        x = 100 * np.array(correct).ravel() / 8
        half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
        assert table.loc[variant, "n_units"] == 6
        assert table.loc[variant, "mean"] == pytest.approx(x.mean())
        assert table.loc[variant, "half_width"] == pytest.approx(half)
    # restricted to some utterances: the first two of every fold, both right in A (7, 6, 8, 6, 7, 7 correct)
    some = {f"{fold}_u{i}" for fold in FOLDS for i in range(2)}
    sub = mean_intervals(outs, "SesI", ["tsin"], ids=some, metric="wa").set_index("variant")
    assert sub.loc["tsin", "mean"] == pytest.approx(100.0) and sub.loc["tsin", "half_width"] == pytest.approx(0.0)


def test_t_half_width_matches_a_hand_computed_case() -> None:
    # 70, 74, 78, 82: mean 76, sample sd sqrt(80/3), se sd / 2; t(0.975, 3) = 3.182446305284263
    se = np.sqrt(80 / 3) / 2
    assert t_half_width([70.0, 74.0, 78.0, 82.0]) == pytest.approx(3.182446305284263 * se, rel=1e-12)
    assert t_half_width(np.array([70.0, 74.0, 78.0, 82.0]), confidence=0.9) == pytest.approx(
        stats.t.ppf(0.95, 3) * se, rel=1e-12)
    assert t_half_width(pd.Series([5.0, 5.0, 5.0])) == 0.0  # no spread: a point
    assert np.isnan(t_half_width([5.0])) and np.isnan(t_half_width([]))  # one value has no interval


def test_compare_each_is_one_compare_per_variant_that_ran(tmp_path: Path) -> None:
    outs = _results(tmp_path, {"tsin": A_CORRECT, "no_ta": B_CORRECT, "no_si": [[6, 5, 7], [5, 6, 6]]})
    table = compare_each(outs, "SesI", "tsin", ["no_ta", "tsin", "speech", "no_si"], subset="all", metric="wa")
    assert list(table["b"]) == ["no_ta", "no_si"]  # itself and variants without results are skipped
    one = compare(outs, "SesI", "tsin", "no_ta", metric="wa")
    assert table.loc[0, "mean"] == pytest.approx(one.mean) and table.loc[0, "low"] == pytest.approx(one.low)
    assert set(table["subset"]) == {"all"} and set(table["metric"]) == {"wa"}


def test_a_setting_against_another_pairs_folders_seed_by_seed(tmp_path: Path) -> None:
    """The same variant trained with two settings (one folder per seed each) compares as two variants would."""
    same = compare(_results(tmp_path / "both", {"tsin": A_CORRECT, "no_ta": B_CORRECT}), "SesI", "tsin", "no_ta")
    new, old = _results(tmp_path / "new", {"tsin": A_CORRECT}), _results(tmp_path / "old", {"tsin": B_CORRECT})
    res = compare(new, "SesI", "tsin", "tsin", out_dirs_b=old)
    assert (res.mean, res.low, res.high, res.n_units) == (same.mean, same.low, same.high, same.n_units)
    with pytest.raises(ValueError, match="pair them seed by seed"):
        compare(new, "SesI", "tsin", "tsin", out_dirs_b=old[:1])
