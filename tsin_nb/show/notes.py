"""Sentences built from a run's numbers: the "What this shows" notes and the "paper vs this run" table.

Every text here is computed from the results it describes, so it follows whatever the numbers are;
the notebooks show them with :func:`show`. Paper values come from ``TSINConfig()`` (the paper's
defaults) and from the paper's tables in :mod:`tsin_nb.experiment`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsin_nb.core import EMOTIONS, VARIANT_LABELS
from tsin_nb.show.settings_table import TOPICS, paper_vs_run  # noqa: F401  (the settings table, re-exported)

#: Differences smaller than this many points (%) are called "level with".
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
    """``above`` / ``below`` / ``level with``: how ``a`` stands against ``b`` (same unit, e.g. % points)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return "not comparable with"
    if abs(a - b) < level:
        return "level with"
    return "above" if a > b else "below"


def _pts(x: float) -> str:
    return f"{x:+.1f} points"


def _label(variant: str) -> str:
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


def curve_text(history: pd.DataFrame | Sequence[Mapping[str, Any]], select: str = "last") -> str:
    """What the loss and validation curves of one fold say: still learning, or past the validation optimum."""
    h = pd.DataFrame(history)
    n = len(h)
    first, last = h["train_loss"].iloc[0], h["train_loss"].iloc[-1]
    parts = [f"**What this shows.** Over {n} epochs the training loss fell from {first:.3f} to {last:.3f}."]
    if "val_loss" in h and h["val_loss"].notna().any():
        vl = h["val_loss"]
        best = int(h.loc[vl.idxmin(), "epoch"])
        best_ua = int(h.loc[h["val_ua"].idxmax(), "epoch"])
        rise = vl.iloc[-1] - vl.min()
        if best < n and rise > 0.02 * max(vl.min(), 1e-8):
            parts.append(
                f"The validation loss was lowest at epoch {best} ({vl.min():.3f}) and rose to {vl.iloc[-1]:.3f} by the "
                f"end: the model grows over-confident on utterances it gets wrong (overfitting), while the validation "
                f"UA peaked at epoch {best_ua} ({100 * h['val_ua'].max():.1f} %) and ends at {100 * h['val_ua'].iloc[-1]:.1f} %.")
        else:
            parts.append(f"The validation loss was still at its lowest at the end ({vl.iloc[-1]:.3f}): more epochs "
                         "might still help.")
        if select == "last":
            other = "the same epoch" if best_ua == n else f"epoch {best_ua} instead"
            parts.append("The test fold is scored with the last epoch, as the paper (which describes no model "
                         f"selection) presumably did; `select = \"val\"` would take {other}, chosen "
                         "on the validation part, never on the test fold.")
    return " ".join(parts)


def loop_text(mine: float, theirs: float) -> str:
    """The plain loop's first-epoch loss against ``fit``'s."""
    return (f"**What this shows.** The plain loop's first epoch has a mean training loss of {mine:.6f}; `fit`'s "
            f"first epoch has {theirs:.6f}. `fit` is this loop plus validation, checkpoints, resuming, the "
            "learning-rate schedule and one look at the test fold at the end.")


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
        lines.append(f"- {protocol}: mean UA {p['ua']:.1f} % over {p['n_folds']} folds (paper {p['paper_ua']:.1f} %, "
                     f"{_pts(p['diff'])}); {spread}.")
    if f["same_order"] is not None:
        lines.append(f"- Order by mean UA: {' > '.join(f['order'])} (paper: SpkD > SpkI > SesI); "
                     + ("the same." if f["same_order"] else "not the same."))
    run = f["settings"]
    if run:
        lines.append("- This run: " + ", ".join(f"{k} {v}" for k, v in run.items()) + ".")
    return "\n".join(lines)


