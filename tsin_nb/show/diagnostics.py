"""What each model learned, measured on saved test outputs: per-cue accuracy and embedding silhouettes.

The embedded corpus records in ``synthetic_meta.csv`` whether an utterance carries its emotion in its
words only (``cue = "text"``), its voice only (``"voice"``), both, or (``cues="four"`` corpora) which of two
emotion words is emphasised (``"focus"``); :func:`cue_accuracy` scores every
variant on each group. :func:`embedding_silhouettes` scores how well the classes separate in the
embeddings themselves (not in a 2-D projection), fold by fold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tsin_nb.core import VARIANT_LABELS, listed
from tsin_nb.data import read_synthetic_meta

#: ``synthetic_meta.csv`` cue values and the names shown to readers.
CUE_NAMES: dict[str, str] = {"text": "words", "voice": "voice", "both": "both", "focus": "focus"}


def load_predictions(out_dir: str | os.PathLike, protocol: str, variants: Sequence[str]) -> pd.DataFrame:
    """Every finished fold's ``predictions.csv`` (utt_id, label, pred) with ``variant`` and ``fold`` columns."""
    from tsin_nb.runs import fold_dirs

    parts = []
    for variant in variants:
        for folder in fold_dirs(out_dir, protocol, variant):
            df = pd.read_csv(folder / "predictions.csv", usecols=["utt_id", "label", "pred"])
            parts.append(df.assign(variant=variant, fold=folder.name))
    if not parts:
        return pd.DataFrame(columns=["utt_id", "label", "pred", "variant", "fold"])
    return pd.concat(parts, ignore_index=True)


def read_cues(corpus_root: str | os.PathLike) -> pd.DataFrame | None:
    """``utt_id`` and ``cue`` of the embedded corpus, or None for a corpus without ``synthetic_meta.csv``."""
    path = Path(corpus_root) / "synthetic_meta.csv"
    if not path.is_file():
        return None
    meta = pd.read_csv(path, usecols=["utt_id", "cue"])
    return meta[meta["cue"].isin(list(CUE_NAMES))]


