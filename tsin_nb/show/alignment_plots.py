"""Figures of the alignment: one utterance's attention over its spectrogram (Fig. 3), and its quality."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tsin_nb.core import TSINConfig
from tsin_nb.show.alignment import attention_in_span, upsample_alignment
from tsin_nb.show.plotting import label_name, mathtext_safe, new_figure, variant_label
from tsin_nb.show.switches import describe_switches

# ----------------------------------------------------------------------------- alignment

#: The alignment panel's title when nothing but Eq. 3's learned scores shapes the attention.
ATTENTION_LABEL = "attention of each word over the frames (Eq. 4)"


def attention_title(cfg: TSINConfig) -> str:
    """What shaped the alignment a model of ``cfg`` draws: Eq. 4's learned scores, and any prior or position score."""
    extra = describe_switches(cfg, "title")
    if not extra:
        return ATTENTION_LABEL
    return "attention over the frames (Eq. 4): learned scores + " + " + ".join(extra)


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
                   figsize: tuple[float, float] | None = None, *, attention_label: str = ATTENTION_LABEL,
                   spectrogram_label: str = "log-Mel (dB unless normalised)") -> Figure:
    """Log-Mel spectrogram, word-by-frame alignment alpha' (Eq. 4), true word spans and word weights (Eq. 8).

    ``attention_label`` titles the alignment panel: pass :func:`attention_title` of the run's config, so a
    picture shaped by a word-order prior is not called plain attention. Each heat map has a labelled colour bar.
    """
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
    fig = new_figure(figsize or (12, sum(heights) + 1.2))
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    t_end = n_frames * hop_s

    ax_spec = fig.add_subplot(gs[0])
    im_spec = ax_spec.imshow(spec, origin="lower", aspect="auto", extent=(0, t_end, 0, spec.shape[0]),
                             cmap="magma", interpolation="nearest")
    ax_spec.set(ylabel="Mel band", xlim=(0, t_end))
    for s_e in spans:
        if s_e is not None:
            for f in s_e:
                ax_spec.axvline(f * hop_s, color="white", lw=0.6, ls="--", alpha=0.7)
    centers = [(j, (se[0] + se[1]) / 2 * hop_s) for j, se in enumerate(spans) if se is not None]
    if centers:
        top = ax_spec.secondary_xaxis("top")
        top.set_xticks([c for _, c in centers], [mathtext_safe(words[j]) for j, _ in centers], rotation=60, fontsize=8)
    if a is None:
        ax_spec.set_xlabel("time (s)")

    sel_title = None
    if selected_word is not None and n_words:
        span = spans[selected_word]
        if span is not None:
            ax_spec.axvspan(span[0] * hop_s, span[1] * hop_s, color="#ffdd00", alpha=0.3, gid="selected-span")
        sel_title = f'word {selected_word} "{mathtext_safe(words[selected_word])}"'
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
    fig.colorbar(im_spec, ax=ax_spec, fraction=0.04, pad=0.01, label=spectrogram_label)

    k = 1
    if a is not None:
        ax_al = fig.add_subplot(gs[k], sharex=ax_spec)
        k += 1
        im_al = ax_al.imshow(a, aspect="auto", extent=(0, t_end, n_words, 0), cmap="viridis",
                             interpolation="nearest")
        fig.colorbar(im_al, ax=ax_al, fraction=0.04, pad=0.01, label="attention per frame\n(each row sums to 1)")
        for j, se in enumerate(spans):
            if se is not None:
                ax_al.add_patch(Rectangle((se[0] * hop_s, j), (se[1] - se[0]) * hop_s, 1, fill=False,
                                          edgecolor="white", lw=0.8))
        if selected_word is not None and n_words:
            ax_al.add_patch(Rectangle((0, selected_word), t_end, 1, fill=False, edgecolor="#ff3d00", lw=1.5,
                                      gid="selected-row"))
        step = max(1, math.ceil(n_words / 40))
        ax_al.set_yticks(np.arange(0, n_words, step) + 0.5, [mathtext_safe(w) for w in words[::step]], fontsize=7)
        ax_al.set(xlabel="time (s)", ylabel="word",
                  title=f"{mathtext_safe(attention_label)}, stride {stride}; boxes: true word spans")
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
        ax_w.set_xticks(x[::step], [mathtext_safe(w) for w in words[::step]], rotation=60, fontsize=7)
        ax_w.set_xlim(-0.6, max(n_words, 1) - 0.4)
        ax_w.set(ylabel="weight", title="semantic weights per word (Eq. 8)")
        ax_w.title.set_fontsize(10)
        ax_w.legend(fontsize=8, loc="best", framealpha=0.9)

    head = [title] if title else []
    if label is not None:
        head.append(f"true: {label_name(label)}")
    if pred is not None:
        head.append(f"predicted: {label_name(pred)}")
    if label is not None and pred is not None:
        head.append("(correct)" if label_name(label) == label_name(pred) else "(wrong)")
    if head:
        fig.suptitle(mathtext_safe("   ".join(head)))
    return fig


