"""Paired differences between two variants with a 95 % interval over folds and training seeds.

A comparison of two variants (TSIN vs w/o TA, say) is made on the same test utterances: for every fold of
every results folder (one folder per training seed, ``OUT/<protocol>/<variant>/<fold>/predictions.csv``)
both variants' UA and WA are computed on that fold's test utterances, optionally restricted to a subset
of them (the utterances of one cue, say), and the difference A - B of that (fold, seed) unit is kept.
The reported difference is the mean over the units, with a 95 % interval:

- ``method="t"`` (the default): the paired t interval of ``scipy.stats.ttest_rel``. With 5 folds x 3 seeds
  there are too few units for a resampling interval to be trustworthy (a bootstrap of 15 values
  underestimates the spread), while the differences of paired accuracies are roughly symmetric, which is
  what the t interval needs.
- ``method="bootstrap"`` (percentile) or ``"bca"``: ``scipy.stats.bootstrap`` over the paired units, with
  a fixed ``random_state`` so the interval is the same on every run.

The verdict reads the interval: "higher" (A above B: the interval lies above 0), "lower", or
"no measurable difference" (the interval holds 0). Units of one fold share their test utterances, so the
interval treats folds and seeds alike as units; it speaks for these folds and seeds, not for a new corpus.

Differences, means and interval ends are in percentage points (accuracy x 100), as every table prints them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tsin_nb.core import EMOTIONS
from tsin_nb.runs.results import fold_dirs
from tsin_nb.train import unweighted_accuracy, weighted_accuracy

#: Interval methods of :func:`paired_difference`.
INTERVAL_METHODS: tuple[str, ...] = ("t", "bootstrap", "bca")
#: The verdicts of a comparison.
VERDICTS: tuple[str, ...] = ("higher", "lower", "no measurable difference")
METRICS: tuple[str, ...] = ("ua", "wa")
UNIT_COLUMNS = ["run", "seed", "fold", "n", "ua_a", "ua_b", "wa_a", "wa_b", "d_ua", "d_wa"]
COMPARISON_COLUMNS = ["protocol", "a", "b", "subset", "metric", "mean", "low", "high", "n_units", "method",
                      "verdict", "mean_a", "mean_b"]


@dataclass(frozen=True)
class PairedDifference:
    """A - B over (fold, seed) units, in percentage points, with its interval and what it says."""

    a: str
    b: str
    metric: str
    mean: float
    low: float
    high: float
    n_units: int
    method: str
    verdict: str
    confidence: float = 0.95
    protocol: str = ""
    subset: str = ""
    mean_a: float = float("nan")
    mean_b: float = float("nan")
    units: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNIT_COLUMNS), repr=False,
                                compare=False)

    def row(self) -> dict[str, object]:
        """The facts as one tidy row (columns :data:`COMPARISON_COLUMNS`)."""
        return {c: getattr(self, c) for c in COMPARISON_COLUMNS}

    def __str__(self) -> str:
        what = f"{self.a} - {self.b}" + (f" ({self.subset})" if self.subset else "")
        return (f"{what}: {self.mean:+.1f} points {self.metric.upper()}, {100 * self.confidence:.0f} % interval "
                f"[{self.low:+.1f}, {self.high:+.1f}] over {self.n_units} units ({self.method}): {self.verdict}")


def verdict(low: float, high: float) -> str:
    """"higher" when the interval lies above 0, "lower" when below, else "no measurable difference"."""
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return "no measurable difference"


def _predictions(folder: Path) -> pd.DataFrame:
    """utt_id, label, pred of one finished fold, labels as class ids; one row per test utterance."""
    df = pd.read_csv(folder / "predictions.csv", usecols=["utt_id", "label", "pred"], dtype={"utt_id": str})
    index = {e: i for i, e in enumerate(EMOTIONS)}
    for col in ("label", "pred"):
        df[col] = df[col].map(lambda v: index.get(v, v)).astype(np.int64)
    if df["utt_id"].duplicated().any():
        raise ValueError(f"{folder / 'predictions.csv'} lists an utterance twice")
    return df.set_index("utt_id")


def _folders(out_dirs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str | os.PathLike]:
    """One results folder or several, as a list."""
    return [out_dirs] if isinstance(out_dirs, (str, os.PathLike)) else list(out_dirs)


def _seed(folder: Path) -> object:
    """The training seed recorded in a fold's metrics.json (None when it records none)."""
    try:
        return json.loads((folder / "metrics.json").read_text()).get("seed")
    except (OSError, ValueError):
        return None


