"""The "What this shows" notes of the training and table notebooks (03-06), as facts and as sentences.

Each note is a pair: ``X_facts(...)`` computes a small dict of numbers and verdict words from the run's
results (and from the run's own settings where a sentence names them), and ``X_text(...)`` renders those facts
as one to three sentences. The fixed context around a note (what a curve or a table means, how the paper did it)
is in the notebook's markdown, not here. Paper values come from the paper's tables in :mod:`tsin_nb.runs`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsin_nb.core import EMOTIONS, VARIANT_LABELS

#: Differences smaller than this many points (%) are called "level".
LEVEL = 0.5


def show_note(text: str) -> None:
    """Display ``text`` as Markdown in a notebook, print it elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def compare(a: float, b: float, level: float = LEVEL) -> str:
    """The verdict on ``a`` against ``b`` (same unit, e.g. % points): ``above``, ``below``, ``level``, or
    ``n/a`` when either is not a finite number."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    if abs(a - b) < level:
        return "level"
    return "above" if a > b else "below"


#: How a verdict of :func:`compare` reads in a sentence ("TSIN is ``above`` Text").
VERDICT_WORDS = {"above": "above", "below": "below", "level": "level with", "n/a": "not comparable with"}


def pts(x: float) -> str:
    """A signed difference in % points, as the notes print it."""
    return f"{x:+.1f} points"


def label(variant: str) -> str:
    """The paper's name of a variant, for the notes."""
    return VARIANT_LABELS.get(variant, variant)


# --------------------------------------------------------------- training runs ---


def status_facts(status: pd.DataFrame) -> dict[str, Any]:
    """Counts of a per-fold status table (``run_experiment``'s): folds trained now, reused, failed; training seconds."""
    counts = status["status"].value_counts() if len(status) else pd.Series(dtype=int)
    trained = status[status["status"] == "trained"] if len(status) else status
    return {"trained": int(counts.get("trained", 0)), "reused": int(counts.get("reused", 0)),
            "failed": int(counts.get("failed", 0)),
            "trained_wall_s": float(trained["wall_s"].sum()) if len(trained) else 0.0}


def status_line(status: pd.DataFrame, out_dir: Any = "OUT") -> str:
    """One line from a status table: folds trained now, reused and failed, and where each fold's log is."""
    f = status_facts(status)
    failed = f", {f['failed']} FAILED" if f["failed"] else ""
    return (f"{f['trained']} folds trained now ({f['trained_wall_s']:.0f} s), {f['reused']} reused from an earlier "
            f"run{failed}. Each fold's epoch lines are in the train.log of its folder under {out_dir}.")


def did_not_train(history: pd.DataFrame | Sequence[Mapping[str, Any]], ua: float, num_classes: int = len(EMOTIONS),
                  loss_drop: float = 0.05) -> bool:
    """True when UA (a fraction) is at chance and the training loss fell by less than ``loss_drop`` (relative)."""
    h = pd.DataFrame(history)
    if h.empty or "train_loss" not in h:
        return False
    first, last = float(h["train_loss"].iloc[0]), float(h["train_loss"].iloc[-1])
    at_chance = ua <= 1 / num_classes + 0.01
    flat = last > first * (1 - loss_drop)
    return bool(at_chance and flat)


def curve_facts(history: pd.DataFrame | Sequence[Mapping[str, Any]], select: str = "last") -> dict[str, Any]:
    """One fold's curves: training loss first and last; the epoch of the lowest validation loss and of the best
    validation UA (%); the share of epochs whose training loss lies above the validation loss; ``verdict``:

    - ``overfitting``: the validation loss rose by over 2 % after its minimum *and* the validation UA ends more than
      2 points below its best while the training loss kept falling: worse decisions on unseen utterances;
    - ``loss_rose``: the validation loss rose, but the validation UA did not fall: more confident mistakes, not
      worse decisions (no evidence of overfitting);
    - ``still_improving`` or ``no_validation``;

    and the epoch the test fold is scored with under ``select``."""
    h = pd.DataFrame(history)
    n = len(h)
    f: dict[str, Any] = {"epochs": n, "first_loss": float(h["train_loss"].iloc[0]),
                         "last_loss": float(h["train_loss"].iloc[-1]), "select": select, "scored_epoch": n,
                         "verdict": "no_validation"}
    if "val_loss" in h and h["val_loss"].notna().any():
        vl = h["val_loss"]
        f.update(best_loss_epoch=int(h.loc[vl.idxmin(), "epoch"]), best_val_loss=float(vl.min()),
                 last_val_loss=float(vl.iloc[-1]), best_ua_epoch=int(h.loc[h["val_ua"].idxmax(), "epoch"]),
                 best_val_ua=100 * float(h["val_ua"].max()), last_val_ua=100 * float(h["val_ua"].iloc[-1]),
                 train_above_val=float((h["train_loss"] > vl).mean()))
        rose = f["best_loss_epoch"] < n and vl.iloc[-1] - vl.min() > 0.02 * max(vl.min(), 1e-8)
        worse = f["best_val_ua"] - f["last_val_ua"] > 2.0 and f["last_loss"] < float(h["train_loss"].min()) + 1e-12
        f["verdict"] = ("overfitting" if worse else "loss_rose") if rose else "still_improving"
        if select == "val":
            f["scored_epoch"] = f["best_ua_epoch"]
    return f


