"""Figures are honest and readable: paper markers on top of bars from 0, a labelled colour bar per heat map,
an architecture diagram whose labels do not collide and whose text follows the config."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Rectangle

from tsin_nb.core import TSINConfig
from tsin_nb.show import (
    ALIGNMENT_SWITCHES,
    attention_title,
    describe_switches,
    plot_alignment,
    plot_architecture,
    plot_confusion,
    plot_confusions,
    plot_speech_steps,
    plot_table_bars,
    plot_text_steps,
)

# ----------------------------------------------------------------------------- bar charts with paper values


def _table(values: np.ndarray, rows: list[str]) -> pd.DataFrame:
    cols = pd.MultiIndex.from_product([("SesI", "SpkI"), ("WA", "UA")], names=["protocol", "metric"])
    return pd.DataFrame(values, index=rows, columns=cols)


def _bar_charts() -> list[Figure]:
    """Table V (ablations, with error bars) and Table I (folds) as the notebooks draw them."""
    rows = ["speech", "tsin", "no_ta"]
    paper = _table(np.array([[60.9, 63.3, 61.8, 64.3], [74.9, 76.6, 76.2, 78.1], [70.0, 71.0, 72.0, 73.0]]), rows)
    ours = paper + 6.0  # our bars taller: the paper's diamonds sit inside them
    table5 = plot_table_bars(ours / 100, paper=paper, err=_table(np.full((3, 4), 0.02), rows))
    folds = {"SesI": ["Session1", "Session2"], "SpkI": ["Ses01M", "Ses01F"]}
    long = [{"fold": f, "protocol": p, "metric": m, "value": v} for p, fs in folds.items() for f in [*fs, "Mean"]
            for m, v in (("WA", 0.55), ("UA", 0.8))]
    paper1 = pd.DataFrame(long).assign(value=70.0)
    table1 = plot_table_bars(pd.DataFrame(long), paper=paper1, index="fold")
    return [table5, table1]


@pytest.mark.parametrize("which", [0, 1], ids=["table5_ablations", "table1_folds"])
def test_paper_markers_sit_on_top_of_bars_and_error_bars(which: int) -> None:
    fig = _bar_charts()[which]
    for ax in fig.axes:
        markers = [c for c in ax.collections if "(paper)" in str(c.get_label())]
        assert markers, "the paper's values are drawn"
        below = [p.get_zorder() for p in ax.patches if isinstance(p, Rectangle)]
        for container in ax.containers:
            if isinstance(container, ErrorbarContainer):
                _, caps, cols = container.lines
                below += [a.get_zorder() for a in (*caps, *cols) if isinstance(a, (Line2D, LineCollection))]
        below += [c.get_zorder() for c in ax.collections if isinstance(c, LineCollection)]
        assert below and min(m.get_zorder() for m in markers) > max(below)
        assert ax.get_ylim()[0] == 0, "bars start at 0 so their lengths compare"
    if which == 0:
        assert any(isinstance(c, ErrorbarContainer) for c in fig.axes[0].containers), "error bars kept"


# ----------------------------------------------------------------------------- heat maps


def _heatmaps(fig: Figure) -> list:
    """Every image or mesh drawn in a panel (not a colour bar's own)."""
    out = []
    for ax in fig.axes:
        if ax.get_label() != "<colorbar>":
            out += list(ax.images) + [c for c in ax.collections if isinstance(c, QuadMesh)]
    return out


def _utterance() -> dict:
    words = ["so", "very", "angry", "now"]
    align = np.kron(np.eye(4), np.full((1, 5), 0.2))  # (4 words, 20 columns at stride 2)
    rng = np.random.default_rng(0)
    return dict(spectrogram=rng.standard_normal((8, 40)), alignment=align, words=words,
                word_frames=[(10 * j, 10 * j + 10) for j in range(4)], speech_weights=np.full(4, 0.25),
                text_weights=np.array([0.1, 0.2, 0.6, 0.1]), stride=2, n_real_frames=40)


def _heatmap_figure(name: str) -> Figure:
    """One figure with heat maps, drawn from small synthetic numbers."""
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 20, (4, 4))
    sr, hop, win, n_fft = 16000, 160, 400, 512
    n_frames = 1 + (4000 - win) // hop
    steps = {"signal": rng.standard_normal(4000), "power": rng.random((n_fft // 2 + 1, n_frames)) ** 20,
             "filterbank": rng.random((40, n_fft // 2 + 1)), "logmel": rng.standard_normal((40, n_frames)),
             "delta": rng.standard_normal((40, n_frames)), "delta2": rng.standard_normal((40, n_frames))}
    words = ["i", "can", "not"]
    draw = {
        "alignment": lambda: plot_alignment(**_utterance()),
        "alignment_selected": lambda: plot_alignment(**_utterance(), selected_word=2, label="ang", pred="sad"),
        "confusion": lambda: plot_confusion(cm),
        "confusion_counts": lambda: plot_confusion(cm, normalize=False),
        "confusions": lambda: plot_confusions({"SesI": cm, "SpkI": cm.T, "SpkD": cm}),
        "speech_steps": lambda: plot_speech_steps(steps, sr, hop, win_length=win, n_fft=n_fft),
        "text_steps": lambda: plot_text_steps(rng.standard_normal((5, 16)), ["[CLS]", *words, "[SEP]"], words,
                                              rng.standard_normal((3, 16)), rng.standard_normal((3, 3, 8)),
                                              rng.standard_normal((3, 8)), (1, 3, 5)),
    }
    return draw[name]()


@pytest.mark.parametrize("name", ["alignment", "alignment_selected", "confusion", "confusion_counts", "confusions",
                                  "speech_steps", "text_steps"])
def test_every_heatmap_has_a_labelled_colour_bar(name: str) -> None:
    fig = _heatmap_figure(name)
    maps = _heatmaps(fig)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert maps and len(bars) == len(maps)
    for mappable in maps:
        assert mappable.colorbar is not None
        cax = mappable.colorbar.ax
        assert (cax.get_ylabel() or cax.get_xlabel()).strip(), f"{name}: a colour bar without a label"


def test_alignment_panel_is_titled_by_what_shaped_it() -> None:
    plain_label = attention_title(TSINConfig.preset("paper"))  # nothing but Eq. 3's learned scores
    assert "prior" not in plain_label and "Eq. 4" in plain_label
    titles = " ".join(ax.get_title() for ax in plot_alignment(**_utterance()).axes)
    assert plain_label in titles and "alpha'" not in titles
    said = "learned scores + word-order prior"
    custom = plot_alignment(**_utterance(), attention_label=said)
    assert said in " ".join(ax.get_title() for ax in custom.axes)
    assert "word-order prior" in attention_title(TSINConfig.preset("cpu"))
    assert "position" in attention_title(TSINConfig.preset("paper", align_pos=4))
    assert "word-match" in attention_title(TSINConfig.preset("paper", align_nce=1.0))
    learned = attention_title(TSINConfig.preset("paper", align_local=0.1))
    assert "learned width" in learned and "prior" not in learned
    assert "faded out over 12 epochs" in attention_title(TSINConfig.preset("cpu", align_anneal=12))
    assert "learned clocks" in attention_title(TSINConfig.preset("cpu", align_warp="frames"))
    assert "clocks" not in attention_title(TSINConfig.preset("cpu"))


def test_every_alignment_switch_is_described_once_for_every_place() -> None:
    """Each align_* field but the prior's fading (said with the prior), and ta_spans, has one entry; a config of the paper says
    none of them, and a config with a switch on gets one phrase per place that names it."""
    fields = {f.name for f in dataclasses.fields(TSINConfig) if f.name.startswith("align_")}
    assert set(ALIGNMENT_SWITCHES) == fields - {"align_anneal", "align_ctc_detach", "align_ctc_warmup"} | {"ta_spans"}
    paper = TSINConfig.preset("paper")
    assert all(describe_switches(paper, where) == [] for where in ("title", "diagram", "report"))
    on = {"align_prior": 0.05, "align_local": 0.1, "align_warp": "both", "align_pos": 4, "align_nce": 0.5, "align_ctc": 0.5, "align_temp": 2.0,
          "align_loss": 1.0, "ta_spans": True}
    for name, switch in ALIGNMENT_SWITCHES.items():
        base = paper.replace(align_prior=0.05) if name == "align_warp" else paper  # the clocks move a window
        cfg = base.replace(**{name: on[name]})
        for where in ("title", "diagram", "report"):
            said, before = describe_switches(cfg, where), describe_switches(base, where)
            assert len(said) - len(before) == (getattr(switch, where) is not None) and all(said)
            assert describe_switches(cfg.to_dict(), where) == said  # a metrics.json config reads the same
    ctc = describe_switches(paper.replace(align_ctc=1.0, align_pos=4, align_ctc_detach=True, align_ctc_warmup=8), "report")
    assert any("position score only" in p and "8 epochs first" in p for p in ctc)  # the loss's modifiers are named
    old = {k: v for k, v in TSINConfig.preset("cpu").to_dict().items() if k not in ("align_warp", "align_local")}
    assert describe_switches(old, "report") == describe_switches(TSINConfig.preset("cpu"), "report")  # fields it predates


# ----------------------------------------------------------------------------- architecture diagram


def _configs() -> dict[str, TSINConfig]:
    paper = TSINConfig.preset("paper")
    return {
        "cpu": TSINConfig.preset("cpu"),
        "paper": paper,
        "tiny": TSINConfig.preset("tiny"),
        "everything": paper.replace(bidirectional=True, lstm_layers=2, align_prior=0.1, align_anneal=12, align_pos=4,
                                    align_nce=0.5, align_ctc=0.5, si_weights="literal", si_scale="mean", si_pairing="printed",
                                    speech_pool="mean_std", text_dropout=0.5, speech_norm="utterance",
                                    text_model="sentence-transformers/all-MiniLM-L6-v2", mec_pool="both",
                                    mec_speech="mec"),
        "stride1_mean_std": paper.replace(speech_pool="mean_std"),
        "learned_window": paper.replace(bidirectional=True, lstm_layers=2, align_local=0.1, align_pos=4,
                                        align_nce=0.5, si_pairing="printed", speech_pool="mean_std", text_dropout=0.5,
                                        align_warp="both", mec_pool="si", mec_speech="mean"),
    }


def _drawn_texts(fig: Figure) -> tuple[list, object]:
    """(text, window extent) of every non-empty text of the figure, after drawing it."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent"))
             if t.get_visible() and t.get_text().strip()]
    return [(t, t.get_window_extent(renderer)) for t in texts], renderer


@pytest.mark.parametrize("preset", list(_configs()))
def test_architecture_labels_do_not_overlap(preset: str) -> None:
    fig = plot_architecture(_configs()[preset])
    texts, renderer = _drawn_texts(fig)
    assert len(texts) > 20
    for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
        assert not box_a.overlaps(box_b), f"{a.get_text()!r} runs into {b.get_text()!r}"
    for t, box in texts:  # nothing leaves the figure
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1), t.get_text()
    ax = fig.axes[0]
    for patch in (p for p in ax.patches if isinstance(p, FancyBboxPatch)):  # a box's text stays in its box
        outline = patch.get_window_extent(renderer)
        inside = [(t, box) for t, box in texts if outline.contains((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)]
        assert len(inside) == 1
        t, box = inside[0]
        assert outline.x0 <= box.x0 and box.x1 <= outline.x1 and outline.y0 <= box.y0 and box.y1 <= outline.y1, \
            f"{t.get_text()!r} spills out of its box"


@pytest.mark.parametrize("preset", list(_configs()))
def test_architecture_text_follows_the_config(preset: str) -> None:
    cfg = _configs()[preset]
    text = " | ".join(t.get_text() for t in plot_architecture(cfg).findobj(lambda a: hasattr(a, "get_text")))
    assert ("mean + std" in text) == (cfg.speech_pool == "mean_std")
    assert ("mean-pool" in text) is False or cfg.speech_pool == "mean"
    assert ("prior" in text) == (cfg.align_prior > 0)
    assert ("position score" in text) == (cfg.align_pos > 0)
    assert ("word-match" in text) == (cfg.align_nce > 0)
    assert ("forward-sum" in text) == (cfg.align_ctc > 0)
    assert ("learned σ" in text) == (cfg.align_local > 0)
    assert ("faded" in text) == (cfg.align_anneal > 0)
    assert ("learned clock" in text) == (cfg.align_warp != "none")
    assert f"d = {cfg.d_model}" in text and f"d' = {cfg.d_fusion}" in text
    assert f"D={cfg.d_model}" in text and f"D'={cfg.d_fusion}" in text
    pooled = f"2F={2 * cfg.speech_dim}" if cfg.speech_pool == "mean_std" else f"F={cfg.speech_dim})"
    assert pooled in text
    assert ("Eq. 9 as printed" in text) == (cfg.si_pairing == "printed")
    assert ("whole text is zeroed" in text) == (cfg.text_dropout > 0)
    assert ("weighted sum" in text) == (cfg.mec_pool != "mean")
    assert (f"f' (B, 2D'={2 * cfg.d_fusion}" in text) == (cfg.mec_pool == "both")
    assert ("mean of S" in text) == (cfg.mec_speech != "none")  # the frames' own summary beside f'
    assert (f"+ D={cfg.d_model})" in text) == (cfg.mec_speech != "none")
    if cfg.speech_stride > 1:
        assert f"{cfg.speech_stride} frames = {cfg.hop_ms * cfg.speech_stride:g} ms" in text
