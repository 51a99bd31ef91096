"""Every figure of the workbook: each function returns a matplotlib ``Figure`` (Figs. 3-7, Tables I and V).

Figures of the inputs (dataset, speech and text features, Eq. 8) live here; results and the alignment in
``viz_results`` and ``viz_alignment``, the shared colors and ``save_figure`` in ``plotting``. Every figure
is importable from here.

Figures are built with the object API (``matplotlib.figure.Figure``), so nothing is registered with
pyplot: they work headless, are freed with their last reference and are shown once in Jupyter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tsin_nb.core import EMOTIONS, TSINConfig
from tsin_nb.show.plotting import emotion_color, mathtext_safe, new_figure

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
    fig = new_figure((14, 4))
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
                      ncols: int = 2, *, colorbar_labels: Mapping[str, str] | None = None) -> Figure:
    """One panel per named feature step: 1-D arrays as lines, 2-D arrays as heatmaps (time in s on frame axes).

    Each heatmap has a colour bar labelled by :func:`_step_unit` (or ``colorbar_labels[name]``).
    """
    arrays = {k: np.asarray(v) for k, v in steps.items()}
    n_bins = n_fft // 2 + 1 if n_fft else None
    if n_frames is None:
        cols = [a.shape[1] for a in arrays.values() if a.ndim == 2 and a.shape[1] != n_bins]
        n_frames = max(set(cols), key=cols.count) if cols else None
    signal_len = max((a.size for a in arrays.values() if a.ndim == 1), default=0)
    nrows = math.ceil(len(arrays) / ncols)
    fig = new_figure((6.5 * ncols, 2.6 * nrows))
    for k, (name, a) in enumerate(arrays.items()):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.set_title(mathtext_safe(name))
        if a.ndim == 1:
            _plot_1d(ax, a, sr, hop_length, win_length, n_bins, frame_index, signal_len)
        elif a.ndim == 2:
            _plot_2d(ax, a, sr, hop_length, n_bins, n_frames, (colorbar_labels or {}).get(name) or _step_unit(name))
        else:
            raise ValueError(f"step {name!r} has shape {a.shape}; only 1-D and 2-D arrays can be drawn")
    return fig


#: The steps of a speech walk-through that :func:`plot_speech_walkthrough` draws, in order.
SPEECH_PANELS = ("signal", "window", "power", "filterbank", "logmel", "delta", "delta2")


def plot_speech_walkthrough(walk: Mapping[str, Any], cfg: TSINConfig) -> Figure:
    """:func:`plot_speech_steps` of a :func:`~tsin_nb.show.speech_walkthrough`'s :data:`SPEECH_PANELS`, with the
    run's sample rate and the walk-through's window, hop and FFT length."""
    return plot_speech_steps({k: walk[k] for k in SPEECH_PANELS}, sr=cfg.sample_rate, hop_length=walk["hop"],
                             win_length=walk["win"], n_fft=2 * (walk["filterbank"].shape[1] - 1))


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


def _step_unit(name: str) -> str:
    """What the colour of a feature step's heatmap means, from its name (``"value"`` when unknown)."""
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    if "deltadelta" in key or "delta2" in key or "ΔΔ" in name:
        return "ΔΔ: change of Δ per frame"
    if "delta" in key or "Δ" in name:
        return "Δ: change per frame"
    if "filter" in key:
        return "filter weight"
    if "logmel" in key:
        return "log-Mel energy (dB)"
    if "power" in key:
        return "power"
    return "value"


def _plot_2d(ax: Any, a: np.ndarray, sr: int, hop: int, n_bins: int | None, n_frames: int | None,
             label: str = "value") -> None:
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
    label = ("power (dB)" if label in ("power", "value") else f"{label}, in dB") if unit else label
    ax.figure.colorbar(im, ax=ax, pad=0.01, fraction=0.04, label=label)


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
    fig = new_figure((4.6 * ncols, 2.9 * nrows))
    for k, (name, a, ticks) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        a = np.asarray(a, dtype=float).T  # (features, steps)
        lim = float(np.percentile(np.abs(a), 99)) or 1.0  # a few outliers ([CLS]) would wash out the rest
        im = ax.imshow(a, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.05, label="value (clipped at ±p99)")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xticks(range(len(ticks)), [mathtext_safe(t) for t in ticks], rotation=60, fontsize=7)
        ax.set(title=mathtext_safe(name), ylabel="feature")
    return fig


def plot_weight_normalization(literal: np.ndarray, stable: np.ndarray, clip: float = 10.0) -> Figure:
    """Histograms of Eq. 8's weights: the literal sum-normalization against the softmax default."""
    fig = new_figure((10, 3.5))
    ax_l, ax_s = fig.subplots(1, 2)
    ax_l.hist(np.clip(np.ravel(literal), -clip, clip), bins=80, color="#c44e52")
    ax_l.set(title=f"Eq. 8 literal: w_i / sum_j w_j (clipped to ±{clip:g})", xlabel="normalised weight",
             ylabel="words", yscale="log")
    ax_s.hist(np.ravel(stable), bins=80, color="#4c72b0")
    ax_s.set(title="Eq. 8 default: softmax over words", xlabel="normalised weight", yscale="log")
    for ax in (ax_l, ax_s):
        ax.grid(alpha=0.3)
    return fig
