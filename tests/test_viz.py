"""Figures return a Figure with the expected panels, save as PNG + PDF, and show the data where it belongs."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tsin_nb.core import EMOTIONS
from tsin_nb.show import (
    alignment_quality,
    attention_in_span,
    embed_2d,
    emotion_color,
    emotion_marker,
    plot_alignment,
    plot_alignment_quality,
    plot_confusion,
    plot_confusions,
    plot_dataset_stats,
    plot_embeddings,
    plot_speech_steps,
    plot_table_bars,
    plot_training_curves,
    save_figure,
    upsample_alignment,
    variant_label,
)


def _panels(fig: Figure) -> list:
    """The figure's axes without colorbars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _saves(fig: Figure, tmp_path, name: str) -> None:
    paths = save_figure(fig, name, fig_dir=tmp_path / "figs")
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size < 1_000_000


def test_save_figure_shrinks_a_large_png(tmp_path) -> None:
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().imshow(np.random.default_rng(0).random((200, 200)), interpolation="nearest")
    png, _ = save_figure(fig, "noise", fig_dir=tmp_path, dpi=200, max_png_bytes=60_000)
    assert 0 < png.stat().st_size <= 60_000


def test_dataset_stats(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 40
    manifest = pd.DataFrame({
        "utt_id": [f"u{i:03d}" for i in range(n)],
        "session": [f"Ses0{1 + i % 3}" for i in range(n)],
        "label": [EMOTIONS[i % 4] for i in range(n)],
        "text": ["a few words here"] * n,
        "start": rng.uniform(0, 10, n),
        "end": np.nan,
        "words": [None] * n,
    })
    manifest["end"] = manifest["start"] + rng.uniform(1, 5, n)
    fig = plot_dataset_stats(manifest)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    stacked = sum(p.get_height() for p in fig.axes[0].patches)
    assert stacked == n
    fig2 = plot_dataset_stats(manifest.assign(start=np.nan), durations=rng.uniform(1, 5, n))
    assert len(fig2.axes) == 3
    _saves(fig, tmp_path, "dataset")


def test_speech_steps(tmp_path) -> None:
    sr, hop, win, n_fft = 16000, 160, 400, 512
    rng = np.random.default_rng(0)
    y = rng.standard_normal(sr // 2).astype(np.float32)
    n_frames = 1 + (len(y) - win) // hop
    steps = {
        "waveform": y,
        "Hamming window": np.hamming(win),
        "magnitude spectrum": np.abs(rng.standard_normal(n_fft // 2 + 1)),
        "power spectrogram": rng.random((n_fft // 2 + 1, n_frames)) ** 20,
        "Mel filterbank": rng.random((40, n_fft // 2 + 1)),
        "log-Mel": rng.standard_normal((40, n_frames)),
        "delta": rng.standard_normal((40, n_frames)),
        "delta-delta": rng.standard_normal((40, n_frames)),
    }
    fig = plot_speech_steps(steps, sr, hop, win_length=win, n_fft=n_fft)
    panels = _panels(fig)
    assert len(panels) == len(steps)
    assert [ax.get_title() for ax in panels] == list(steps)
    by_title = {ax.get_title(): ax for ax in panels}
    assert by_title["waveform"].get_xlabel() == "time (s)"
    assert by_title["log-Mel"].get_xlabel() == "time (s)"
    assert by_title["log-Mel"].get_xlim()[1] == pytest.approx(n_frames * hop / sr)
    assert by_title["Mel filterbank"].get_xlabel() == "frequency (Hz)"
    cbar_labels = [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(cbar_labels) == 5 and cbar_labels[0] == "power (dB)"  # the wide-range power shown in dB
    assert cbar_labels[1] == "filter weight" and cbar_labels[2] == "log-Mel energy (dB)"
    assert all(cbar_labels)  # every colour bar says what its colour means
    _saves(fig, tmp_path, "speech_steps")


def test_training_curves(tmp_path) -> None:
    history = [{"epoch": e, "train_loss": 1 / e, "val_wa": 0.5 + e / 100, "val_ua": 0.45 + e / 100}
               for e in range(1, 6)]
    fig = plot_training_curves(history)
    assert len(fig.axes) == 2
    ua_line = [ln for ln in fig.axes[1].get_lines() if ln.get_label() == "val UA"][0]
    assert ua_line.get_ydata()[-1] == pytest.approx(50.0)  # fractions shown as %
    _saves(plot_training_curves(pd.DataFrame(history)), tmp_path, "curves")


def test_confusion_orientation() -> None:
    cm = np.array([[10, 0, 30, 0], [0, 5, 0, 0], [0, 0, 7, 0], [1, 0, 0, 9]])
    fig = plot_confusion(cm, title="toy")
    ax = fig.axes[0]
    data = np.asarray(ax.collections[0].get_array()).reshape(4, 4)
    assert data[0, 2] == pytest.approx(75.0)  # row "ang" (true), column "sad" (predicted)
    assert data[3, 0] == pytest.approx(10.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(EMOTIONS)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(EMOTIONS)
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    texts = {(round(t.get_position()[0], 1), round(t.get_position()[1], 1)): t.get_text() for t in ax.texts}
    assert texts[(2.5, 0.5)] == "75.0%\n(30)"
    counts = plot_confusion(cm, normalize=False).axes[0]
    assert np.asarray(counts.collections[0].get_array()).reshape(4, 4)[0, 2] == 30


def test_confusions_side_by_side(tmp_path) -> None:
    rng = np.random.default_rng(1)
    cms = {p: rng.integers(0, 20, (4, 4)) for p in ("SesI", "SpkI", "SpkD")}
    fig = plot_confusions(cms)
    assert len(_panels(fig)) == 3 and len(fig.axes) == 6  # one colour bar each
    assert [ax.get_title().split()[0] for ax in _panels(fig)] == list(cms)
    _saves(fig, tmp_path, "fig3")


def _clusters(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.standard_normal((n, 8)) + 6 * np.eye(4, 8)[y]
    return X, y


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_embed_2d_is_deterministic(method: str) -> None:
    X, _ = _clusters()
    a = embed_2d(X, method=method, seed=0)
    b = embed_2d(X, method=method, seed=0)
    assert a.shape == (60, 2)
    np.testing.assert_allclose(a, b)


def test_embed_2d_small_n_and_bad_method() -> None:
    X, _ = _clusters(n=8)
    assert embed_2d(X, "tsne").shape == (8, 2)  # perplexity clipped below n
    with pytest.raises(ValueError, match="tsne"):
        embed_2d(X, "pca")


def test_plot_embeddings(tmp_path) -> None:
    X, y = _clusters()
    fig = plot_embeddings({"speech": (X, y), "text": (X, y), "tsin": (X, y)}, method="tsne", seed=0)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Speech", "Text", "TSIN"]
    scatters = fig.axes[0].collections
    assert len(scatters) == 4  # one per class
    shapes = {tuple(np.round(s.get_paths()[0].vertices, 3).ravel()) for s in scatters}
    assert len(shapes) == 4  # distinct marker shapes
    colors = [tuple(s.get_facecolor()[0]) for s in scatters]
    assert len(set(colors)) == 4
    same = plot_embeddings({"a": (np.random.default_rng(0).random((60, 2)), [EMOTIONS[i % 4] for i in range(60)])},
                               method="none")
    assert [s.get_label() for s in same.axes[0].collections] == list(EMOTIONS)
    _saves(fig, tmp_path, "fig5")


def _table_v(scale: float = 1.0) -> pd.DataFrame:
    cols = pd.MultiIndex.from_product([("SesI", "SpkI", "SpkD"), ("WA", "UA")], names=["protocol", "metric"])
    vals = np.array([[60.88, 63.32, 61.75, 64.32, 67.08, 68.39], [74.92, 76.64, 76.23, 78.11, 78.74, 79.77]])
    return pd.DataFrame(vals * scale, index=["speech", "tsin"], columns=cols)


def test_table_bars(tmp_path) -> None:
    ours = _table_v(0.009)  # fractions -> shown as %
    fig = plot_table_bars(ours, paper=_table_v())
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["SesI", "SpkI", "SpkD"]
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] == pytest.approx(0.9 * 60.88)
    hollow = ax.collections[0]
    assert hollow.get_facecolor().size == 0 or hollow.get_facecolor()[0][3] == 0
    np.testing.assert_allclose(hollow.get_offsets()[:, 1], [60.88, 74.92])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Speech", "TSIN"]
    flat = pd.DataFrame({"SesI WA": [70.0, 72.0], "SesI UA": [71.0, 73.0]}, index=["glove", "bert"])
    assert len(plot_table_bars(flat).axes) == 1
    long = pd.DataFrame({"variant": ["tsin", "tsin"], "protocol": ["SpkD", "SpkD"], "metric": ["WA", "UA"],
                         "value": [70.0, 71.0]})
    assert len(plot_table_bars(long).axes) == 1
    folds = {"SesI": ["Session1", "Session2"], "SpkI": ["Ses01M", "Ses01F", "Ses02M"]}  # Table I: folds differ
    table1 = pd.DataFrame([{"fold": f, "protocol": p, "metric": m, "value": 0.7}
                           for p, fs in folds.items() for f in fs for m in ("WA", "UA")])
    t1 = plot_table_bars(table1, index="fold")
    assert [[t.get_text() for t in ax.get_xticklabels()] for ax in t1.axes] == list(folds.values())
    assert t1.axes[1].patches[0].get_height() == pytest.approx(70.0)
    _saves(fig, tmp_path, "table5")


def _utterance(n_frames: int = 40, words: tuple[str, ...] = ("so", "very", "angry", "now")) -> dict:
    """Four words spanning [0,10), [10,20), [20,30), [30,40) with a diagonal alignment at stride 2."""
    spans = [(10 * j, 10 * (j + 1)) for j in range(len(words))]
    align = np.zeros((len(words), n_frames // 2))
    for j, (s, e) in enumerate(spans):
        align[j, s // 2:e // 2] = 1.0 / ((e - s) // 2)
    rng = np.random.default_rng(0)
    return dict(spectrogram=rng.standard_normal((8, n_frames)), alignment=align, words=list(words),
                word_frames=spans, speech_weights=np.full(len(words), 0.25), text_weights=np.array([.1, .2, .6, .1]),
                stride=2, n_real_frames=n_frames)


def test_plot_alignment_panels_and_selection(tmp_path) -> None:
    u = _utterance()
    fig = plot_alignment(**u, label="ang", pred=1)
    assert len(_panels(fig)) == 3  # spectrogram, alignment, weights (and a colour bar per heat map)
    assert "true: ang" in fig.get_suptitle() and "predicted: hap" in fig.get_suptitle()
    spec_ax, al_ax, w_ax = _panels(fig)
    assert spec_ax.images[0].get_array().shape == (8, 40)
    assert al_ax.images[0].get_array().shape == (4, 40)  # upsampled from stride 2
    assert len(w_ax.patches) == 8  # 4 words x 2 sides
    assert [t.get_text() for t in al_ax.get_yticklabels()] == u["words"]

    sel = plot_alignment(**u, label="ang", pred="ang", selected_word=2)
    assert len(_panels(sel)) == 4  # plus the attention line
    span = [p for p in sel.axes[0].patches if p.get_gid() == "selected-span"][0]
    xs = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((0.20, 0.30))
    line = [ln for ax in sel.axes for ln in ax.get_lines() if ln.get_gid() == "selected-attention"][0]
    assert np.argmax(line.get_ydata()) in range(20, 30)
    assert '"angry"' in sel.axes[0].get_title() and "100%" in sel.axes[0].get_title()
    assert "(correct)" in sel.get_suptitle()
    _saves(sel, tmp_path, "alignment")


def test_plot_alignment_only_real_parts_and_no_alignment() -> None:
    u = _utterance()
    padded = dict(u, spectrogram=np.pad(u["spectrogram"], ((0, 0), (0, 20))),
                  alignment=np.pad(u["alignment"], ((0, 3), (0, 10))), words=u["words"], n_real_frames=40)
    fig = plot_alignment(**padded)
    assert _panels(fig)[0].images[0].get_array().shape == (8, 40)
    assert _panels(fig)[1].images[0].get_array().shape == (4, 40)
    bare = plot_alignment(u["spectrogram"], None, u["words"], word_frames=u["word_frames"], selected_word=1)
    assert len(_panels(bare)) == 1
    with pytest.raises(ValueError, match="selected_word"):
        plot_alignment(**u, selected_word=9)


def test_upsample_alignment_keeps_mass() -> None:
    a = np.array([[0.5, 0.25, 0.25]])
    up = upsample_alignment(a, stride=4, n_frames=12)
    assert up.shape == (1, 12) and up.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(up[0, :4], 0.125)


def test_attention_in_span_perfect_and_uniform() -> None:
    u = _utterance()
    perfect = attention_in_span(u["alignment"], u["word_frames"], 40, stride=2, words=u["words"])
    assert list(perfect["word"]) == u["words"]
    np.testing.assert_allclose(perfect["mass_in_span"], 1.0)
    np.testing.assert_allclose(perfect["uniform_share"], 0.25)

    spans = [(0, 4), (4, 30), (30, 33)]
    uniform = np.full((3, 17), 1 / 17)  # 33 real frames at stride 2 -> 17 columns, the last half padding
    q = attention_in_span(uniform, spans, 33, stride=2)
    np.testing.assert_allclose(q["mass_in_span"], q["uniform_share"])
    np.testing.assert_allclose(q["uniform_share"], [4 / 33, 26 / 33, 3 / 33])
    np.testing.assert_allclose(q["ratio"], 1.0)

    wrong = np.roll(u["alignment"], 5, axis=1)  # every word looks 10 frames later: nothing in span
    np.testing.assert_allclose(attention_in_span(wrong, u["word_frames"], 40, 2)["mass_in_span"], 0.0)


def test_attention_in_span_skips_words_without_spans() -> None:
    u = _utterance()
    spans = [(0, 10), None, (45, 50), (30, 40)]  # no span; a span beyond the real frames
    q = attention_in_span(u["alignment"], spans, 40, stride=2)
    assert list(q["word_index"]) == [0, 3]


def test_alignment_quality_and_plot(tmp_path) -> None:
    from tsin_nb.show import AlignmentRecord

    u = _utterance()
    good = AlignmentRecord("u1", u["spectrogram"], u["words"], u["word_frames"], u["alignment"], None, None,
                           stride=2, label="ang", pred="ang", n_real_frames=40)
    flat = AlignmentRecord("u2", u["spectrogram"], u["words"], u["word_frames"], np.full((4, 20), 1 / 20),
                           None, None, stride=2, label="ang", pred="sad", n_real_frames=40)
    no_spans = AlignmentRecord("u3", u["spectrogram"], u["words"], None, u["alignment"], None, None, stride=2)
    q = alignment_quality([good, flat, no_spans])
    assert list(q.index) == ["u1", "u2", "overall"]
    assert q.loc["u1", "mass_in_span"] == pytest.approx(1.0)
    assert q.loc["u2", "mass_in_span"] == pytest.approx(0.25)
    assert q.loc["u2", "ratio"] == pytest.approx(1.0)
    assert q.loc["overall", "mass_in_span"] == pytest.approx(0.625)
    assert q.loc["overall", "ratio"] == pytest.approx(2.5)
    assert q.loc["overall", "n_words"] == 8
    fig = plot_alignment_quality({"tsin": q, "no_si": alignment_quality([flat])})
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["TSIN", "TSI w/o SI"]
    assert [p.get_height() for p in fig.axes[1].patches] == pytest.approx([2.5, 1.0])
    _saves(fig, tmp_path, "alignment_quality")


def test_colors_fixed_per_emotion() -> None:
    assert len({emotion_color(e) for e in EMOTIONS}) == 4
    assert len({emotion_marker(e) for e in EMOTIONS}) == 4
    assert emotion_color("fru") == emotion_color("fru")


def test_figures_are_not_left_open_in_pyplot() -> None:
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    u = _utterance()
    plot_alignment(**u, selected_word=0)
    plot_confusions({"a": np.eye(4)})
    plot_table_bars(_table_v())
    assert set(plt.get_fignums()) == before


def _inside_figure(fig: Figure) -> bool:
    """True when every drawn artist (titles, labels, legend) lies inside the figure: nothing is clipped."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())  # inches
    w, h = fig.get_size_inches()
    return box.x0 >= -0.01 and box.y0 >= -0.01 and box.x1 <= w + 0.01 and box.y1 <= h + 0.01


def test_table_one_figure_reads_at_page_width(tmp_path) -> None:
    folds = {"SesI": [f"Session{i}" for i in range(1, 6)],
             "SpkI": [f"Ses0{i}{g}" for i in range(1, 6) for g in "MF"],
             "SpkD": [f"Group{i}" for i in range(1, 11)]}
    rows = [{"protocol": p, "test set": f, "metric": m, "value": 70.0}
            for p, fs in folds.items() for f in [*fs, "Mean"] for m in ("WA", "UA")]  # as notebook 05 melts table_one
    fig = plot_table_bars(pd.DataFrame(rows), index="test set",
                              title="Table I: TSIN per test set (bars: this run; hollow diamonds: the paper, on IEMOCAP)")
    png, _ = save_figure(fig, "table1", fig_dir=tmp_path)
    from PIL import Image

    width, height = Image.open(png).size
    assert width <= 1400 and height >= 0.7 * width, f"{width} x {height}: not one protocol per row"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == list(folds)
    boxes = [ax.get_position() for ax in axes]
    assert all(abs(b.x0 - boxes[0].x0) < 1e-6 for b in boxes) and boxes[0].y0 > boxes[1].y0 > boxes[2].y0
    for ax, names in zip(axes, folds.values()):
        assert [t.get_text() for t in ax.get_xticklabels()] == [*names, "Mean"]
    mean_x = [ax.get_xticks()[-1] for ax in axes]
    assert mean_x == [10, 10, 10], "the Mean bar sits at the same place in every protocol"
    assert _inside_figure(fig)


@pytest.mark.parametrize("rows", [["tsin", "speech", "text", "no_ta", "no_si"], ["minilm", "onehot", "random"],
                                  ["tsin", "speech", "text", "no_ta", "no_si", "Linear speech", "Linear text",
                                   "Linear fusion"]])
def test_one_protocol_bar_figure_keeps_its_title_and_legend_inside(rows: list[str]) -> None:
    df = pd.DataFrame([{"row": r, "protocol": "SesI", "metric": m, "value": 60.0} for r in rows for m in ("WA", "UA")])
    title = "Table V: mean over folds (bars: this run; hollow diamonds: the paper, on IEMOCAP)"
    fig = plot_table_bars(df, index="row", title=title)
    assert " ".join(fig.get_suptitle().split()) == title  # wrapped, not cut
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [variant_label(r) for r in rows]
    assert _inside_figure(fig)