def cue_accuracy(predictions: pd.DataFrame, cues: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (%) per variant (rows, in order of appearance) and cue (columns words / voice / both / all).

    ``attrs["n"]`` holds the number of test predictions behind each cell.
    """
    merged = predictions.merge(cues, on="utt_id", how="inner", validate="many_to_one")
    if merged.empty:
        raise ValueError("no prediction matches an utterance of synthetic_meta.csv: are the results from this corpus?")
    merged["correct"] = (merged["label"] == merged["pred"]).astype(float)
    merged["cue"] = merged["cue"].map(CUE_NAMES)
    order = list(dict.fromkeys(merged["variant"]))
    columns = [c for c in CUE_NAMES.values() if c in set(merged["cue"])]
    acc = merged.pivot_table(index="variant", columns="cue", values="correct", aggfunc="mean").reindex(order)[columns]
    acc["all"] = merged.groupby("variant")["correct"].mean().reindex(order)
    n = merged.pivot_table(index="variant", columns="cue", values="correct", aggfunc="size").reindex(order)[columns]
    n["all"] = merged.groupby("variant").size().reindex(order)
    out = 100 * acc
    out.columns.name = "cue"
    out.attrs["n"] = n
    return out


def cue_ids(cues: pd.DataFrame) -> dict[str, set[str]]:
    """The test-utterance ids of each cue present in ``cues``, keyed by the name readers see (``CUE_NAMES``)."""
    ids = {name: set(cues.loc[cues["cue"] == cue, "utt_id"].astype(str)) for cue, name in CUE_NAMES.items()}
    return {name: s for name, s in ids.items() if s}


def known_words(meta: pd.DataFrame, test: set[str]) -> set[str]:
    """The words (lower case) of every utterance of ``meta`` outside ``test``: what a fold's model has read.

    ``meta``: :func:`tsin_nb.data.read_synthetic_meta` (indexed by ``utt_id``, with ``text``); ``test``: the fold's
    test ids. Training and validation utterances both count.
    """
    from tsin_nb.data import WORD_RE

    test = {str(u) for u in test}
    return {w.lower() for u, t in meta["text"].items() if u not in test for w in WORD_RE.findall(str(t))}


def word_seen_groups(meta: pd.DataFrame, test_sets: Sequence[set[str]]) -> dict[str, set[str]]:
    """Test utterances of the ``text`` and ``focus`` cues split by whether their deciding word was ever read in training.

    ``meta``: :func:`tsin_nb.data.read_synthetic_meta` (indexed by ``utt_id``, with ``cue``, ``text``,
    ``emotion_word`` and ``salient_word``); ``test_sets``: one set of test ids per fold. The deciding word is the
    emotion word of a ``text`` utterance and the emphasised one of a ``focus`` utterance. It is "seen" when it
    occurs, in any case, among the words of an utterance outside that fold's test set (training or validation),
    "unseen" otherwise: a word the model can only place by its meaning. Keys: ``"words, seen"``,
    ``"words, unseen"``, ``"focus, seen"``, ``"focus, unseen"``; empty groups are left out.
    """
    groups: dict[str, set[str]] = {}
    for test in test_sets:
        test = {str(u) for u in test}
        known = known_words(meta, test)
        for u in sorted(test & set(meta.index)):
            cue = meta.at[u, "cue"]
            word = meta.at[u, "emotion_word"] if cue == "text" else meta.at[u, "salient_word"] if cue == "focus" else ""
            if word:
                key = f"{CUE_NAMES[cue]}, {'seen' if str(word).lower() in known else 'unseen'}"
                groups.setdefault(key, set()).add(u)
    return {k: groups[k] for k in ("words, seen", "words, unseen", "focus, seen", "focus, unseen") if k in groups}


def cue_units(out_dirs: str | os.PathLike | Sequence[str | os.PathLike], protocol: str, variants: Sequence[str],
              cues: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy per variant and cue with a 95 % interval half-width over the (fold, seed) units (for error bars).

    Columns as :func:`cue_accuracy` (the means over units, %); ``attrs["half_width"]`` holds the half-widths.
    """
    from tsin_nb.runs import mean_intervals

    means, halves = {}, {}
    for name, ids in {**cue_ids(cues), "all": set(cues["utt_id"].astype(str))}.items():
        m = mean_intervals(out_dirs, protocol, variants, ids=ids, metric="wa", confidence=confidence).set_index("variant")
        means[name], halves[name] = m["mean"], m["half_width"]
    order = [v for v in variants if v in means["all"].index]
    out, half = pd.DataFrame(means).reindex(order), pd.DataFrame(halves).reindex(order)
    out.index.name = half.index.name = "variant"
    out.columns.name = "cue"
    out.attrs["half_width"] = half
    return out


def cue_comparisons(out_dirs: str | os.PathLike | Sequence[str | os.PathLike], protocol: str, cues: pd.DataFrame,
                    a: str = "tsin", others: Sequence[str] = ()) -> pd.DataFrame:
    """``a`` minus each of ``others`` in accuracy (points) on each cue's test utterances, with paired 95 % intervals.

    One row per (cue, other) as ``tsin_nb.runs.comparison_table``, ``subset`` naming the cue as readers see it.
    """
    from tsin_nb.runs import compare_each

    parts = [compare_each(out_dirs, protocol, a, others, ids=ids, subset=name, metric="wa")
             for name, ids in cue_ids(cues).items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def plot_cue_accuracy(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Grouped bars: accuracy per variant, one bar per cue; error bars from ``table.attrs["half_width"]`` if any."""
    cues = [c for c in table.columns if c != "all"]
    colors = {"words": "#4c72b0", "voice": "#dd8452", "both": "#55a868", "focus": "#c44e52"}
    fig = Figure(figsize=(max(6.0, 0.9 * len(table) + 2.5), 3.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(table))
    width = 0.8 / max(len(cues), 1)
    half = table.attrs.get("half_width")
    for k, cue in enumerate(cues):
        yerr = half[cue].reindex(table.index).to_numpy(float) if half is not None and cue in half else None
        bars = ax.bar(x - 0.4 + width * (k + 0.5), table[cue].to_numpy(float), width, label=cue,
                      color=colors.get(cue, None), yerr=yerr, capsize=2, error_kw={"lw": 0.8})
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(25, color="0.4", ls=":", lw=1, label="chance (4 classes)")
    ax.set_xticks(x, [VARIANT_LABELS.get(str(v), str(v)) for v in table.index], rotation=25, ha="right")
    ax.set(ylabel="accuracy (%)", ylim=(0, 105), title=title or "Accuracy by where the emotion is carried")
    if half is not None:
        ax.text(1.0, 1.01, "error bars: 95 % interval over folds x seeds", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="0.3")
    ax.legend(fontsize=8, ncols=len(cues) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    ax.grid(axis="y", alpha=0.3)
    return fig


def silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's silhouette (-1 to 1) of ``labels`` in the space of ``X``; NaN with fewer than two classes."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2 or len(labels) <= len(set(labels.tolist())):
        return float("nan")
    return float(silhouette_score(np.asarray(X, dtype=float), labels))


def embedding_silhouettes(out_dir: str | os.PathLike, protocols: Sequence[str], variants: Sequence[str]) -> pd.DataFrame:
    """Silhouette of the true classes in each finished fold's test embeddings: protocol, variant, fold, silhouette."""
    from tsin_nb.runs import fold_dirs, load_outputs

    rows = []
    for protocol in protocols:
        for variant in variants:
            for folder in fold_dirs(out_dir, protocol, variant):
                out = load_outputs(out_dir, protocol, variant, folder.name)
                rows.append({"protocol": protocol, "variant": variant, "fold": folder.name,
                             "silhouette": silhouette(out["embeddings"], out["labels"])})
    return pd.DataFrame(rows, columns=["protocol", "variant", "fold", "silhouette"])


def silhouette_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread of the silhouette over folds, per protocol and variant (in order of appearance)."""
    g = per_fold.groupby(["protocol", "variant"], sort=False)["silhouette"]
    return g.agg(silhouette="mean", std="std", folds="count").reset_index()


#: The trivial rules a "the largest weight points at the salient word" claim is measured against.
POINTER_RULES = ("last word", "first word", "uniform pick")


def salient_pointers(records: Sequence, meta: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per cue: how often the largest text-side weight (Eq. 8) falls on the salient word, beside trivial rules.

    ``records`` are alignment records (``utt_id``, ``words``, ``text_weights``), ``meta`` is ``synthetic_meta.csv``
    indexed by ``utt_id``. Rows: each cue present (as readers see it) and ``all``. Columns: ``n``, ``weights %``
    with its Wilson interval (``low``, ``high``, ``scipy.stats.binomtest``), and the hit rate (%) of always
    choosing the last word, the first word, or a word at random (``uniform pick``: the mean of 1 / words).
    A salient word beyond the words the model sees counts as a miss for every rule.
    """
    from scipy.stats import binomtest

    rows = []
    for r in records:
        if r.text_weights is None or r.utt_id not in meta.index or meta.loc[r.utt_id, "cue"] not in CUE_NAMES:
            continue
        m, s = len(r.words), int(meta.loc[r.utt_id, "salient_index"])
        rows.append({"cue": CUE_NAMES[meta.loc[r.utt_id, "cue"]], "weights": int(np.argmax(r.text_weights[:m])) == s,
                     "last word": s == m - 1, "first word": s == 0, "uniform pick": (1 / m) if s < m else 0.0})
    if not rows:
        return pd.DataFrame(columns=["n", "weights %", "low", "high", *POINTER_RULES])
    df = pd.DataFrame(rows)
    out = {}
    for name, g in [*((c, df[df["cue"] == c]) for c in CUE_NAMES.values() if (df["cue"] == c).any()), ("all", df)]:
        ci = binomtest(int(g["weights"].sum()), len(g)).proportion_ci(confidence, method="wilson")
        out[name] = {"n": len(g), "weights %": 100 * g["weights"].mean(), "low": 100 * ci.low, "high": 100 * ci.high,
                     **{rule: 100 * g[rule].mean() for rule in POINTER_RULES}}
    table = pd.DataFrame(out).T
    table["n"] = table["n"].astype(int)
    table.index.name = "cue"
    return table


#: The paper's figure of each protocol's embeddings (Fig. 5 SesI, Fig. 6 SpkI, Fig. 7 SpkD).
EMBEDDING_FIGURES: dict[str, int] = {"SesI": 5, "SpkI": 6, "SpkD": 7}


def embedding_figures(out_dir: str | os.PathLike, protocols: str | Sequence[str], variants: Sequence[str],
                      fold_index: int, fig_dir: str | os.PathLike, seed: int = 0,
                      methods: Sequence[str] = ("tsne", "umap")) -> dict[str, Figure]:
    """Figs. 5-7: each variant's test embeddings of fold ``fold_index`` projected to 2-D, one figure per method and
    protocol, saved as ``fig{5,6,7}_{method}_{protocol}`` under ``fig_dir``; returns them by name, in that order."""
    from tsin_nb.core import EMOTIONS
    from tsin_nb.runs import load_outputs
    from tsin_nb.show.plotting import save_figure
    from tsin_nb.show.result_plots import embed_2d, plot_embeddings

    figures = {}
    for method in methods:
        for protocol in listed(protocols):
            points = {}
            for variant in variants:
                out = load_outputs(out_dir, protocol, variant, fold_index)
                points[variant] = (embed_2d(out["embeddings"], method=method, seed=seed),
                                   np.array([EMOTIONS[i] for i in out["labels"]]))
            name = f"fig{EMBEDDING_FIGURES.get(protocol, 0)}_{method}_{protocol}"
            figures[name] = plot_embeddings(points, method="none",
                                            title=f"{method.upper()} of test embeddings, {protocol} fold {fold_index + 1}")
            save_figure(figures[name], name, fig_dir)
    return figures


def silhouette_summary(out_dir: str | os.PathLike, protocols: str | Sequence[str],
                       variants: Sequence[str]) -> pd.DataFrame:
    """:func:`silhouette_table` over the folds that every one of ``variants`` finished (so each mean is over the
    same test utterances): protocol, variant, silhouette (mean), std and folds."""
    per_fold = embedding_silhouettes(out_dir, listed(protocols), variants)
    per_fold = per_fold[per_fold.groupby(["protocol", "fold"])["variant"].transform("nunique") == len(set(variants))]
    return silhouette_table(per_fold)


def summed_confusions(out_dir: str | os.PathLike, protocols: str | Sequence[str], variant: str = "tsin",
                      folds: int | None = None) -> dict[str, np.ndarray]:
    """Fig. 3: per protocol, the (C, C) confusion counts (rows true, columns predicted) added over its finished test
    folds (the first ``folds`` when given), keyed ``"SesI (5 folds)"``; every test utterance counts once."""
    from tsin_nb.runs import load_metrics

    out = {}
    for protocol in listed(protocols):
        runs = load_metrics(out_dir, protocol, variant)[: folds or None]
        if not runs:
            raise FileNotFoundError(f"no finished {variant} fold of {protocol} under {out_dir}")
        cm = np.sum([np.asarray(m["confusion"]) for m in runs], axis=0)
        if cm.sum() != sum(m["n_test"] for m in runs):
            raise ValueError(f"{protocol}: the confusion counts do not add up to the test utterances")
        out[f"{protocol} ({len(runs)} fold{'s' if len(runs) != 1 else ''})"] = cm
    return out


def cue_examples(corpus_root: str | os.PathLike) -> pd.DataFrame | None:
    """One utterance of each cue of the embedded corpus (label, text, the word that carries it and, for ``focus``,
    the other candidate); None for a corpus without cues."""
    meta = read_synthetic_meta(corpus_root)
    if meta is None:
        return None
    meta = meta[meta["cue"].isin(list(CUE_NAMES))]
    cols = [c for c in ("cue", "label_code", "text", "salient_word", "other_word") if c in meta.columns]
    return meta.groupby("cue", sort=False).head(1)[cols]


def cue_study(out_dirs: str | os.PathLike | Sequence[str | os.PathLike], protocol: str, variants: Sequence[str],
              cues: pd.DataFrame, a: str = "tsin") -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`cue_units` (accuracy per variant and cue, with interval half-widths) and :func:`cue_comparisons`
    (``a`` minus each variant per cue, paired intervals) over the same (fold, seed) units."""
    variants = listed(variants)
    return cue_units(out_dirs, protocol, variants, cues), cue_comparisons(out_dirs, protocol, cues, a, variants)
