"""Every figure of the workbook: each function returns a matplotlib ``Figure`` (Figs. 3-7, Tables I and V).

Figures are built with the object API (``matplotlib.figure.Figure``), so nothing is registered with
pyplot: they work headless, are freed with their last reference and are shown once in Jupyter.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from threadpoolctl import threadpool_limits

from tsin_nb.alignment import attention_in_span, upsample_alignment
from tsin_nb.config import EMOTIONS, PROTOCOLS, VARIANT_LABELS, VARIANTS

#: One color per emotion, the same in every figure.
EMOTION_COLORS: dict[str, str] = {"ang": "#d62728", "hap": "#e6a700", "sad": "#1f77b4", "neu": "#7f7f7f"}
#: One marker per emotion, so classes differ in shape as well as color (Figs. 5-7).
EMOTION_MARKERS: dict[str, str] = {"ang": "^", "hap": "o", "sad": "v", "neu": "s"}
#: One color per variant.
VARIANT_COLORS: dict[str, str] = dict(zip(VARIANTS, ("#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22")))
#: Colors of the two metrics in bar charts.
METRIC_COLORS: dict[str, str] = {"WA": "#4c72b0", "UA": "#dd8452"}

_FALLBACK = sns.color_palette("tab10", 10).as_hex()
_FALLBACK_MARKERS = ("D", "P", "X", "*", "h", "<", ">")


def emotion_color(name: str) -> str:
    """The fixed color of an emotion (a stable fallback for names outside EMOTIONS)."""
    return EMOTION_COLORS.get(name, _FALLBACK[sum(map(ord, name)) % len(_FALLBACK)])


def emotion_marker(name: str) -> str:
    """The fixed marker of an emotion (a stable fallback for names outside EMOTIONS)."""
    return EMOTION_MARKERS.get(name, _FALLBACK_MARKERS[sum(map(ord, name)) % len(_FALLBACK_MARKERS)])


def variant_label(name: str) -> str:
    """The paper's name of a variant (``no_ta`` -> ``TSI w/o TA``); other names pass through."""
    return VARIANT_LABELS.get(name, name)


def _safe(text: Any) -> str:
    """Text with ``$`` escaped so matplotlib never reads it as mathtext."""
    return str(text).replace("$", r"\$")


def _label_name(value: Any, labels: Sequence[str] = EMOTIONS) -> str:
    """A class index or name as the class name."""
    if isinstance(value, (int, np.integer)):
        return labels[int(value)]
    return str(value)


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A constrained-layout figure that is not registered with pyplot."""
    return Figure(figsize=figsize, layout="constrained")


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _register_ipython_display() -> None:
    """Let IPython show a bare ``Figure`` as PNG whatever the matplotlib backend (e.g. Agg)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    ip = get_ipython()
    if ip is None:
        return
    png = ip.display_formatter.formatters["image/png"]
    if Figure not in png.type_printers:
        png.for_type(Figure, figure_png)


_register_ipython_display()