def table_five_text(results: pd.DataFrame, protocol: str = "SesI", metric: str = "ua") -> str:
    """Table V: does TSIN beat each ablation and each linear row (mean and fold by fold), as in the paper?"""
    from tsin_nb.runs import PAPER_TABLE_FIVE, TABLE_FIVE_ROWS

    r = results[results["protocol"] == protocol]
    if "tsin" not in set(r["variant"]):
        return f"**What this shows.** No TSIN result on {protocol} to compare with."
    per_fold = r.pivot_table(index="fold", columns="variant", values=metric, aggfunc="mean") * 100
    order = [v for v in TABLE_FIVE_ROWS if v in per_fold.columns]
    per_fold = per_fold[order + [v for v in per_fold.columns if v not in order]]
    means = per_fold.mean()
    M = metric.upper()
    tsin = means["tsin"]
    lines = [f"**What this shows** ({protocol}, {M}, mean over folds). TSIN reaches {tsin:.1f} %."]
    beaten, not_beaten = [], []
    for v in [c for c in per_fold.columns if c != "tsin"]:
        both = per_fold[["tsin", v]].dropna()
        wins = int((both["tsin"] > both[v]).sum())
        word = compare(tsin, means[v])
        paper = PAPER_TABLE_FIVE.get(v, {}).get(protocol)
        paper_note = ""
        if paper is not None:
            pt = PAPER_TABLE_FIVE["tsin"][protocol][1 if metric == "ua" else 0] - paper[1 if metric == "ua" else 0]
            paper_note = f"; paper: TSIN {_pts(pt)}"
        lines.append(f"- TSIN is {word} {_label(v)} ({means[v]:.1f} %, {_pts(tsin - means[v])}; TSIN ahead in "
                     f"{wins} of {len(both)} folds{paper_note}).")
        (beaten if word == "above" else not_beaten).append(_label(v))
    ablations = [_label(v) for v in ("speech", "text", "no_ta", "no_si") if v in per_fold.columns]
    if ablations:
        lost = [a for a in ablations if a in not_beaten]
        if not lost:
            lines.append("TSIN is above every ablation, as in the paper.")
        else:
            lines.append(f"Unlike the paper, where TSIN is above all four ablations, TSIN is not above {', '.join(lost)} "
                         "here. Differences of a point or two are within the spread over folds; a gap the "
                         "fold-by-fold count does not back up is not a finding.")
    if "speech" in means and "text" in means:
        lines.append(f"Speech alone is {compare(means['speech'], means['text'])} Text alone "
                     f"({_pts(means['speech'] - means['text'])}; paper {_pts(PAPER_TABLE_FIVE['speech'][protocol][1] - PAPER_TABLE_FIVE['text'][protocol][1])} in UA).")
    lin = [v for v in ("lin_speech", "lin_text", "lin_fusion") if v in means]
    if lin:
        best = max(lin, key=means.get)
        gap = tsin - means[best]
        lines.append(f"The best linear row, {_label(best)}, reaches {means[best]:.1f} %: TSIN is {compare(tsin, means[best])} "
                     f"this logistic regression ({_pts(gap)})"
                     + ("." if gap >= LEVEL else ", so at this size and training budget the deep model adds nothing "
                        "over a linear model on the same features."))
    return "\n".join(lines)


def embeddings_text(means: Mapping[str, float], failed: Mapping[str, tuple[int, int]]) -> str:
    """Fig. 4: which word vectors gave the best mean UA (%), and which runs did not train (failed, of folds)."""
    best = max(means, key=means.get)
    lines = [f"**What this shows.** The best word vectors here are **{best}** (UA {means[best]:.1f} %): "
             + ", ".join(f"{k} {v:.1f} %" for k, v in means.items() if k != best) + "."]
    for name, (bad, total) in failed.items():
        if bad:
            lines.append(f"- {name}: in {bad} of {total} folds the UA is at chance and the training loss stayed flat: that "
                         "model **did not train** (it predicts one class). Its bar measures a failed optimisation, "
                         "not what these word vectors carry.")
    lines.append("The paper finds pretrained BERT best among its five embeddings"
                 + (", and so does this run." if best == "minilm" else "; this run does not.")
                 + " On this corpus, test sessions use emotion words never seen in training, so only vectors that "
                 "know synonyms carry the word cue over; a one-hot code gives those words a zero vector.")
    return "\n".join(lines)