#: How a note reads each verdict of :func:`curve_facts`.
CURVE_WORDS = {
    "overfitting": "overfitting: the validation UA fell too, while the training loss kept falling",
    "loss_rose": "the validation UA did not fall with it: more confident mistakes, not worse decisions, so this is "
                 "no evidence of overfitting",
    "still_improving": "still near its lowest",
}


def regularisation(cfg: Any, variant: str) -> list[str]:
    """What ``cfg`` switches on only while training ``variant`` (``curve_text``'s ``regularised``): the classifier
    dropout when above 0, and the text dropout when above 0 for a fused variant (not ``"speech"`` or ``"text"``)."""
    return [f"dropout {cfg.classifier_dropout:g}"] * (cfg.classifier_dropout > 0) + \
        [f"text dropout {cfg.text_dropout:g}"] * (cfg.text_dropout > 0 and variant not in ("speech", "text"))


def curve_text(history: pd.DataFrame | Sequence[Mapping[str, Any]], select: str = "last",
               regularised: Sequence[str] = ()) -> str:
    """The note under the training curves, rendered from :func:`curve_facts`.

    ``regularised`` names what is switched on only while training (e.g. ``"dropout 0.1"``, ``"text dropout 0.7"``):
    it is why a training loss can lie above the validation loss, and the note says so when it does.
    """
    f = curve_facts(history, select)
    lines = [f"**What this shows.** Over {f['epochs']} epochs the training loss fell from {f['first_loss']:.3f} "
             f"to {f['last_loss']:.3f}."]
    if f["verdict"] != "no_validation":
        trend = "rose to" if f["verdict"] in ("overfitting", "loss_rose") else "ends at"
        lines.append(f"The validation loss was lowest at epoch {f['best_loss_epoch']} ({f['best_val_loss']:.3f}) and "
                     f"{trend} {f['last_val_loss']:.3f} ({CURVE_WORDS[f['verdict']]}); the validation UA peaked "
                     f"at epoch {f['best_ua_epoch']} ({f['best_val_ua']:.1f} %) and ends at {f['last_val_ua']:.1f} %.")
        if f["train_above_val"] > 0.5:
            why = (f"training runs with {' and '.join(regularised)}, switched off for validation, and averages "
                   "over an epoch while the weights still change" if regularised else
                   "the training loss averages over an epoch while the weights still change")
            lines.append(f"The training loss lies above the validation loss in {100 * f['train_above_val']:.0f} % of "
                         f"the epochs: {why}.")
    lines.append(f"The test fold is scored with epoch {f['scored_epoch']} (`select = \"{f['select']}\"`).")
    return " ".join(lines)


def loop_facts(mine: float, theirs: float) -> dict[str, Any]:
    """The plain loop's first-epoch mean training loss against ``fit``'s, and their relative difference."""
    return {"loop_loss": float(mine), "fit_loss": float(theirs),
            "rel_diff": abs(mine - theirs) / abs(theirs) if theirs else math.inf}


def loop_text(mine: float, theirs: float) -> str:
    """The note under the plain loop, rendered from :func:`loop_facts`."""
    f = loop_facts(mine, theirs)
    return (f"**What this shows.** First-epoch mean training loss: plain loop {f['loop_loss']:.6f}, `fit` "
            f"{f['fit_loss']:.6f} (relative difference {f['rel_diff']:.1e}).")


