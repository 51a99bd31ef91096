"""Figures of results: training curves, confusion matrices (Fig. 7), embeddings (Figs. 5-6), tables (I, V)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import patheffects
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from tsin_nb.core import EMOTIONS, PROTOCOLS
from tsin_nb.show.plotting import (
    FALLBACK_COLORS,
    METRIC_COLORS,
    emotion_color,
    emotion_marker,
    label_name,
    mathtext_safe,
    new_figure,
    variant_label,
)

# ----------------------------------------------------------------------------- training


def plot_training_curves(history: pd.DataFrame | Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Loss per epoch and validation WA/UA (mean and spread over folds when a ``fold`` column is present)."""
    df = pd.DataFrame(history).copy()
    if df.empty or "epoch" not in df:
        raise ValueError("history needs rows with an 'epoch' column (e.g. history.csv written by fit)")
    acc_cols = [c for c in ("train_wa", "train_ua", "val_wa", "val_ua") if c in df]
    if acc_cols and np.nanmax(df[acc_cols].to_numpy(float)) <= 1.0:
        df[acc_cols] = df[acc_cols] * 100
    fig = new_figure((11, 3.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for col, color in (("train_loss", "#4c72b0"), ("val_loss", "#c44e52")):
        if col in df:
            sns.lineplot(data=df, x="epoch", y=col, ax=ax_loss, label=col.replace("_", " "), color=color,
                         errorbar="sd")
    ax_loss.set(ylabel="cross-entropy (Eq. 12)", title="Loss")
    styles = {"val_wa": ("#4c72b0", "-"), "val_ua": ("#dd8452", "-"),
              "train_wa": ("#4c72b0", ":"), "train_ua": ("#dd8452", ":")}
    for col in acc_cols:
        color, ls = styles[col]
        sns.lineplot(data=df, x="epoch", y=col, ax=ax_acc, label=col.replace("_", " ").replace("wa", "WA")
                     .replace("ua", "UA"), color=color, linestyle=ls, errorbar="sd")
    ax_acc.set(ylabel="accuracy (%)", title="WA / UA (Eqs. 13-14)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(mathtext_safe(title))
    return fig


# ----------------------------------------------------------------------------- confusion matrices


def plot_confusion(cm: np.ndarray, labels: Sequence[str] = EMOTIONS, title: str | None = None,
                   normalize: bool = True, ax: Any = None, cbar: bool = True) -> Figure:
    """Confusion matrix heatmap (rows true, columns predicted): row-normalized % with the counts.

    ``cbar`` adds a colour bar saying what the colour means (% of the true row, or utterances).
    """
    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix has shape {cm.shape}, expected {(len(labels), len(labels))}")
    fig = new_figure((4.4, 3.9)) if ax is None else ax.figure
    ax = fig.add_subplot() if ax is None else ax
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100 * cm, rows, out=np.zeros_like(cm), where=rows > 0)
    data = pct if normalize else cm
    annot = np.array([[f"{p:.1f}%\n({int(round(n))})" for p, n in zip(pr, nr)] for pr, nr in zip(pct, cm)])
    sns.heatmap(data, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=100 if normalize else None,
                xticklabels=list(labels), yticklabels=list(labels), square=True, cbar=cbar, ax=ax,
                annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "% of the true row" if normalize else "utterances", "shrink": 0.8})
    ax.set(xlabel="predicted", ylabel="true")
    ax.tick_params(axis="y", rotation=0)
    if title:
        ax.set_title(mathtext_safe(title))
    return fig


def plot_confusions(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS, normalize: bool = True,
                    title: str | None = None) -> Figure:
    """Several confusion matrices side by side, e.g. SesI, SpkI, SpkD (Fig. 3)."""
    fig = new_figure((4.2 * len(cms), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(cms)))
    for ax, (name, cm) in zip(axes, cms.items()):
        n = int(np.asarray(cm).sum())
        plot_confusion(cm, labels=labels, title=f"{name} (n = {n})", normalize=normalize, ax=ax)
    if title:
        fig.suptitle(mathtext_safe(title))
    return fig


# ----------------------------------------------------------------------------- embeddings


def embed_2d(X: np.ndarray, method: str = "tsne", seed: int = 0, perplexity: float = 30.0,
             n_neighbors: int = 15) -> np.ndarray:
    """Project (n, D) features to (n, 2) with scikit-learn t-SNE or umap-learn UMAP, seeded."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 4:
        raise ValueError(f"need at least 4 points to embed, got {n}")
    if method not in ("tsne", "umap"):
        raise ValueError(f"method must be 'tsne' or 'umap', not {method!r}")
    # small inputs run on one thread: on a busy machine, extra OpenMP threads cost more than they save
    threads = 1 if n <= 2000 else None
    with threadpool_limits(threads), warnings.catch_warnings():
        if method == "tsne":
            from sklearn.manifold import TSNE

            perp = float(min(perplexity, max(1.0, (n - 1) / 3)))
            return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(X)
        import umap

        warnings.filterwarnings("ignore", message=".*random_state.*", category=UserWarning)
        reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, n - 1), random_state=seed)
        return reducer.fit_transform(X)


def plot_embeddings(embeddings: Mapping[str, tuple[np.ndarray, np.ndarray]], method: str = "tsne",
                    seed: int = 0, labels: Sequence[str] = EMOTIONS, title: str | None = None) -> Figure:
    """One scatter panel per model; classes differ in color and marker (Figs. 5-7). ``method='none'``: X is 2-D."""
    fig = new_figure((4.6 * len(embeddings), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(embeddings)))
    for ax, (name, (X, y)) in zip(axes, embeddings.items()):
        Z = np.asarray(X, float) if method == "none" else embed_2d(X, method=method, seed=seed)
        names = np.array([label_name(v, labels) for v in np.asarray(y).tolist()])
        order = [c for c in labels if c in set(names)] + sorted(set(names) - set(labels))
        for c in order:
            pts = Z[names == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=14, c=emotion_color(c), marker=emotion_marker(c), alpha=0.75,
                       linewidths=0.3, edgecolors="white", label=c, rasterized=len(Z) > 2000)
        ax.set_title(mathtext_safe(variant_label(name)))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{method.upper()} 1" if method != "none" else "dim 1")
        ax.set_ylabel(f"{method.upper()} 2" if method != "none" else "dim 2")
    handles, names_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="outside right center", title="emotion", markerscale=1.5)
    if title:
        fig.suptitle(mathtext_safe(title))
    return fig


# ----------------------------------------------------------------------------- tables

#: Drawing order of a bar chart with paper values: grid, our bars, their error bars, then the paper's markers.
BAR_ZORDER, ERRORBAR_ZORDER, PAPER_ZORDER = 2.0, 2.5, 4.0
#: A white outline around a paper marker, so it shows on a bar of its own colour.
_HALO = [patheffects.Stroke(linewidth=3.4, foreground="white"), patheffects.Normal()]


def table_wide(df: pd.DataFrame, index: str | None = None) -> pd.DataFrame:
    """A results table as rows x (protocol, metric) columns, from wide, flat ('SesI WA') or long form."""
    if isinstance(df.columns, pd.MultiIndex):
        return df
    if {"protocol", "metric", "value"} <= set(df.columns):
        rest = [c for c in df.columns if c not in ("protocol", "metric", "value")]
        key = index or (rest[0] if rest else None)
        if key is None:
            raise ValueError("a long table needs a row column (e.g. 'variant') beside protocol, metric, value")
        wide = df.pivot_table(index=key, columns=["protocol", "metric"], values="value", sort=False)
        return wide
    if index is not None:
        df = df.set_index(index)
    pairs = []
    for c in df.columns:
        parts = str(c).replace("/", " ").replace("_", " ").split()
        if len(parts) != 2:
            raise ValueError(f"column {c!r} is not '<protocol> <metric>' (e.g. 'SesI WA')")
        pairs.append(tuple(parts))
    out = df.copy()
    out.columns = pd.MultiIndex.from_tuples(pairs, names=["protocol", "metric"])
    return out


def _percent_scale(df: pd.DataFrame) -> float:
    """100 when a table holds fractions (all values <= 1), else 1."""
    values = df.to_numpy(float)
    return 100.0 if np.isfinite(values).any() and np.nanmax(values) <= 1.0 else 1.0


def _summary_last(rows: Sequence[Any]) -> list[Any]:
    """Rows in their order, with summary rows ("Mean", "Mean (3/5 folds)") moved to the end."""
    summary = [r for r in rows if str(r).startswith("Mean")]
    return [r for r in rows if r not in summary] + summary


def _wrap_title(text: str, width_in: float, fontsize: float = 12.0) -> str:
    """A title broken at spaces into lines that fit a figure ``width_in`` inches wide (measured in the font)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer, font = RendererAgg(1, 1, 72), FontProperties(size=fontsize)
    room = 0.95 * width_in * 72  # points, at 72 dpi one pixel each

    def fits(line: str) -> bool:
        return renderer.get_text_width_height_descent(line, font, ismath=False)[0] <= room

    lines: list[str] = []
    for word in mathtext_safe(text).split():
        if lines and fits(f"{lines[-1]} {word}"):
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def plot_table_bars(df: pd.DataFrame, paper: pd.DataFrame | None = None, err: pd.DataFrame | None = None,
                    metrics: Sequence[str] = ("WA", "UA"), index: str | None = None,
                    title: str | None = None) -> Figure:
    """Grouped WA/UA bars per row (variant, embedding kind or fold), one panel per protocol, stacked; paper values hollow.

    Fractions are shown as %; each panel shows only the rows it has values for (Table I: folds per protocol),
    any "Mean" row at the right end of every panel. Panels are stacked so the figure reads at a page's width.
    The y axis starts at 0, so bar lengths compare; the paper's diamonds (gid ``"paper"``) are drawn above the
    bars and error bars, with a white outline, so they show where our bar is taller.
    """
    ours = table_wide(df, index)
    scale = _percent_scale(ours)
    ours = ours * scale
    ref = table_wide(paper, index) if paper is not None else None
    ref = ref * _percent_scale(ref) if ref is not None else None
    spread = table_wide(err, index) * scale if err is not None else None
    level0 = list(dict.fromkeys(ours.columns.get_level_values(0)))
    protocols = [p for p in PROTOCOLS if p in level0] + [p for p in level0 if p not in PROTOCOLS]
    panel_rows = {p: _summary_last([r for r in ours.index if ours.loc[r, p].notna().any()]) for p in protocols}
    n_rows = max(len(r) for r in panel_rows.values())
    width_in = min(11.0, max(5.5, 0.8 * n_rows + 1.6))
    fig = new_figure((width_in, 2.9 * len(protocols) + 1.1 + (0.4 if title else 0.0)))
    axes = np.atleast_1d(fig.subplots(len(protocols), 1, sharey=True, squeeze=False)[:, 0])
    width = 0.8 / len(metrics)
    for ax, proto in zip(axes, protocols):
        rows = panel_rows[proto]
        n_summary = sum(str(r).startswith("Mean") for r in rows)
        x = np.arange(len(rows), dtype=float)
        if n_summary:  # "Mean" at the right end of every panel, set apart by a dotted line
            x[len(rows) - n_summary:] = np.arange(n_rows - n_summary, n_rows)
            ax.axvline(n_rows - n_summary - 0.5, color="0.5", ls=":", lw=1)
        for k, metric in enumerate(metrics):
            if (proto, metric) not in ours.columns:
                continue
            pos = x - 0.4 + width * (k + 0.5)
            color = METRIC_COLORS.get(metric, FALLBACK_COLORS[k])
            vals = ours[(proto, metric)].reindex(rows).to_numpy(float)
            yerr = None
            if spread is not None and (proto, metric) in spread.columns:
                yerr = spread[(proto, metric)].reindex(rows).to_numpy(float)
            bars = ax.bar(pos, vals, width, yerr=yerr, capsize=2, color=color, label=f"{metric} (ours)",
                          zorder=BAR_ZORDER, error_kw={"zorder": ERRORBAR_ZORDER, "ecolor": "0.15"})
            ax.bar_label(bars, labels=[f"{v:.1f}" if np.isfinite(v) else "" for v in vals], fontsize=7,
                         label_type="center", rotation=90, color="white")
            if ref is not None and (proto, metric) in ref.columns:
                pv = ref[(proto, metric)].reindex(rows).to_numpy(float)
                ax.scatter(pos, pv, marker="D", s=36, facecolors="none", linewidths=1.4, zorder=PAPER_ZORDER,
                           edgecolors=color, label=f"{metric} (paper)", gid="paper", path_effects=_HALO)
        ax.set_xticks(x, [mathtext_safe(variant_label(str(r))) for r in rows], rotation=30, ha="right")
        ax.set_xlim(-0.6, n_rows - 0.4)  # the same bar width in every panel
        ax.set_title(proto)
        ax.set_ylabel("accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylim(0, 100)  # from 0: bar lengths compare honestly
    handles, names = axes[0].get_legend_handles_labels()
    per_entry_in = 0.35 + 0.6 * 8 / 72 * max((len(n) for n in names), default=1)  # marker + text at 8 pt
    ncols = max(1, min(len(names), int((width_in - 0.3) / per_entry_in)))
    fig.legend(handles, names, fontsize=8, loc="outside lower center", ncols=ncols)
    if title:
        fig.suptitle(_wrap_title(title, width_in))
    return fig


def plot_paired_differences(comparisons: pd.DataFrame, title: str | None = None, unit: str = "points") -> Figure:
    """One panel per ``subset`` (cue), one row per compared model: A - B with its paired 95 % interval.

    ``comparisons`` as ``tsin_nb.runs.comparison_table`` (columns a, b, subset, mean, low, high, verdict). A dotted
    line marks 0; an interval that crosses it is drawn hollow ("no measurable difference").
    """
    subsets = list(dict.fromkeys(comparisons["subset"].astype(str)))
    others = list(dict.fromkeys(comparisons["b"].astype(str)))
    fig = new_figure((2.6 * len(subsets) + 1.6, 0.42 * len(others) + 1.5))
    axes = np.atleast_1d(fig.subplots(1, len(subsets), sharey=True, sharex=True, squeeze=False)[0])
    y = {b: len(others) - 1 - k for k, b in enumerate(others)}
    for ax, subset in zip(axes, subsets):
        part = comparisons[comparisons["subset"].astype(str) == subset]
        for _, r in part.iterrows():
            level = r["verdict"] == "no measurable difference"
            color = "0.55" if level else ("#2f7f3f" if r["mean"] > 0 else "#b03030")
            ax.plot([r["low"], r["high"]], [y[str(r["b"])]] * 2, color=color, lw=2)
            ax.scatter([r["mean"]], [y[str(r["b"])]], color="white" if level else color, edgecolors=color, zorder=3,
                       s=30)
        ax.axvline(0, color="0.3", ls=":", lw=1)
        ax.set_title(subset or "all", fontsize=10)
        ax.set_xlabel(f"{variant_label(str(comparisons['a'].iloc[0]))} minus model ({unit})", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(y.values()), [mathtext_safe(variant_label(b)) for b in y])
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_table_one(t1: pd.DataFrame, title: str | None = "Table I: TSIN per test set (bars: this run; hollow "
                   "diamonds: the paper, on IEMOCAP)") -> Figure:
    """Table I (``runs.table_one``: protocol, test set, WA, UA, paper WA, paper UA) as bars per test set, one panel
    per protocol, with the paper's values as hollow diamonds where it has them."""
    ids = ["protocol", "test set"]
    ours = t1.melt(id_vars=ids, value_vars=["WA", "UA"], var_name="metric")
    paper = t1.melt(id_vars=ids, value_vars=["paper WA", "paper UA"], var_name="metric")
    paper["metric"] = paper["metric"].str.removeprefix("paper ")
    return plot_table_bars(ours, paper=paper, index="test set", title=title)