def silhouette_text(table: pd.DataFrame) -> str:
    """Figs. 5-7: which model's embeddings separate the classes best (silhouette, mean over folds)."""
    lines = ["**What this shows** (silhouette of the test embeddings themselves, in their full width, mean over folds; "
             "1 = tight separated clusters, 0 = overlapping)."]
    for protocol, g in table.groupby("protocol", sort=False):
        s = g.set_index("variant")["silhouette"]
        order = s.sort_values(ascending=False)
        tsin_first = order.index[0] == "tsin"
        lines.append(f"- {protocol}: " + ", ".join(f"{_label(v)} {x:.2f}" for v, x in order.items())
                     + (" - TSIN's clusters are the clearest, as the paper's figures suggest." if tsin_first else
                        " - TSIN's clusters are not the clearest, against the paper's reading of its figures."))
    lines.append("The 2-D pictures only illustrate; t-SNE and UMAP distort distances, so the numbers above come from "
                 "the embeddings, not from the pictures.")
    return "\n".join(lines)


def confusion_text(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS) -> str:
    """Fig. 3: per protocol, the best and worst recognised class and the most frequent confusion."""
    lines = ["**What this shows.**"]
    for name, cm in cms.items():
        cm = np.asarray(cm, dtype=float)
        recall = np.divide(np.diag(cm), cm.sum(1), out=np.zeros(len(cm)), where=cm.sum(1) > 0)
        off = cm.copy()
        np.fill_diagonal(off, 0)
        i, j = np.unravel_index(np.argmax(off), off.shape)
        share = off[i, j] / cm[i].sum() if cm[i].sum() else 0.0
        lines.append(f"- {name}: best recalled {labels[int(np.argmax(recall))]} ({100 * recall.max():.0f} %), worst "
                     f"{labels[int(np.argmin(recall))]} ({100 * recall.min():.0f} %); the most frequent error is "
                     f"{labels[i]} taken for {labels[j]} ({100 * share:.0f} % of {labels[i]}).")
    lines.append("The paper's Fig. 3 shows the same matrices on IEMOCAP; only the shape (which classes are confused) "
                 "can be compared, and the synthetic corpus builds its confusions by rule (voice cues of different "
                 "classes overlap by design).")
    return "\n".join(lines)


def alignment_text(overall: pd.DataFrame) -> str:
    """Notebook 09: the share of each word's attention inside its true span, against a uniform spread."""
    lines = ["**What this shows** (ratio = attention inside the word's true span / what a uniform spread would put "
             "there; 1 is chance)."]
    for name, row in overall.iterrows():
        ratio = float(row["ratio"])
        verdict = "finds the words better than chance" if ratio > 1.1 else (
            "does no better than chance" if ratio >= 0.9 else "looks away from the words, below chance")
        fixed = " (fixed equal segments, not learned: a yardstick)" if name == "no_ta" else ""
        lines.append(f"- {_label(str(name))}{fixed}: {100 * row['mass_in_span']:.1f} % in span against "
                     f"{100 * row['uniform_share']:.1f} % uniform, ratio {ratio:.2f}: it {verdict}.")
    lines.append("The paper never measures this. Nothing in its loss asks Eq. 4 to find the words: the alignment is "
                 "trained only through the emotion loss, so it may attend wherever that helps classification. The "
                 "word-order prior (if shown) adds only the order of the words; compare 'tsin' with the prior alone "
                 "to see what training adds to it. A model trained with the alignment loss (if shown) tells what the "
                 "architecture does when told the spans.")
    return "\n".join(lines)


def salient_text(hits: Sequence[bool], chance: Sequence[float]) -> str:
    """Notebook 09: how often the largest text-side weight falls on the emphasised emotion word."""
    if not len(hits):
        return "**What this shows.** No test utterance with a known salient word."
    rate, base = float(np.mean(hits)), float(np.mean(chance))
    verdict = compare(100 * rate, 100 * base, level=2.0)
    return (f"**What this shows.** The largest text-side weight (Eq. 8) falls on the emotion-salient word in "
            f"{rate:.1%} of {len(hits)} test utterances, {verdict} chance ({base:.1%}). "
            + ("So the semantic weights do point at the word that carries the emotion." if verdict == "above" else
               "So on this run the semantic weights do not single out the word that carries the emotion (what SI "
               "adds to accuracy is the 'w/o SI' row of notebook 06)."))