def test_vs_val_facts(test_ua: float, history: pd.DataFrame | Sequence[Mapping[str, Any]], fold: str, n_test: int,
                      protocol: str) -> dict[str, Any]:
    """Test UA against the last epoch's validation UA (both in %), their difference and the verdict
    (``above`` / ``below`` / ``level`` within 2 points, ``n/a`` without a validation part)."""
    h = pd.DataFrame(history)
    val = 100 * float(h["val_ua"].iloc[-1]) if "val_ua" in h else math.nan
    test = 100 * float(test_ua)
    return {"protocol": protocol, "fold": fold, "n_test": int(n_test), "test_ua": test, "val_ua": val,
            "diff": test - val, "verdict": compare(test, val, level=2.0)}


def test_vs_val_text(test_ua: float, history: pd.DataFrame | Sequence[Mapping[str, Any]], fold: str, n_test: int,
                     protocol: str) -> str:
    """The note under the test fold, rendered from :func:`test_vs_val_facts`."""
    f = test_vs_val_facts(test_ua, history, fold, n_test, protocol)
    head = f"**What this shows.** Test UA on {f['protocol']} fold {f['fold']}: {f['test_ua']:.1f} % ({f['n_test']} utterances)"
    if f["verdict"] == "n/a":
        return head + ", no validation part to compare with."
    return head + (f", {VERDICT_WORDS[f['verdict']]} the last validation UA ({f['val_ua']:.1f} %, "
                   f"{pts(f['diff'])}).")


# --------------------------------------------------------------- Eq. 8 ---


def eq8_facts(literal: np.ndarray, stable: np.ndarray) -> dict[str, Any]:
    """Eq. 8 on random scores (rows: utterances): the share of rows the literal form puts outside [0, 1], and the
    largest |weight| of each form."""
    return {"n": int(len(literal)), "literal_outside": float(((literal < 0) | (literal > 1)).any(-1).mean()),
            "softmax_outside": float(((stable < 0) | (stable > 1)).any(-1).mean()),
            "literal_max": float(np.abs(literal).max()), "softmax_max": float(np.abs(stable).max())}


def eq8_text(literal: np.ndarray, stable: np.ndarray) -> str:
    """The note under Eq. 8's two forms, rendered from :func:`eq8_facts`."""
    f = eq8_facts(literal, stable)
    return (f"**What this shows.** Of {f['n']} random utterances, the literal form puts some weight outside [0, 1] "
            f"in {f['literal_outside']:.0%} (largest |weight| {f['literal_max']:.1f}), the softmax in "
            f"{f['softmax_outside']:.0%} (largest {f['softmax_max']:.2f}).")


def literal_run_facts(softmax: Mapping[str, Any], literal: Mapping[str, Any]) -> dict[str, Any]:
    """One fold trained with each Eq. 8 form: test UA (%), first and last training loss of each, the literal form's
    verdict against the softmax (within 2 points: ``level``) and whether it trained at all."""
    def loss(h: pd.DataFrame) -> tuple[float, float]:
        return float(h["train_loss"].iloc[0]), float(h["train_loss"].iloc[-1])

    s_ua, l_ua = 100 * float(softmax["ua"]), 100 * float(literal["ua"])
    broke = did_not_train(literal["history"], literal["ua"]) or not np.isfinite(literal["history"]["train_loss"]).all()
    return {"softmax_ua": s_ua, "literal_ua": l_ua, "diff": l_ua - s_ua, "verdict": compare(l_ua, s_ua, level=2.0),
            "softmax_loss": loss(softmax["history"]), "literal_loss": loss(literal["history"]),
            "literal_trained": not broke}


def literal_run_text(softmax: Mapping[str, Any] | str | os.PathLike,
                     literal: Mapping[str, Any] | str | os.PathLike) -> str:
    """The note under the Eq. 8 training run, rendered from :func:`literal_run_facts`.

    Each run is a mapping with its test ``ua`` (a share) and training ``history``, or a finished fold folder
    (``fold_dirs(...)[0]``), whose ``metrics.json`` and ``history.csv`` are read.
    """
    def read(run: Mapping[str, Any] | str | os.PathLike) -> Mapping[str, Any]:
        if isinstance(run, Mapping):
            return run
        folder = Path(run)
        return {"ua": json.loads((folder / "metrics.json").read_text())["ua"],
                "history": pd.read_csv(folder / "history.csv")}

    f = literal_run_facts(read(softmax), read(literal))
    (s0, s1), (l0, l1) = f["softmax_loss"], f["literal_loss"]
    return (f"**What this shows.** One fold, same seed: softmax test UA {f['softmax_ua']:.1f} % (training loss "
            f"{s0:.3f} -> {s1:.3f}), literal {f['literal_ua']:.1f} % ({l0:.3f} -> {l1:.3f}): "
            f"{VERDICT_WORDS[f['verdict']]} the softmax ({pts(f['diff'])}). The literal form "
            + ("trained." if f["literal_trained"] else "did not train (UA at chance, loss flat or not finite)."))