def plot_alignment_record(record: Any, selected_word: int | None = 0, cfg: TSINConfig | None = None) -> Figure:
    """:func:`plot_alignment` of one alignment record (``tsin_nb.show.AlignmentRecord``), with ``selected_word``
    (clipped to the words the model sees) drawn over the spectrogram; ``cfg`` titles the alignment panel
    (:func:`attention_title`)."""
    words = list(record.words)
    if selected_word is not None:
        selected_word = min(int(selected_word), len(words) - 1) if words else None
    return plot_alignment(record.spectrogram, record.alignment, words, record.word_frames, record.speech_weights,
                          record.text_weights, stride=record.stride, n_real_frames=record.n_real_frames,
                          label=record.label, pred=record.pred, selected_word=selected_word,
                          attention_label=ATTENTION_LABEL if cfg is None else attention_title(cfg))


def plot_alignment_quality(df_by_variant: Mapping[str, pd.DataFrame], title: str | None = None) -> Figure:
    """Per-utterance mass-in-span against the uniform share per variant (boxes), and the overall ratio (bars)."""
    long, ratios = [], []
    for name, df in df_by_variant.items():
        utt = df.drop(index="overall", errors="ignore")
        label = variant_label(name)
        for col, measure in (("mass_in_span", "attention in span"), ("uniform_share", "uniform alignment")):
            long.append(pd.DataFrame({"variant": label, "measure": measure, "share": utt[col].astype(float)}))
        if "overall" in df.index:
            ratios.append((label, float(df.loc["overall", "ratio"])))
        else:
            ratios.append((label, float(utt["mass_in_span"].mean() / utt["uniform_share"].mean())))
    data = pd.concat(long, ignore_index=True)
    fig = Figure(figsize=(max(8.0, 2.6 * len(df_by_variant) + 3), 4.0), layout="constrained")
    ax_box, ax_ratio = fig.subplots(1, 2, width_ratios=(2, 1))
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated ``vert``
        warnings.filterwarnings("ignore", message=".*vert.*", category=DeprecationWarning)
        sns.boxplot(data=data, x="variant", y="share", hue="measure", ax=ax_box, fliersize=2,
                    palette={"attention in span": "#4c72b0", "uniform alignment": "#bbbbbb"})
    ax_box.set(ylabel="share of the word's attention", xlabel="", ylim=(0, 1.02),
               title="Attention inside the true word span, per utterance")
    if ax_box.get_legend_handles_labels()[0]:  # nothing to name when no word has a known span
        ax_box.legend(fontsize=8, loc="upper right")
    names, values = zip(*ratios)
    bars = ax_ratio.bar(names, values, color="#4c72b0")
    ax_ratio.bar_label(bars, fmt="%.2f", fontsize=8)
    ax_ratio.axhline(1.0, color="k", ls="--", lw=1, label="uniform = 1")
    ax_ratio.set(ylabel="mass in span / uniform share", title="Overall lift over uniform")
    ax_ratio.legend(fontsize=8)
    for ax in (ax_box, ax_ratio):
        ax.tick_params(axis="x", rotation=20)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
