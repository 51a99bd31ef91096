"""TSIN's architecture (the paper's Fig. 2) redrawn from a config, with the code's tensor shapes; colour bars.

The shapes follow the letters of :mod:`tsin_nb.model` (B batch, N frames after pooling, M words, F speech
features, E word-vector width, D model width d, D' fusion width d', C classes), with the config's sizes. The
boxes say what this config does where the workbook may differ from the paper (pooling, word-order prior,
Eq. 8-9 choices, text dropout), so the diagram cannot disagree with the run.
"""

from __future__ import annotations

from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from tsin_nb.core import TSINConfig
from tsin_nb.show.switches import describe_switches


def architecture_shapes(cfg: TSINConfig) -> dict[str, str]:
    """The tensor on each arrow of the diagram, as the code shapes it (batch first), with this config's sizes."""
    n_in, n = cfg.n_frames, cfg.n_frames // cfg.speech_stride
    m, d, d2 = cfg.n_words, cfg.d_model, cfg.d_fusion
    width = f"2F={cfg.pooled_speech_dim}" if cfg.speech_pool == "mean_std" else f"F={cfg.speech_dim}"
    return {
        "O": f"O (B, {n_in}, F={cfg.speech_dim})",
        "pooled": f"(B, N={n}, {width})",
        "S": f"S (B, N={n}, D={d})",
        "Q": f"Q (B, M={m}, E={cfg.text_dim})",
        "T": f"T (B, M={m}, D={d})",
        "alignment": f"α' (B, M={m}, N={n})",
        "U": f"U (B, M={m}, D={d})",
        "weights": f"w̃ᵗ, w̃ˢ (B, M={m}); tanh width A={cfg.d_model}",
        "UT": f"Ũ ⊕ T̃ (B, M={m}, 2D={2 * d})",
        "F": f"F (B, M={m}, D'={d2})",
        "f": _f_prime(cfg),
        "logits": f"logits (B, C={cfg.num_classes})",
    }


def _f_prime(cfg: TSINConfig) -> str:
    """f' and its width: D' (mean or weighted sum), 2D' (both), plus D when the frames' summary sits beside it."""
    words = f"2D'={2 * cfg.d_fusion}" if cfg.mec_pool == "both" else f"D'={cfg.d_fusion}"
    return f"f' (B, {words})" if cfg.mec_speech == "none" else f"f' (B, {words} + D={cfg.d_model})"


def architecture_facts(cfg: TSINConfig) -> dict[str, str]:
    """The text of each box of the diagram, from the config: what this run's model does at each step."""
    norm = {"fold": "fold norm", "utterance": "per-utterance norm", "speaker": "per-speaker norm"}.get(cfg.speech_norm,
                                                                                                   "no norm")
    ms = cfg.hop_ms * cfg.speech_stride
    stats = "mean + std" if cfg.speech_pool == "mean_std" else "mean"
    if cfg.speech_stride > 1:
        pool = f"{norm}, blocks of\n{cfg.speech_stride} frames = {ms:g} ms\n→ {stats} per block"
    else:
        pool = f"{norm}\n(every {cfg.hop_ms:g} ms frame)" + ("\nas mean + std (std 0)" if stats != "mean" else "")
    lstm = "BiLSTM" if cfg.bidirectional else "LSTM"
    model = str(cfg.text_model).rstrip("/").rsplit("/", 1)[-1]  # a HF name or local path: its last part
    model = model if len(model) <= 18 else model[:17] + "…"
    ta = ["TA: words attend to", "frames (Eqs. 3-5)"]
    ta += describe_switches(cfg, "diagram")
    on_u, on_t = ("w̃ˢ", "w̃ᵗ") if cfg.si_pairing == "printed" else ("w̃ᵗ", "w̃ˢ")
    m = "m·" if cfg.si_scale == "mean" else ""
    norm8 = "÷ sum (Eq. 8 literal)" if cfg.si_weights == "literal" else "softmax over words"
    pairing = "Eq. 9 as printed" if cfg.si_pairing == "printed" else "Eq. 9 as in the prose"
    kernels = cfg.text_kernels or cfg.kernel_sizes
    return {
        "speech": "speech\nlog-Mel + Δ + ΔΔ",
        "pool": pool,
        "lstm": f"STE: {lstm}\n(Eq. 1)" if cfg.lstm_layers == 1 else f"STE: {lstm}\n×{cfg.lstm_layers} (Eq. 1)",
        "words": f"words\n{model}",
        "conv": "STE: conv k = " + ", ".join(map(str, kernels)) + ("\n+ max (Eq. 2)" if len(kernels) > 1 else "\n(Eq. 2)"),
        "ta": "\n".join(ta),
        "si": "SI: re-weight\nwords (Eqs. 6-9)",
        "si_note": f"w̃ᵗ, w̃ˢ (B, M={cfg.n_words}): {norm8}; tanh width A={cfg.d_model}\n"
                   f"{pairing}: Ũ = {m}{on_u} ⊙ U,  T̃ = {m}{on_t} ⊙ T",
        "fusion": "fusion LSTM\n(Eq. 10)",
        "mec": "\n".join([{"mean": "MEC: conv + mean,", "si": f"MEC: conv +\n{on_t}-weighted sum,",
                            "both": f"MEC: conv, mean\n⊕ {on_t}-weighted sum,"}[cfg.mec_pool]]
                          + {"none": [], "mean": ["⊕ mean of S,"], "mec": ["⊕ conv, mean of S,"]}[cfg.mec_speech]
                          + ["FC (Eqs. 11-12)"]),
        "text_dropout": (f"training: the whole text is zeroed\nin {cfg.text_dropout:.0%} of utterances"
                         if cfg.text_dropout > 0 else ""),
    }