# --------------------------------------------------------------- tables ---


def table_one_facts(t1: pd.DataFrame, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Table I as numbers: per protocol our mean UA, the paper's, the difference and the fold range; the order
    of the protocols against the paper's (SpkD > SpkI > SesI); and the run's own settings, when given."""
    protocols: dict[str, dict[str, Any]] = {}
    for protocol, g in t1.groupby("protocol", sort=False):
        body, mean = g.iloc[:-1].dropna(subset=["UA"]), g.iloc[-1]
        lo, hi = body.loc[body["UA"].idxmin()], body.loc[body["UA"].idxmax()]
        protocols[str(protocol)] = {
            "ua": float(mean["UA"]), "paper_ua": float(mean["paper UA"]), "diff": float(mean["UA"] - mean["paper UA"]),
            "n_folds": len(body), "lo_fold": str(lo["test set"]), "lo_ua": float(lo["UA"]),
            "hi_fold": str(hi["test set"]), "hi_ua": float(hi["UA"])}
    order = sorted(protocols, key=lambda p: protocols[p]["ua"], reverse=True)
    paper_order = [p for p in ("SpkD", "SpkI", "SesI") if p in protocols]
    return {"protocols": protocols, "order": order, "paper_order": paper_order,
            "same_order": order == paper_order if len(order) > 1 else None, "settings": dict(settings or {})}


def table_one_text(t1: pd.DataFrame, settings: Mapping[str, Any] | None = None) -> str:
    """The note under Table I, rendered from :func:`table_one_facts`."""
    f = table_one_facts(t1, settings)
    lines = ["**What this shows.**"]
    for protocol, p in f["protocols"].items():
        spread = (f"folds range from {p['lo_ua']:.1f} ({p['lo_fold']}) to {p['hi_ua']:.1f} ({p['hi_fold']})"
                  if p["lo_ua"] != p["hi_ua"] else f"every fold at {p['lo_ua']:.1f}")
        lines.append(f"- {protocol}: mean UA {p['ua']:.1f} % over {p['n_folds']} fold{'s' if p['n_folds'] != 1 else ''} (paper {p['paper_ua']:.1f} %, "
                     f"{pts(p['diff'])}); {spread}.")
    if f["same_order"] is not None:
        lines.append(f"- Order by mean UA: {' > '.join(f['order'])} (paper: {' > '.join(f['paper_order'])}); "
                     + ("the same." if f["same_order"] else "not the same."))
    run = f["settings"]
    if run:
        lines.append("- This run: " + ", ".join(f"{k} {v}" for k, v in run.items()) + ".")
    return "\n".join(lines)


#: The verdict of a paired interval (``tsin_nb.runs.VERDICTS``) in the words of :func:`compare`.
INTERVAL_VERDICTS = {"higher": "above", "lower": "below", "no measurable difference": "level"}


def table_five_facts(results: pd.DataFrame, protocol: str, metric: str = "ua",
                     comparisons: pd.DataFrame | None = None) -> dict[str, Any]:
    """Table V as numbers (means over folds and seeds, in %): TSIN's mean; per other row its mean, TSIN's lead, the
    units (fold, seed) TSIN is ahead in, the verdict and the paper's lead (``paper_diff``, UA or WA as ``metric``);
    the ablations TSIN is not above; Speech against Text; and the best linear row. ``tsin`` is None without a
    TSIN result.

    ``comparisons`` (``tsin_nb.runs.compare_each`` of TSIN against the other rows): each row's verdict is then its
    paired 95 % interval's (``low``, ``high``; "level" when it holds 0) instead of a fixed 1-point margin.
    """
    from tsin_nb.runs import PAPER_TABLE_FIVE, TABLE_FIVE_ROWS

    col = 1 if metric == "ua" else 0
    r = results[results["protocol"] == protocol]
    f: dict[str, Any] = {"protocol": protocol, "metric": metric, "tsin": None, "rows": {}}
    if "tsin" not in set(r["variant"]):
        return f
    unit = ["fold", "seed"] if "seed" in r.columns else ["fold"]
    per_fold = r.pivot_table(index=unit, columns="variant", values=metric, aggfunc="mean") * 100
    order = [v for v in TABLE_FIVE_ROWS if v in per_fold.columns]
    per_fold = per_fold[order + [v for v in per_fold.columns if v not in order]]
    means = per_fold.mean()
    tsin = float(means["tsin"])
    paper = {v: p[protocol][col] for v, p in PAPER_TABLE_FIVE.items() if protocol in p}
    f["tsin"] = tsin
    for v in [c for c in per_fold.columns if c != "tsin"]:
        both = per_fold[["tsin", v]].dropna()
        f["rows"][v] = {"mean": float(means[v]), "diff": tsin - float(means[v]),
                        "wins": int((both["tsin"] > both[v]).sum()), "n_folds": len(both),
                        "verdict": compare(tsin, float(means[v])),
                        "paper_diff": paper["tsin"] - paper[v] if v in paper and "tsin" in paper else None}
        c = None if comparisons is None else comparisons[
            (comparisons["b"] == v) & (comparisons["metric"] == metric) & (comparisons["subset"] == "")
            & (comparisons["protocol"] == protocol)]
        if c is not None and len(c):
            c = c.iloc[0]
            f["rows"][v].update(diff=float(c["mean"]), low=float(c["low"]), high=float(c["high"]),
                                n_units=int(c["n_units"]), verdict=INTERVAL_VERDICTS[str(c["verdict"])])
    ablations = [v for v in ("speech", "text", "no_ta", "no_si") if v in f["rows"]]
    f["ablations"] = ablations
    f["ablations_not_beaten"] = [v for v in ablations if f["rows"][v]["verdict"] != "above"]
    if "speech" in means and "text" in means:
        diff = float(means["speech"] - means["text"])
        f["speech_vs_text"] = {"diff": diff, "verdict": compare(diff, 0.0),
                               "paper_diff": paper["speech"] - paper["text"] if {"speech", "text"} <= set(paper) else None}
    linear = [v for v in ("lin_speech", "lin_text", "lin_fusion") if v in means]
    if linear:
        best = max(linear, key=lambda v: float(means[v]))
        f["best_linear"] = {"variant": best, **f["rows"][best]}
    return f


def table_five_text(results: pd.DataFrame, protocol: str, metric: str = "ua",
                    comparisons: pd.DataFrame | None = None) -> str:
    """The note under Table V, rendered from :func:`table_five_facts`."""
    f = table_five_facts(results, protocol, metric, comparisons)
    paired = any("low" in r for r in f["rows"].values())
    head = (f"**What this shows** ({protocol}, {metric.upper()}, mean over folds and seeds; TSIN minus each row with "
            "its paired 95 % interval, \"level with\" when the interval holds 0)." if paired else
            f"**What this shows** ({protocol}, {metric.upper()}, mean over folds).")
    if f["tsin"] is None:
        return f"{head} No TSIN result on {protocol}."

    def row(v: str, r: Mapping[str, Any]) -> str:
        paper = f", paper {pts(r['paper_diff'])}" if r["paper_diff"] is not None else ""
        spread = f" [{r['low']:+.1f}, {r['high']:+.1f}]" if "low" in r else ""
        return (f"{VERDICT_WORDS[r['verdict']]} {label(v)} {r['mean']:.1f} % ({pts(r['diff'])}{spread}, ahead in "
                f"{r['wins']}/{r['n_folds']} {'units' if paired else 'folds'}{paper})")

    lines = [f"{head} TSIN {f['tsin']:.1f} %: " + "; ".join(row(v, r) for v, r in f["rows"].items()) + "."]
    if f["ablations"]:
        lost = f["ablations_not_beaten"]
        lines.append("TSIN is above every ablation (paper: above all four)." if not lost else
                     f"TSIN is not above {', '.join(label(v) for v in lost)} (paper: above all four).")
    if "speech_vs_text" in f:
        s = f["speech_vs_text"]
        paper = f"; paper {pts(s['paper_diff'])}" if s["paper_diff"] is not None else ""
        lines.append(f"Speech alone is {VERDICT_WORDS[s['verdict']]} Text alone ({pts(s['diff'])}{paper}).")
    return "\n".join(lines)