def paired_units(
    out_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    protocol: str,
    a: str,
    b: str,
    ids: Iterable[str] | None = None,
    out_dirs_b: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> pd.DataFrame:
    """One row per (results folder, fold): UA and WA of variants ``a`` and ``b`` and their differences (points).

    ``out_dirs`` are results folders that differ only in the training seed. Both variants must have finished
    the same folds on the same test utterances; ``ids`` (a set of utterance ids, e.g. one cue's) restricts
    every fold to those utterances. ``out_dirs_b``: ``b``'s folders when it ran elsewhere (another setting, the
    same seeds), paired with ``out_dirs`` in order; then ``a`` and ``b`` may be the same variant.
    Raises ``ValueError`` naming the fold when the test utterances of the two variants differ, a fold finished
    for one variant only, or a fold holds none of ``ids``.
    Columns: :data:`UNIT_COLUMNS` (accuracies as fractions, ``d_ua`` / ``d_wa`` = 100 x (A - B)).
    """
    dirs = _folders(out_dirs)
    if not dirs:
        raise ValueError("no results folder given")
    dirs_b = dirs if out_dirs_b is None else _folders(out_dirs_b)
    if len(dirs_b) != len(dirs):
        raise ValueError(f"{len(dirs)} results folders for {a} but {len(dirs_b)} for {b}: pair them seed by seed")
    keep = None if ids is None else {str(i) for i in ids}
    rows = []
    seen: dict[tuple[str, object], str] = {}
    for out, out_b in zip(dirs, dirs_b):
        folders = {"A": {d.name: d for d in fold_dirs(out, protocol, a)},
                   "B": {d.name: d for d in fold_dirs(out_b, protocol, b)}}
        if not folders["A"] and not folders["B"]:
            raise ValueError(f"{out}/{protocol} holds no finished fold of {a} or {b}")
        for name in sorted(set(folders["A"]) ^ set(folders["B"])):
            has, lacks = (a, b) if name in folders["A"] else (b, a)
            raise ValueError(f"fold {name} of {out}/{protocol} finished for {has} but not for {lacks}; "
                             "finish it (or compare the folds both have)")
        for name, folder_a in folders["A"].items():
            pa, pb = _predictions(folder_a), _predictions(folders["B"][name])
            if set(pa.index) != set(pb.index):
                differ = len(set(pa.index) ^ set(pb.index))
                raise ValueError(f"fold {name} of {out}/{protocol}: {a} was tested on {len(pa)} utterances and {b} "
                                 f"on {len(pb)}, {differ} ids differ; a paired comparison needs the same test "
                                 "utterances")
            if not pa["label"].equals(pb.loc[pa.index, "label"]):
                raise ValueError(f"fold {name} of {out}/{protocol}: {a} and {b} disagree on the true labels")
            test = list(pa.index) if keep is None else [i for i in pa.index if i in keep]
            if not test:
                raise ValueError(f"fold {name} of {out}/{protocol} holds none of the {len(keep or ())} utterances "
                                 "of the subset")
            seed = _seed(folder_a)
            if seed is not None and (name, seed) in seen:
                raise ValueError(f"fold {name}: {seen[(name, seed)]} and {out} were both trained with seed {seed}; "
                                 "give results folders that differ in the training seed")
            seen[(name, seed)] = str(out)
            y, ya, yb = pa.loc[test, "label"], pa.loc[test, "pred"], pb.loc[test, "pred"]
            row = {"run": str(out), "seed": seed, "fold": name, "n": len(test),
                   "ua_a": unweighted_accuracy(y, ya), "ua_b": unweighted_accuracy(y, yb),
                   "wa_a": weighted_accuracy(y, ya), "wa_b": weighted_accuracy(y, yb)}
            row["d_ua"] = 100 * (row["ua_a"] - row["ua_b"])
            row["d_wa"] = 100 * (row["wa_a"] - row["wa_b"])
            rows.append(row)
    return pd.DataFrame(rows, columns=UNIT_COLUMNS)


def paired_difference(
    units: pd.DataFrame,
    metric: str = "ua",
    method: str = "t",
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
    *,
    a: str = "A",
    b: str = "B",
    protocol: str = "",
    subset: str = "",
) -> PairedDifference:
    """Mean of A - B over the units of :func:`paired_units` and its interval (see the module docstring).

    ``method``: "t" (paired t interval, ``scipy.stats.ttest_rel``), "bootstrap" (percentile) or "bca"
    (``scipy.stats.bootstrap``, paired, ``random_state`` fixed). Needs at least 2 units. When every unit has
    the same difference the interval is that single value.
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method {method!r}: choose one of {', '.join(INTERVAL_METHODS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    if len(units) < 2:
        raise ValueError(f"an interval needs at least 2 (fold, seed) units, got {len(units)}")
    xa = 100 * units[f"{metric}_a"].to_numpy(float)
    xb = 100 * units[f"{metric}_b"].to_numpy(float)
    d = xa - xb
    mean = float(d.mean())
    if np.allclose(d, d[0], rtol=0, atol=1e-12):  # no spread: scipy would return NaN ends
        low = high = mean
    elif method == "t":
        ci = stats.ttest_rel(xa, xb).confidence_interval(confidence)
        low, high = float(ci.low), float(ci.high)
    else:
        res = stats.bootstrap((xa, xb), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
                              vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
                              method="percentile" if method == "bootstrap" else "BCa",
                              random_state=np.random.default_rng(random_state))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return PairedDifference(a=a, b=b, metric=metric, mean=mean, low=low, high=high, n_units=len(units),
                            method=method, verdict=verdict(low, high), confidence=confidence, protocol=protocol,
                            subset=subset, mean_a=float(xa.mean()), mean_b=float(xb.mean()),
                            units=units.reset_index(drop=True))


def compare(
    out_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    protocol: str,
    a: str,
    b: str,
    ids: Iterable[str] | None = None,
    subset: str = "",
    metric: str = "ua",
    method: str = "t",
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
    out_dirs_b: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> PairedDifference:
    """Variant ``a`` minus variant ``b`` on the same test utterances, over the folds of every results folder.

    ``ids`` restricts the comparison to those utterances (``subset`` names them in the result, e.g. "focus");
    ``out_dirs_b`` compares with ``b`` trained elsewhere (another setting, the same seeds; see
    :func:`paired_units`); the rest as in :func:`paired_difference`. ``result.units`` is the per-unit table.
    """
    units = paired_units(out_dirs, protocol, a, b, ids, out_dirs_b)
    return paired_difference(units, metric, method, confidence, n_resamples, random_state, a=a, b=b,
                             protocol=protocol, subset=subset)


def comparison_table(comparisons: Iterable[PairedDifference]) -> pd.DataFrame:
    """One tidy row per comparison (columns :data:`COMPARISON_COLUMNS`), in the order given."""
    return pd.DataFrame([c.row() for c in comparisons], columns=COMPARISON_COLUMNS)


def compare_each(
    out_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    protocol: str,
    a: str,
    others: Iterable[str],
    ids: Iterable[str] | None = None,
    subset: str = "",
    metric: str = "ua",
    method: str = "t",
) -> pd.DataFrame:
    """:func:`compare` of ``a`` against each of ``others`` that finished folds, as one :func:`comparison_table`."""
    dirs = _folders(out_dirs)
    done = [b for b in others if b != a and all(fold_dirs(d, protocol, b) for d in dirs)]
    return comparison_table(compare(dirs, protocol, a, b, ids, subset, metric, method) for b in done)


def t_half_width(values: Iterable[float], confidence: float = 0.95) -> float:
    """Half-width of the t interval of the mean of ``values`` (``scipy.stats.t.interval`` with the standard error
    ``scipy.stats.sem``): the ± of "mean ± half-width". NaN for fewer than two values, 0 when all are equal."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2:
        return float("nan")
    sem = float(stats.sem(x))
    if sem == 0.0:
        return 0.0
    low, high = stats.t.interval(confidence, len(x) - 1, loc=float(x.mean()), scale=sem)
    return float(high - low) / 2


def mean_intervals(
    out_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    protocol: str,
    variants: Iterable[str],
    ids: Iterable[str] | None = None,
    metric: str = "ua",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per variant: mean accuracy (points) over its (fold, seed) units, the units and a t interval's half-width.

    The half-width is that of the mean of the units (``scipy.stats.t``), for error bars; it says how far the
    mean would move with other folds and seeds, not whether two variants differ (that is :func:`compare`, whose
    paired interval is narrower because both variants meet the same test utterances).
    Columns: variant, mean, half_width, n_units; a variant without finished folds is left out.
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    dirs = _folders(out_dirs)
    keep = None if ids is None else {str(i) for i in ids}
    score = unweighted_accuracy if metric == "ua" else weighted_accuracy
    rows = []
    for v in variants:
        values = []
        for out in dirs:
            for folder in fold_dirs(out, protocol, v):
                p = _predictions(folder)
                if keep is not None:
                    p = p[p.index.isin(keep)]
                if len(p):
                    values.append(100 * score(p["label"], p["pred"]))
        if not values:
            continue
        x = np.asarray(values, dtype=float)
        half = t_half_width(x, confidence)
        rows.append({"variant": v, "mean": float(x.mean()), "half_width": half, "n_units": len(x)})
    return pd.DataFrame(rows, columns=["variant", "mean", "half_width", "n_units"])