_SPEECH, _TEXT, _FUSED = "#dbe7f5", "#fbe3d2", "#e3f1df"


def _box(ax: object, xy: tuple[float, float], size: tuple[float, float], text: str, color: str) -> None:
    (x, y), (w, h) = xy, size
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05,rounding_size=0.15",
                                facecolor=color, edgecolor="0.25", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, linespacing=1.25)


def _arrow(ax: object, start: tuple[float, float], end: tuple[float, float], label: str = "",
           at: tuple[float, float] | None = None, ha: str = "center", va: str = "bottom") -> None:
    """An arrow from ``start`` to ``end``; its ``label`` at ``at`` (default: just above the middle)."""
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "0.2", "lw": 1.1})
    if label:
        at = at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12)
        ax.text(*at, label, ha=ha, va=va, fontsize=7.5, color="#1f3b73",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})


def plot_architecture(cfg: TSINConfig, title: str | None = None) -> Figure:
    """TSIN as in the paper's Fig. 2: STE (Eqs. 1-2), TA (3-5), SI (6-9), fusion (10), MEC (11-12); shapes on arrows.

    Box texts come from :func:`architecture_facts`, arrow labels from :func:`architecture_shapes`.
    """
    s, t = architecture_shapes(cfg), architecture_facts(cfg)
    fig = Figure(figsize=(13.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlim=(0, 18.6), ylim=(0.3, 6.6))
    ax.axis("off")
    ta_h = max(1.0, 0.3 + 0.28 * (t["ta"].count("\n") + 1))
    box = {  # name: (centre, size)
        "speech": ((1.2, 4.9), (2.0, 1.2)), "pool": ((4.3, 4.9), (2.6, 1.2)), "lstm": ((7.3, 4.9), (2.0, 1.2)),
        "words": ((1.2, 1.6), (2.0, 1.0)), "conv": ((5.2, 1.6), (2.6, 1.0)), "ta": ((10.0, 3.6), (2.8, ta_h)),
        "si": ((12.9, 1.9), (2.2, 1.0)), "fusion": ((15.0, 4.7), (1.8, 1.0)), "mec": ((17.4, 2.0), (1.8, 1.1)),
    }
    colors = {"speech": _SPEECH, "pool": _SPEECH, "lstm": _SPEECH, "words": _TEXT, "conv": _TEXT}
    for name, (xy, size) in box.items():
        _box(ax, xy, size, t[name], colors.get(name, _FUSED))

    def edge(name: str, side: str, shift: float = 0.0) -> tuple[float, float]:
        (x, y), (w, h) = box[name]
        pad = 0.06
        return {"left": (x - w / 2 - pad, y + shift), "right": (x + w / 2 + pad, y + shift),
                "top": (x + shift, y + h / 2 + pad), "bottom": (x + shift, y - h / 2 - pad)}[side]

    top_row = 5.72  # labels above the speech row
    _arrow(ax, edge("speech", "right"), edge("pool", "left"), s["O"], at=(2.6, top_row))
    _arrow(ax, edge("pool", "right"), edge("lstm", "left"), s["pooled"], at=(5.95, top_row))
    _arrow(ax, edge("lstm", "right"), edge("ta", "top", -0.6), s["S"], at=(9.2, 4.75), ha="left")
    _arrow(ax, edge("words", "right"), edge("conv", "left"), s["Q"])
    _arrow(ax, edge("conv", "right", 0.2), edge("ta", "left", -0.3), s["T"], at=(7.6, 2.65), ha="right")
    _arrow(ax, edge("conv", "right", -0.2), edge("si", "left", -0.2), s["T"], at=(9.3, 1.05), va="top")
    _arrow(ax, edge("ta", "bottom", 0.9), edge("si", "top", -0.5), s["U"], at=(11.9, 2.85), ha="left")
    _arrow(ax, edge("si", "top", 0.5), edge("fusion", "bottom", -0.3), s["UT"], at=(14.05, 3.0), ha="left")
    _arrow(ax, edge("fusion", "right"), edge("mec", "top", 0.3), s["F"], at=(16.55, 4.35), ha="left")
    ax.text(box["ta"][0][0] - 0.3, edge("ta", "bottom")[1] - 0.08, s["alignment"], ha="center", va="top",
            fontsize=7.5, color="0.35")
    ax.text(box["si"][0][0], edge("si", "bottom")[1] - 0.08, t["si_note"],
            ha="center", va="top", fontsize=7.5, color="0.35", linespacing=1.3)
    ax.text(box["mec"][0][0], edge("mec", "bottom")[1] - 0.08, s["f"] + "\n→ " + s["logits"], ha="center",
            va="top", fontsize=7.5, color="#1f3b73")
    if t["text_dropout"]:
        ax.text(0.2, edge("words", "bottom")[1] - 0.08, t["text_dropout"], ha="left", va="top", fontsize=7.5,
                color="0.35")
    ax.text(0.2, 6.45, f"d = {cfg.d_model} (model width D), d' = {cfg.d_fusion} (fusion width D'); B = batch. "
            "The code keeps the batch first and features last, (B, steps, width); the paper writes S ∈ R^(d×n).",
            fontsize=8, color="0.3", va="top")
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
