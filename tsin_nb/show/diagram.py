"""TSIN's architecture (the paper's Fig. 2) redrawn from a config, with the code's tensor shapes; colour bars.

The shapes follow the letters of :mod:`tsin_nb.model` (B batch, N frames after pooling, M words, F speech
features, E word-vector width, D model width d, D' fusion width d', C classes), with the config's sizes.
"""

from __future__ import annotations

from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from tsin_nb.core import TSINConfig


def architecture_shapes(cfg: TSINConfig) -> dict[str, str]:
    """The tensor on each arrow of the diagram, as the code shapes it (batch first), with this config's sizes."""
    n_in, n = cfg.n_frames, cfg.n_frames // cfg.speech_stride
    m, d, d2 = cfg.n_words, cfg.d_model, cfg.d_fusion
    return {
        "O": f"O (B, {n_in}, F={cfg.speech_dim})",
        "S": f"S (B, N={n}, D={d})",
        "Q": f"Q (B, M={m}, E={cfg.text_dim})",
        "T": f"T (B, M={m}, D={d})",
        "alignment": f"α' (B, M={m}, N={n})",
        "U": f"U (B, M={m}, D={d})",
        "weights": f"w̃ᵗ, w̃ˢ (B, M={m}); tanh width A={cfg.d_model}",
        "UT": f"Ũ ⊕ T̃ (B, M={m}, 2D={2 * d})",
        "F": f"F (B, M={m}, D'={d2})",
        "f": f"f' (B, D'={d2})",
        "logits": f"logits (B, C={cfg.num_classes})",
    }


def _box(ax: object, x: float, y: float, w: float, h: float, text: str, color: str) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05,rounding_size=0.15",
                                facecolor=color, edgecolor="0.25", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(ax: object, start: tuple[float, float], end: tuple[float, float], label: str = "",
           offset: tuple[float, float] = (0.0, 0.22), rad: float = 0.0) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "0.2", "lw": 1.1,
                                                       "connectionstyle": f"arc3,rad={rad}"})
    if label:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, label, ha="center", va="bottom", fontsize=7.5, color="#1f3b73",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})


def plot_architecture(cfg: TSINConfig, title: str | None = None) -> Figure:
    """TSIN as in the paper's Fig. 2: STE (Eqs. 1-2), TA (3-5), SI (6-9), fusion (10), MEC (11-12); shapes on arrows."""
    s = architecture_shapes(cfg)
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlim=(0, 18), ylim=(0, 6.2))
    ax.axis("off")
    speech, text, fused = "#dbe7f5", "#fbe3d2", "#e3f1df"
    pool = f"fold norm, mean-pool\n{cfg.speech_stride} frames = {cfg.hop_ms * cfg.speech_stride:g} ms" \
        if cfg.speech_stride > 1 else "fold norm\n(every 10 ms frame)"
    _box(ax, 1.2, 4.9, 2.0, 1.0, "speech\nlog-Mel + Δ + ΔΔ", speech)
    _box(ax, 4.0, 4.9, 2.3, 1.0, pool, speech)
    _box(ax, 6.9, 4.9, 2.0, 1.0, "STE: LSTM\n(Eq. 1)", speech)
    _box(ax, 1.2, 1.2, 2.0, 1.0, f"words\n{cfg.text_model}", text)
    _box(ax, 5.2, 1.2, 2.6, 1.0, "STE: conv k = " + ", ".join(map(str, cfg.kernel_sizes)) + "\n+ max (Eq. 2)", text)
    _box(ax, 9.6, 3.6, 2.3, 1.1, "TA: words attend\nto frames (Eqs. 3-5)", fused)
    _box(ax, 12.3, 2.4, 2.2, 1.1, "SI: re-weight\nwords (Eqs. 6-9)", fused)
    _box(ax, 14.6, 4.3, 1.8, 1.0, "fusion LSTM\n(Eq. 10)", fused)
    _box(ax, 16.9, 2.4, 1.8, 1.1, "MEC: conv + mean,\nFC (Eqs. 11-12)", fused)
    _arrow(ax, (2.2, 4.9), (2.85, 4.9), s["O"], offset=(0.0, 0.62))
    _arrow(ax, (5.15, 4.9), (5.9, 4.9))
    _arrow(ax, (7.9, 4.9), (9.6, 4.15), s["S"], offset=(0.2, 0.45))
    _arrow(ax, (2.2, 1.2), (3.9, 1.2), s["Q"])
    _arrow(ax, (6.5, 1.4), (9.3, 3.05), s["T"], offset=(-0.6, 0.25))
    _arrow(ax, (6.5, 1.0), (11.2, 2.1), s["T"], offset=(1.1, -0.55))
    _arrow(ax, (10.75, 3.3), (11.4, 2.9), s["U"], offset=(0.5, 0.25))
    ax.text(9.6, 2.75, s["alignment"], ha="center", va="top", fontsize=7.5, color="0.35")
    ax.text(12.3, 1.7, s["weights"], ha="center", va="top", fontsize=7.5, color="0.35")
    _arrow(ax, (13.1, 2.95), (14.2, 3.8), s["UT"], offset=(-1.0, 0.0))
    _arrow(ax, (15.5, 4.3), (16.6, 2.95), s["F"], offset=(0.55, 0.35))
    ax.text(16.9, 1.7, s["f"] + "\n→ " + s["logits"], ha="center", va="top", fontsize=7.5, color="#1f3b73")
    ax.text(0.2, 6.0, "B = batch; the code keeps the batch first and features last, (B, steps, width); "
            "the paper writes S ∈ R^{d×n}, features first.", fontsize=8, color="0.3")
    fig.suptitle(title or "TSIN (the paper's Fig. 2) with the tensor shapes of this config")
    return fig


def add_colorbars(fig: Figure, label: str | None = None) -> Figure:
    """Add a colour bar beside every heatmap (image or mesh) of ``fig`` that has none; returns ``fig``."""
    for ax in list(fig.axes):
        if ax.get_label() == "<colorbar>":  # a colour bar's own mesh needs no colour bar
            continue
        mappables = list(ax.images) + [c for c in ax.collections if isinstance(c, QuadMesh)]
        for mappable in mappables:
            if getattr(mappable, "colorbar", None) is None:
                fig.colorbar(mappable, ax=ax, fraction=0.05, pad=0.02, label=label)
    return fig