def save_figure(fig: Figure, name: str, fig_dir: str | Path = "figures", dpi: int = 120,
                max_png_bytes: int = 900_000) -> list[Path]:
    """Write ``name.png`` (for the README, kept under ``max_png_bytes``) and ``name.pdf``; return both paths."""
    out = Path(fig_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    while True:
        fig.savefig(png, dpi=dpi)
        if png.stat().st_size <= max_png_bytes or dpi <= 40:
            break
        dpi = int(dpi * 0.75)
    fig.savefig(pdf, metadata={"CreationDate": None})  # no timestamp: re-runs give the same bytes
    return [png, pdf]


# ----------------------------------------------------------------------------- dataset


def _durations(manifest: pd.DataFrame) -> np.ndarray:
    """Utterance durations in seconds: ``end - start``, else the wav's length, else NaN."""
    dur = (manifest["end"] - manifest["start"]).to_numpy(float) if {"start", "end"} <= set(manifest) else \
        np.full(len(manifest), np.nan)
    missing = ~np.isfinite(dur)
    if missing.any() and "wav_path" in manifest:
        import soundfile as sf

        for i in np.flatnonzero(missing):
            try:
                dur[i] = sf.info(str(manifest["wav_path"].iloc[i])).duration
            except (RuntimeError, OSError, TypeError):
                pass
    return dur


def _words_per_utterance(manifest: pd.DataFrame) -> np.ndarray:
    """Word count per utterance: the timed words when known, else the transcription's tokens."""
    counts = []
    for _, row in manifest.iterrows():
        words = row.get("words")
        if isinstance(words, (list, tuple)):
            counts.append(len(words))
        else:
            counts.append(len(str(row.get("text", "")).split()))
    return np.asarray(counts)


def plot_dataset_stats(manifest: pd.DataFrame, durations: np.ndarray | None = None,
                       labels: Sequence[str] = EMOTIONS) -> Figure:
    """Class counts per session (stacked bars), utterance durations and words per utterance."""
    fig = _new_figure((14, 4))
    ax_count, ax_dur, ax_words = fig.subplots(1, 3)
    order = [c for c in labels if c in set(manifest["label"])] + sorted(set(manifest["label"]) - set(labels))
    counts = pd.crosstab(manifest["session"], manifest["label"]).reindex(columns=order, fill_value=0)
    bottom = np.zeros(len(counts))
    for c in order:
        ax_count.bar(counts.index, counts[c], bottom=bottom, color=emotion_color(c), label=f"{c} ({counts[c].sum()})")
        bottom += counts[c].to_numpy()
    for x, total in enumerate(bottom):
        ax_count.text(x, total, str(int(total)), ha="center", va="bottom", fontsize=8)
    ax_count.set(xlabel="session", ylabel="utterances", title=f"Classes per session (n = {len(manifest)})")
    ax_count.set_ylim(0, 1.08 * max(bottom.max(initial=0), 1))
    ax_count.legend(fontsize=8, title="label", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax_count.tick_params(axis="x", rotation=30)

    dur = _durations(manifest) if durations is None else np.asarray(durations, float)
    dur = dur[np.isfinite(dur)]
    if len(dur):
        sns.histplot(dur, bins=40, ax=ax_dur, color="#4c72b0")
        ax_dur.axvline(np.median(dur), color="k", ls="--", lw=1, label=f"median {np.median(dur):.1f} s")
        ax_dur.legend(fontsize=8)
    ax_dur.set(xlabel="duration (s)", ylabel="utterances", title="Utterance duration")

    words = _words_per_utterance(manifest)
    span = int(words.max(initial=0) - words.min(initial=0))
    sns.histplot(words, discrete=span <= 60, bins="auto" if span <= 60 else 40, ax=ax_words, color="#55a868")
    ax_words.axvline(np.median(words), color="k", ls="--", lw=1, label=f"median {np.median(words):.0f}")
    ax_words.legend(fontsize=8)
    ax_words.set(xlabel="words per utterance", ylabel="utterances", title="Transcription length")
    return fig


# ----------------------------------------------------------------------------- speech features


def plot_speech_steps(steps: Mapping[str, np.ndarray], sr: int, hop_length: int, win_length: int | None = None,
                      n_fft: int | None = None, frame_index: int | None = None, n_frames: int | None = None,
                      ncols: int = 2) -> Figure:
    """One panel per named feature step: 1-D arrays as lines, 2-D arrays as heatmaps (time in s on frame axes)."""
    arrays = {k: np.asarray(v) for k, v in steps.items()}
    n_bins = n_fft // 2 + 1 if n_fft else None
    if n_frames is None:
        cols = [a.shape[1] for a in arrays.values() if a.ndim == 2 and a.shape[1] != n_bins]
        n_frames = max(set(cols), key=cols.count) if cols else None
    signal_len = max((a.size for a in arrays.values() if a.ndim == 1), default=0)
    nrows = math.ceil(len(arrays) / ncols)
    fig = _new_figure((6.5 * ncols, 2.6 * nrows))
    for k, (name, a) in enumerate(arrays.items()):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.set_title(_safe(name))
        if a.ndim == 1:
            _plot_1d(ax, a, sr, hop_length, win_length, n_bins, frame_index, signal_len)
        elif a.ndim == 2:
            _plot_2d(ax, a, sr, hop_length, n_bins, n_frames)
        else:
            raise ValueError(f"step {name!r} has shape {a.shape}; only 1-D and 2-D arrays can be drawn")
    return fig


def _plot_1d(ax: Any, a: np.ndarray, sr: int, hop: int, win: int | None, n_bins: int | None,
             frame_index: int | None, signal_len: int) -> None:
    """A 1-D step: the signal (with framing marked), a window, a spectrum, or a plain line."""
    if a.size == signal_len and a.size > max(win or 0, 2 * (n_bins or 0), 1):
        t = np.arange(a.size) / sr
        ax.plot(t, a, lw=0.5, color="#4c72b0")
        n_fr = 1 + max(0, a.size - (win or hop)) // hop
        ax.plot(np.arange(n_fr) * hop / sr, np.full(n_fr, a.min()), "|", color="k", ms=4, alpha=0.4,
                label=f"frame starts (hop {1000 * hop / sr:g} ms)")
        j = n_fr // 2 if frame_index is None else frame_index
        w = win or hop
        ax.axvspan(j * hop / sr, (j * hop + w) / sr, color="#dd8452", alpha=0.5,
                   label=f"frame {j} ({1000 * w / sr:g} ms window)")
        ax.set(xlabel="time (s)", ylabel="amplitude")
        ax.legend(fontsize=7, loc="best", framealpha=0.9)
    elif n_bins is not None and a.size == n_bins:
        ax.plot(np.linspace(0, sr / 2, a.size), a, lw=0.8, color="#c44e52")
        ax.set(xlabel="frequency (Hz)", ylabel="magnitude")
    elif win is not None and a.size == win:
        ax.plot(1000 * np.arange(a.size) / sr, a, color="#55a868")
        ax.set(xlabel="time within the window (ms)", ylabel="weight")
    else:
        ax.plot(a)
        ax.set(xlabel="index", ylabel="value")


def _plot_2d(ax: Any, a: np.ndarray, sr: int, hop: int, n_bins: int | None, n_frames: int | None) -> None:
    """A 2-D step as a heatmap; frame axes in seconds, FFT-bin axes in Hz, wide-range powers in dB."""
    data, unit = a, False
    positive = a[a > 0]
    if a.min() >= 0 and positive.size and a.max() / np.median(positive) > 1e3:
        data, unit = 10 * np.log10(np.maximum(a, a.max() * 1e-10)), True
    x0, x1, xlabel = 0.0, float(a.shape[1]), "column"
    if n_frames is not None and a.shape[1] == n_frames:
        x1, xlabel = a.shape[1] * hop / sr, "time (s)"
    elif n_bins is not None and a.shape[1] == n_bins:
        x1, xlabel = sr / 2, "frequency (Hz)"
    y1, ylabel = float(a.shape[0]), "band"
    if n_bins is not None and a.shape[0] == n_bins:
        y1, ylabel = sr / 2, "frequency (Hz)"
    im = ax.imshow(data, origin="lower", aspect="auto", extent=(x0, x1, 0, y1), cmap="magma",
                   interpolation="nearest")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.figure.colorbar(im, ax=ax, pad=0.01, fraction=0.04, label="dB" if unit else None)


# ----------------------------------------------------------------------------- training


def plot_training_curves(history: pd.DataFrame | Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Loss per epoch and validation WA/UA (mean and spread over folds when a ``fold`` column is present)."""
    df = pd.DataFrame(history).copy()
    if df.empty or "epoch" not in df:
        raise ValueError("history needs rows with an 'epoch' column (e.g. history.csv written by fit)")
    acc_cols = [c for c in ("train_wa", "train_ua", "val_wa", "val_ua") if c in df]
    if acc_cols and np.nanmax(df[acc_cols].to_numpy(float)) <= 1.0:
        df[acc_cols] = df[acc_cols] * 100
    fig = _new_figure((11, 3.6))
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
        fig.suptitle(_safe(title))
    return fig


# ----------------------------------------------------------------------------- confusion matrices


def plot_confusion(cm: np.ndarray, labels: Sequence[str] = EMOTIONS, title: str | None = None,
                   normalize: bool = True, ax: Any = None, cbar: bool = False) -> Figure:
    """Confusion matrix heatmap (rows true, columns predicted): row-normalized % with the counts."""
    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix has shape {cm.shape}, expected {(len(labels), len(labels))}")
    fig = _new_figure((4.4, 3.9)) if ax is None else ax.figure
    ax = fig.add_subplot() if ax is None else ax
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100 * cm, rows, out=np.zeros_like(cm), where=rows > 0)
    data = pct if normalize else cm
    annot = np.array([[f"{p:.1f}%\n({int(round(n))})" for p, n in zip(pr, nr)] for pr, nr in zip(pct, cm)])
    sns.heatmap(data, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=100 if normalize else None,
                xticklabels=list(labels), yticklabels=list(labels), square=True, cbar=cbar, ax=ax,
                annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white")
    ax.set(xlabel="predicted", ylabel="true")
    ax.tick_params(axis="y", rotation=0)
    if title:
        ax.set_title(_safe(title))
    return fig


def plot_confusions(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS, normalize: bool = True,
                    title: str | None = None) -> Figure:
    """Several confusion matrices side by side, e.g. SesI, SpkI, SpkD (Fig. 3)."""
    fig = _new_figure((4.2 * len(cms), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(cms)))
    for ax, (name, cm) in zip(axes, cms.items()):
        n = int(np.asarray(cm).sum())
        plot_confusion(cm, labels=labels, title=f"{name} (n = {n})", normalize=normalize, ax=ax)
    if title:
        fig.suptitle(_safe(title))
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
    fig = _new_figure((4.6 * len(embeddings), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(embeddings)))
    for ax, (name, (X, y)) in zip(axes, embeddings.items()):
        Z = np.asarray(X, float) if method == "none" else embed_2d(X, method=method, seed=seed)
        names = np.array([_label_name(v, labels) for v in np.asarray(y).tolist()])
        order = [c for c in labels if c in set(names)] + sorted(set(names) - set(labels))
        for c in order:
            pts = Z[names == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=14, c=emotion_color(c), marker=emotion_marker(c), alpha=0.75,
                       linewidths=0.3, edgecolors="white", label=c, rasterized=len(Z) > 2000)
        ax.set_title(_safe(variant_label(name)))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{method.upper()} 1" if method != "none" else "dim 1")
        ax.set_ylabel(f"{method.upper()} 2" if method != "none" else "dim 2")
    handles, names_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="outside right center", title="emotion", markerscale=1.5)
    if title:
        fig.suptitle(_safe(title))
    return fig


# ----------------------------------------------------------------------------- tables


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
    for word in _safe(text).split():
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
    fig = _new_figure((width_in, 2.9 * len(protocols) + 1.1 + (0.4 if title else 0.0)))
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
            color = METRIC_COLORS.get(metric, _FALLBACK[k])
            vals = ours[(proto, metric)].reindex(rows).to_numpy(float)
            yerr = None
            if spread is not None and (proto, metric) in spread.columns:
                yerr = spread[(proto, metric)].reindex(rows).to_numpy(float)
            bars = ax.bar(pos, vals, width, yerr=yerr, capsize=2, color=color, label=f"{metric} (ours)")
            ax.bar_label(bars, labels=[f"{v:.1f}" if np.isfinite(v) else "" for v in vals], fontsize=7,
                         label_type="center", rotation=90, color="white")
            if ref is not None and (proto, metric) in ref.columns:
                pv = ref[(proto, metric)].reindex(rows).to_numpy(float)
                ax.scatter(pos, pv, marker="D", s=36, facecolors="none", linewidths=1.4, zorder=3,
                           edgecolors=color, label=f"{metric} (paper)")
        ax.set_xticks(x, [_safe(variant_label(str(r))) for r in rows], rotation=30, ha="right")
        ax.set_xlim(-0.6, n_rows - 0.4)  # the same bar width in every panel
        ax.set_title(proto)
        ax.set_ylabel("%")
        ax.grid(axis="y", alpha=0.3)
    low = np.nanmin(ours.to_numpy(float))
    if ref is not None:
        low = min(low, np.nanmin(ref.to_numpy(float)))
    axes[0].set_ylim(max(0.0, 10 * math.floor((low - 10) / 10)), 100)
    handles, names = axes[0].get_legend_handles_labels()
    per_entry_in = 0.35 + 0.6 * 8 / 72 * max((len(n) for n in names), default=1)  # marker + text at 8 pt
    ncols = max(1, min(len(names), int((width_in - 0.3) / per_entry_in)))
    fig.legend(handles, names, fontsize=8, loc="outside lower center", ncols=ncols)
    if title:
        fig.suptitle(_wrap_title(title, width_in))
    return fig


# ----------------------------------------------------------------------------- alignment


def _clip_spans(word_frames: Sequence[Any] | None, n_words: int, n_frames: int) -> list[tuple[int, int] | None]:
    """True word spans clipped to the real frames; None where a word has no usable span."""
    spans: list[tuple[int, int] | None] = [None] * n_words
    if word_frames is None:
        return spans
    for j, span in enumerate(list(word_frames)[:n_words]):
        if span is None:
            continue
        s, e = max(0, int(span[0])), min(n_frames, int(span[1]))
        spans[j] = (s, e) if e > s else None
    return spans


def plot_alignment(spectrogram: np.ndarray, alignment: np.ndarray | None, words: Sequence[str],
                   word_frames: Sequence[Any] | None = None, speech_weights: np.ndarray | None = None,
                   text_weights: np.ndarray | None = None, stride: int = 1, n_real_frames: int | None = None,
                   label: Any = None, pred: Any = None, selected_word: int | None = None,
                   hop_s: float = 0.01, title: str | None = None,
                   figsize: tuple[float, float] | None = None) -> Figure:
    """Log-Mel spectrogram, word-by-frame alignment alpha' (Eq. 4), true word spans and word weights (Eq. 8)."""
    spec = np.asarray(spectrogram, dtype=float)  # (n_mels, T)
    n_frames = spec.shape[1] if n_real_frames is None else min(int(n_real_frames), spec.shape[1])
    spec = spec[:, :n_frames]
    words = [str(w) for w in words]
    if alignment is not None:
        alignment = np.asarray(alignment, dtype=float)
        words = words[: alignment.shape[0]]
    n_words = len(words)
    a = upsample_alignment(alignment[:n_words], stride, n_frames) if alignment is not None else None  # (M, T)
    spans = _clip_spans(word_frames, n_words, n_frames)
    weights = {k: np.asarray(v, float)[:n_words] for k, v in
               (("speech side", speech_weights), ("text side", text_weights)) if v is not None}
    if selected_word is not None and not 0 <= selected_word < max(n_words, 1):
        raise ValueError(f"selected_word={selected_word} but the utterance has {n_words} words")

    heights = [3.0] + ([max(1.6, 0.22 * n_words)] if a is not None else []) + ([1.8] if weights else [])
    fig = _new_figure(figsize or (12, sum(heights) + 1.2))
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    t_end = n_frames * hop_s

    ax_spec = fig.add_subplot(gs[0])
    ax_spec.imshow(spec, origin="lower", aspect="auto", extent=(0, t_end, 0, spec.shape[0]), cmap="magma",
                   interpolation="nearest")
    ax_spec.set(ylabel="Mel band", xlim=(0, t_end))
    for s_e in spans:
        if s_e is not None:
            for f in s_e:
                ax_spec.axvline(f * hop_s, color="white", lw=0.6, ls="--", alpha=0.7)
    centers = [(j, (se[0] + se[1]) / 2 * hop_s) for j, se in enumerate(spans) if se is not None]
    if centers:
        top = ax_spec.secondary_xaxis("top")
        top.set_xticks([c for _, c in centers], [_safe(words[j]) for j, _ in centers], rotation=60, fontsize=8)
    if a is None:
        ax_spec.set_xlabel("time (s)")

    sel_title = None
    if selected_word is not None and n_words:
        span = spans[selected_word]
        if span is not None:
            ax_spec.axvspan(span[0] * hop_s, span[1] * hop_s, color="#ffdd00", alpha=0.3, gid="selected-span")
        sel_title = f'word {selected_word} "{_safe(words[selected_word])}"'
        if a is not None:
            twin = ax_spec.twinx()
            t = (np.arange(n_frames) + 0.5) * hop_s
            twin.plot(t, a[selected_word], color="#00e5ff", lw=1.4, gid="selected-attention")
            twin.set_ylim(0, max(a[selected_word].max() * 1.1, 1e-9))
            twin.set_ylabel("attention per frame", color="#0097a7")
            if span is not None:
                q = attention_in_span(alignment[:n_words], word_frames, n_frames, stride=stride)
                row = q[q["word_index"] == selected_word]
                if len(row):
                    sel_title += (f": {row['mass_in_span'].iloc[0]:.0%} of its attention in its span"
                                  f" (uniform would give {row['uniform_share'].iloc[0]:.0%})")
        if span is None:
            sel_title += " (no true span)"
    ax_spec.set_title(sel_title or "log-Mel spectrogram", fontsize=10)

    k = 1
    if a is not None:
        ax_al = fig.add_subplot(gs[k], sharex=ax_spec)
        k += 1
        ax_al.imshow(a, aspect="auto", extent=(0, t_end, n_words, 0), cmap="viridis", interpolation="nearest")
        for j, se in enumerate(spans):
            if se is not None:
                ax_al.add_patch(Rectangle((se[0] * hop_s, j), (se[1] - se[0]) * hop_s, 1, fill=False,
                                          edgecolor="white", lw=0.8))
        if selected_word is not None and n_words:
            ax_al.add_patch(Rectangle((0, selected_word), t_end, 1, fill=False, edgecolor="#ff3d00", lw=1.5,
                                      gid="selected-row"))
        step = max(1, math.ceil(n_words / 40))
        ax_al.set_yticks(np.arange(0, n_words, step) + 0.5, [_safe(w) for w in words[::step]], fontsize=7)
        ax_al.set(xlabel="time (s)", ylabel="word",
                  title=f"alignment alpha' (Eq. 4), stride {stride}; boxes: true word spans")
        ax_al.title.set_fontsize(10)

    if weights:
        ax_w = fig.add_subplot(gs[k])
        x = np.arange(n_words)
        width = 0.8 / len(weights)
        for i, (name, w) in enumerate(weights.items()):
            ax_w.bar(x[: len(w)] - 0.4 + width * (i + 0.5), w, width, label=name,
                     color=("#4c72b0", "#dd8452")[i])
        if selected_word is not None and n_words:
            ax_w.axvspan(selected_word - 0.5, selected_word + 0.5, color="#ffdd00", alpha=0.35, zorder=0)
        step = max(1, math.ceil(n_words / 60))
        ax_w.set_xticks(x[::step], [_safe(w) for w in words[::step]], rotation=60, fontsize=7)
        ax_w.set_xlim(-0.6, max(n_words, 1) - 0.4)
        ax_w.set(ylabel="weight", title="semantic weights per word (Eq. 8)")
        ax_w.title.set_fontsize(10)
        ax_w.legend(fontsize=8, loc="best", framealpha=0.9)

    head = [title] if title else []
    if label is not None:
        head.append(f"true: {_label_name(label)}")
    if pred is not None:
        head.append(f"predicted: {_label_name(pred)}")
    if label is not None and pred is not None:
        head.append("(correct)" if _label_name(label) == _label_name(pred) else "(wrong)")
    if head:
        fig.suptitle(_safe("   ".join(head)))
    return fig


# ----------------------------------------------------------------------------- text features and Eq. 8


def plot_text_steps(subwords: np.ndarray, subword_tokens: Sequence[str], words: Sequence[str],
                    word_vectors: np.ndarray, branches: np.ndarray, T: np.ndarray,
                    kernel_sizes: Sequence[int]) -> Figure:
    """Sub-word vectors, pooled word vectors, each kernel branch of Eq. 2 and their element-wise max."""
    panels: list[tuple[str, np.ndarray, Sequence[str]]] = [
        ("sub-word vectors (encoder output)", subwords, list(subword_tokens)),
        ("word vectors Q (mean of sub-words)", word_vectors, list(words)),
    ]
    panels += [(f"C1D, kernel {k}", b, list(words)) for k, b in zip(kernel_sizes, branches)]
    panels.append(("T = f_max over branches (Eq. 2)", T, list(words)))
    ncols = 3
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure((4.6 * ncols, 2.9 * nrows))
    for k, (name, a, ticks) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        a = np.asarray(a, dtype=float).T  # (features, steps)
        lim = float(np.percentile(np.abs(a), 99)) or 1.0  # a few outliers ([CLS]) would wash out the rest
        ax.imshow(a, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks(range(len(ticks)), [_safe(t) for t in ticks], rotation=60, fontsize=7)
        ax.set(title=_safe(name), ylabel="feature")
    return fig


def plot_weight_normalization(literal: np.ndarray, stable: np.ndarray, clip: float = 10.0) -> Figure:
    """Histograms of Eq. 8's weights: the literal sum-normalization against the softmax default."""
    fig = _new_figure((10, 3.5))
    ax_l, ax_s = fig.subplots(1, 2)
    ax_l.hist(np.clip(np.ravel(literal), -clip, clip), bins=80, color="#c44e52")
    ax_l.set(title=f"Eq. 8 literal: w_i / sum_j w_j (clipped to ±{clip:g})", xlabel="normalised weight",
             ylabel="words", yscale="log")
    ax_s.hist(np.ravel(stable), bins=80, color="#4c72b0")
    ax_s.set(title="Eq. 8 default: softmax over words", xlabel="normalised weight", yscale="log")
    for ax in (ax_l, ax_s):
        ax.grid(alpha=0.3)
    return fig
