"""The teaching helpers: sentences follow the numbers, per-cue accuracy, the architecture diagram, Table I's pairing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tsin_nb.core import TSINConfig
from tsin_nb.runs import SPKD_NOTE, table_one
from tsin_nb.show import (
    TOPICS,
    add_colorbars,
    alignment_text,
    architecture_shapes,
    cue_accuracy,
    cue_text,
    curve_text,
    did_not_train,
    paper_vs_run,
    plot_architecture,
    plot_cue_accuracy,
    salient_text,
    silhouette,
    status_facts,
    status_line,
    table_five_text,
    table_one_facts,
    table_one_text,
)


def _results(ua: dict[str, list[float]], protocol: str = "SesI") -> pd.DataFrame:
    """A tidy results table: one row per variant and fold, UA (fractions) as given, WA equal to UA."""
    rows = [{"protocol": protocol, "variant": v, "fold": f"Session{i + 1}", "fold_index": i, "n_folds": len(vals),
             "wa": x, "ua": x} for v, vals in ua.items() for i, x in enumerate(vals)]
    return pd.DataFrame(rows)


def test_table_five_text_says_below_or_above_from_the_numbers() -> None:
    low = table_five_text(_results({"text": [0.70, 0.72, 0.71], "tsin": [0.60, 0.62, 0.61]}))
    assert "TSIN is below Text" in low and "TSIN ahead in 0 of 3 folds" in low
    assert "not above Text" in low
    high = table_five_text(_results({"text": [0.60, 0.62, 0.61], "tsin": [0.70, 0.72, 0.71]}))
    assert "TSIN is above Text" in high and "TSIN ahead in 3 of 3 folds" in high
    assert "above every ablation, as in the paper" in high
    level = table_five_text(_results({"text": [0.700, 0.701], "tsin": [0.701, 0.700]}))
    assert "TSIN is level with Text" in level


def test_table_five_text_names_the_linear_baseline() -> None:
    text = table_five_text(_results({"tsin": [0.8, 0.8], "lin_text": [0.75, 0.77], "lin_speech": [0.4, 0.4]}))
    assert "best linear row, Linear text, reaches 76.0 %" in text and "+4.0 points" in text


def test_did_not_train_needs_chance_and_a_flat_loss() -> None:
    flat = [{"epoch": e, "train_loss": 1.37} for e in range(1, 13)]
    falling = [{"epoch": e, "train_loss": 1.37 / e} for e in range(1, 13)]
    assert did_not_train(flat, 0.25)
    assert not did_not_train(falling, 0.25)
    assert not did_not_train(flat, 0.60)


def test_curve_text_finds_the_validation_minimum() -> None:
    val = [0.9, 0.7, 0.5, 0.55, 0.6, 0.7]
    h = pd.DataFrame({"epoch": range(1, 7), "train_loss": np.linspace(1.3, 0.2, 6), "val_loss": val,
                      "val_ua": [0.4, 0.5, 0.6, 0.65, 0.62, 0.61]})
    text = curve_text(h)
    assert "lowest at epoch 3 (0.500)" in text and "peaked at epoch 4" in text and "epoch 4 instead" in text
    h["val_loss"] = sorted(val, reverse=True)
    assert "still at its lowest" in curve_text(h)


def test_paper_vs_run_marks_what_this_run_changes() -> None:
    cpu = paper_vs_run(TSINConfig.preset("cpu"), corpus="synthetic")
    assert cpu.loc["epochs", "paper"] == "80" and cpu.loc["epochs", "this run"] == str(TSINConfig.preset("cpu").epochs)
    assert cpu.loc["epochs", "differs"] == "yes" and cpu.loc["batch size", "differs"] == ""
    assert "100 ms" in cpu.loc["speech step seen by the LSTM (and by Eq. 4)", "this run"]
    assert cpu.loc["Eq. 4 prior on word order", "differs"] == "yes"  # beyond the paper, not a silence of it
    paper = paper_vs_run(TSINConfig.preset("paper"))
    assert set(paper.index[paper["differs"] == "yes"]) == {"word vectors (width E)", "Eq. 8 normalisation"}
    literal = paper_vs_run(TSINConfig.preset("paper", si_weights="literal"))
    assert literal.loc["Eq. 8 normalisation", "differs"] == ""
    assert list(paper_vs_run(TSINConfig(), only=["speech"]).index) == list(TOPICS["speech"])
    with pytest.raises(ValueError, match="unknown settings"):
        paper_vs_run(TSINConfig(), only=["no such row"])


def test_status_facts_count_the_table() -> None:
    status = pd.DataFrame({"protocol": "SesI", "variant": "tsin", "fold": ["S1", "S2", "S3", "S4"],
                           "status": ["trained", "reused", "failed", "trained"], "wall_s": [10.0, 5.0, math.nan, 2.5]})
    assert status_facts(status) == {"trained": 2, "reused": 1, "failed": 1, "trained_wall_s": 12.5}
    assert status_facts(status.iloc[:0]) == {"trained": 0, "reused": 0, "failed": 0, "trained_wall_s": 0.0}
    assert "\n" not in status_line(status, "OUT")


def test_cue_accuracy_on_a_toy_table() -> None:
    cues = pd.DataFrame({"utt_id": ["a", "b", "c", "d"], "cue": ["text", "text", "voice", "both"]})
    preds = pd.DataFrame({
        "utt_id": ["a", "b", "c", "d"] * 2, "label": ["ang", "hap", "sad", "neu"] * 2,
        "pred": ["ang", "ang", "sad", "neu", "ang", "hap", "ang", "ang"],
        "variant": ["speech"] * 4 + ["text"] * 4, "fold": "f1",
    })
    t = cue_accuracy(preds, cues)
    assert list(t.index) == ["speech", "text"] and list(t.columns) == ["words", "voice", "both", "all"]
    assert t.loc["speech", "words"] == 50 and t.loc["speech", "voice"] == 100 and t.loc["speech", "all"] == 75
    assert t.loc["text", "words"] == 100 and t.loc["text", "voice"] == 0 and t.loc["text", "both"] == 0
    assert t.attrs["n"].loc["text", "words"] == 2
    assert "Speech: best on *voice*" in cue_text(t)
    assert isinstance(plot_cue_accuracy(t), Figure)
    with pytest.raises(ValueError, match="synthetic_meta.csv"):
        cue_accuracy(preds.assign(utt_id="zz"), cues)


def test_silhouette_of_separated_and_mixed_classes() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    apart = rng.normal(size=(100, 5)) + labels[:, None] * 10
    mixed = rng.normal(size=(100, 5))
    assert silhouette(apart, labels) > 0.8 and abs(silhouette(mixed, labels)) < 0.1
    assert math.isnan(silhouette(apart, np.zeros(100)))


def test_architecture_diagram_carries_the_config_shapes() -> None:
    cfg = TSINConfig.preset("cpu")
    shapes = architecture_shapes(cfg)
    assert shapes["S"] == "S (B, N=50, D=48)" and shapes["logits"] == "logits (B, C=4)"
    fig = plot_architecture(cfg)
    texts = " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    for key in ("O", "S", "Q", "T", "U", "UT", "F", "alignment"):
        assert shapes[key] in texts, key
    for eq in ("Eq. 1", "Eq. 2", "Eqs. 3-5", "Eqs. 6-9", "Eq. 10", "Eqs. 11-12"):
        assert eq in texts
    assert "S (B, N=500, D=768)" in " ".join(t.get_text() for t in plot_architecture(TSINConfig()).axes[0].texts)


def test_add_colorbars_adds_one_per_heatmap_once() -> None:
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(np.eye(3))
    ax2.plot([0, 1])
    add_colorbars(fig, label="%")
    assert len(fig.axes) == 3
    add_colorbars(fig)
    assert len(fig.axes) == 3


def test_table_one_pairs_folds_only_where_they_correspond() -> None:
    res = pd.concat([_results({"tsin": [0.7, 0.8]}, "SesI"),
                     _results({"tsin": [0.6, 0.65]}, "SpkD").assign(fold=["Group1", "Group2"], n_folds=10)])
    t = table_one(res).set_index(["protocol", "test set"])
    assert t.loc[("SesI", "Session1"), "paper UA"] == 76.1
    assert math.isnan(t.loc[("SpkD", "Group1"), "paper UA"]) and ("SpkD", "Group10") not in t.index
    assert t.loc[("SpkD", "Mean (2/10 folds)"), "paper UA"] == 79.77
    assert table_one(res).attrs["footnote"] == SPKD_NOTE and "Group5" in SPKD_NOTE
    f = table_one_facts(table_one(res))
    assert f["protocols"]["SpkD"]["ua"] == pytest.approx(62.5) and f["protocols"]["SpkD"]["n_folds"] == 2
    assert f["protocols"]["SesI"]["ua"] == pytest.approx(75.0) and f["protocols"]["SesI"]["hi_fold"] == "Session2"
    assert f["order"] == ["SesI", "SpkD"] and f["same_order"] is False  # the paper has SpkD above SesI


def test_table_one_note_names_only_the_runs_settings() -> None:
    res = _results({"tsin": [0.7, 0.8]}, "SesI")
    run = {"corpus": "/data/IEMOCAP_full_release", "preset": "paper", "epochs": 80}
    text = table_one_text(table_one(res), run)
    assert table_one_facts(table_one(res), run)["settings"] == run
    assert "IEMOCAP_full_release" in text and "paper" in text
    assert "synthetic" not in text and "cpu" not in text  # no default corpus or preset unless the run says so
    assert "synthetic" not in table_one_text(table_one(res)) and "cpu" not in table_one_text(table_one(res))


def test_alignment_and_salient_texts_follow_the_ratio() -> None:
    overall = pd.DataFrame({"mass_in_span": [0.05, 0.3], "uniform_share": [0.086, 0.1], "ratio": [0.58, 3.0]},
                           index=["tsin", "tsin + alignment loss"])
    text = alignment_text(overall)
    assert "ratio 0.58: it looks away from the words, below chance" in text
    assert "ratio 3.00: it finds the words better than chance" in text
    assert "below chance" in salient_text([False] * 9 + [True], [0.14] * 10)
    assert "above chance" in salient_text([True] * 5 + [False] * 5, [0.14] * 10)