def cue_text(table: pd.DataFrame) -> str:
    """Per-cue accuracy: what each branch learned (speech should read the voice, text the words)."""
    lines = ["**What this shows** (accuracy on test utterances whose emotion is carried by ...)."]
    for variant, row in table.iterrows():
        vals = row.drop(labels=[c for c in row.index if c == "all"]).astype(float)
        if vals.isna().all():
            continue
        lines.append(f"- {_label(str(variant))}: best on *{vals.idxmax()}* ({vals.max():.0f} %), worst on "
                     f"*{vals.idxmin()}* ({vals.min():.0f} %).")
    if {"speech", "text", "tsin"} <= set(table.index) and {"words", "voice"} <= set(table.columns):
        t = table.loc["tsin"]
        lines.append(f"A fused model should do well on both cues: TSIN has {t['words']:.0f} % on words (Text "
                     f"{table.loc['text', 'words']:.0f} %) and {t['voice']:.0f} % on voice (Speech "
                     f"{table.loc['speech', 'voice']:.0f} %). Where TSIN's voice column stays near Text's, the fused "
                     "model leans on the words and hardly uses the speech branch.")
    lines.append("The paper cannot show this: IEMOCAP has no such labels.")
    return "\n".join(lines)


def eq8_text(literal: np.ndarray, stable: np.ndarray) -> str:
    """Eq. 8 on random scores: how often the literal form leaves [0, 1]."""
    outside = float(((literal < 0) | (literal > 1)).any(-1).mean())
    return (f"**What this shows.** Both forms sum to one, but the literal form puts some weight outside [0, 1] in "
            f"{outside:.0%} of these random utterances (largest |weight| {np.abs(literal).max():.1f}); the softmax never "
            f"does (largest {np.abs(stable).max():.2f}).")


def literal_run_text(softmax: Mapping[str, Any], literal: Mapping[str, Any]) -> str:
    """One fold trained with each Eq. 8 form: test UA and the training loss curve of each."""
    def loss(h: pd.DataFrame) -> str:
        return f"{h['train_loss'].iloc[0]:.3f} -> {h['train_loss'].iloc[-1]:.3f}"

    s_ua, l_ua = 100 * softmax["ua"], 100 * literal["ua"]
    word = compare(l_ua, s_ua, level=2.0)
    broke = did_not_train(literal["history"], literal["ua"]) or not np.isfinite(literal["history"]["train_loss"]).all()
    verdict = ("The literal form did not train on this fold." if broke else
               "On this fold the literal form trained noticeably worse." if word == "below" else
               "On this fold the literal form trained about as well: the danger above is real for untrained "
               "scores but did not show in this one run; other seeds, widths or longer training may differ.")
    return (f"**What this shows.** One fold, same seed: softmax test UA {s_ua:.1f} % (training loss {loss(softmax['history'])}), "
            f"literal {l_ua:.1f} % ({loss(literal['history'])}), {word} the softmax. {verdict}")


def test_vs_val_text(test_ua: float, history: pd.DataFrame | Sequence[Mapping[str, Any]], fold: str,
                     n_test: int) -> str:
    """Notebook 04: test UA against the last epoch's validation UA (fractions)."""
    h = pd.DataFrame(history)
    val = float(h["val_ua"].iloc[-1]) if "val_ua" in h else math.nan
    if not math.isfinite(val):
        return f"**What this shows.** Test UA on {fold}: {100 * test_ua:.1f} % (no validation part)."
    word = compare(100 * test_ua, 100 * val, level=2.0)
    why = {"below": "the test speakers or session were never seen, while the validation part shares them with "
                    "training, so validation is the easier, optimistic estimate.",
           "above": f"with {n_test} test utterances a difference of a few points is within chance.",
           "level with": "the validation part predicted the held-out fold well."}.get(word, "")
    return (f"**What this shows.** Test UA on {fold} is {100 * test_ua:.1f} %, {word} the last validation UA "
            f"({100 * val:.1f} %): {why}")
