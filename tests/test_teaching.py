"""The teaching helpers: the notes' facts follow the numbers, per-cue accuracy, the architecture diagram, Table I's pairing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tsin_nb import show
from tsin_nb.core import TSINConfig
from tsin_nb.runs import PAPER_TABLE_FIVE, SPKD_NOTE, table_one
from tsin_nb.show import (
    TOPICS,
    add_colorbars,
    alignment_facts,
    alignment_text,
    architecture_shapes,
    confusion_facts,
    confusion_text,
    cue_accuracy,
    cue_facts,
    cue_share_text,
    cue_text,
    curve_facts,
    curve_text,
    dataset_text,
    did_not_train,
    embeddings_facts,
    embeddings_text,
    eq8_facts,
    eq8_text,
    focus_facts,
    focus_text,
    folds_text,
    literal_run_facts,
    literal_run_text,
    loop_facts,
    loop_text,
    padding_text,
    paper_vs_run,
    plot_architecture,
    plot_cue_accuracy,
    plot_paired_differences,
    report,  # the README's list of the run's choices (config_choices)
    salient_facts,
    salient_text,
    silhouette,
    silhouette_facts,
    silhouette_text,
    speech_steps_text,
    status_facts,
    status_line,
    store_text,
    table_five_facts,
    table_five_text,
    table_one_facts,
    table_one_text,
    text_steps_text,
)


def _results(ua: dict[str, list[float]], protocol: str = "SesI") -> pd.DataFrame:
    """A tidy results table: one row per variant and fold, UA (fractions) as given, WA equal to UA."""
    rows = [{"protocol": protocol, "variant": v, "fold": f"Session{i + 1}", "fold_index": i, "n_folds": len(vals),
             "wa": x, "ua": x} for v, vals in ua.items() for i, x in enumerate(vals)]
    return pd.DataFrame(rows)


def test_table_five_facts_give_verdicts_from_the_numbers() -> None:
    low = table_five_facts(_results({"text": [0.70, 0.72, 0.71], "tsin": [0.60, 0.62, 0.61]}), "SesI")
    assert low["tsin"] == pytest.approx(61.0) and low["rows"]["text"]["verdict"] == "below"
    assert low["rows"]["text"]["wins"] == 0 and low["rows"]["text"]["n_folds"] == 3
    paper = PAPER_TABLE_FIVE["tsin"]["SesI"][1] - PAPER_TABLE_FIVE["text"]["SesI"][1]  # the paper's TSIN lead, UA
    assert low["rows"]["text"]["paper_diff"] == pytest.approx(paper) and paper > 0
    assert low["ablations_not_beaten"] == ["text"]
    high = table_five_facts(_results({"text": [0.60, 0.62, 0.61], "tsin": [0.70, 0.72, 0.71]}), "SesI")
    assert high["rows"]["text"]["verdict"] == "above" and high["rows"]["text"]["wins"] == 3
    assert high["ablations_not_beaten"] == [] and high["rows"]["text"]["diff"] == pytest.approx(10.0)
    level = table_five_facts(_results({"text": [0.700, 0.701], "tsin": [0.701, 0.700]}), "SesI")
    assert level["rows"]["text"]["verdict"] == "level"
    assert table_five_facts(_results({"text": [0.7]}), "SesI")["tsin"] is None
    both = table_five_facts(_results({"speech": [0.5, 0.5], "text": [0.6, 0.6], "tsin": [0.7, 0.7]}), "SesI")
    assert both["speech_vs_text"]["verdict"] == "below" and both["speech_vs_text"]["diff"] == pytest.approx(-10.0)


def test_table_five_facts_name_the_best_linear_row() -> None:
    f = table_five_facts(_results({"tsin": [0.8, 0.8], "lin_text": [0.75, 0.77], "lin_speech": [0.4, 0.4]}), "SesI")
    assert f["best_linear"]["variant"] == "lin_text" and f["best_linear"]["mean"] == pytest.approx(76.0)
    assert f["best_linear"]["diff"] == pytest.approx(4.0) and f["best_linear"]["verdict"] == "above"
    text = table_five_text(_results({"tsin": [0.8, 0.8], "lin_text": [0.75, 0.77]}), "SesI")
    assert "Linear text 76.0 %" in text and "+4.0 points" in text  # the renderer prints the facts


def _comparison(b: str, mean: float, low: float, high: float, subset: str = "", metric: str = "ua",
                mean_a: float = 70.0) -> dict:
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no measurable difference"
    return {"protocol": "SesI", "a": "tsin", "b": b, "subset": subset, "metric": metric, "mean": mean, "low": low,
            "high": high, "n_units": 15, "method": "t", "verdict": verdict, "mean_a": mean_a, "mean_b": mean_a - mean}


def test_table_five_verdicts_come_from_the_paired_interval_when_given() -> None:
    res = _results({"text": [0.60, 0.61, 0.62], "no_ta": [0.69, 0.70, 0.71], "tsin": [0.70, 0.72, 0.71]})
    plain = table_five_facts(res, "SesI")
    assert plain["rows"]["text"]["verdict"] == "above" and plain["rows"]["no_ta"]["verdict"] == "above"
    comps = pd.DataFrame([_comparison("text", 10.0, 8.0, 12.0), _comparison("no_ta", 1.0, -0.5, 2.5)])
    paired = table_five_facts(res, "SesI", comparisons=comps)
    assert paired["rows"]["text"]["verdict"] == "above" and paired["rows"]["text"]["low"] == 8.0
    assert paired["rows"]["no_ta"]["verdict"] == "level"  # 1 point ahead, but the interval holds 0
    assert paired["ablations_not_beaten"] == ["no_ta"]
    text = table_five_text(res, "SesI", comparisons=comps)
    assert "level with TSI w/o TA" in text and "[-0.5, +2.5]" in text and "paired 95 % interval" in text


def test_cue_and_focus_notes_read_the_paired_intervals() -> None:
    table = pd.DataFrame({"words": [80.0, 85.0], "voice": [60.0, 58.0], "focus": [88.0, 50.0]},
                         index=pd.Index(["tsin", "lin_fusion"], name="variant"))
    comps = pd.DataFrame([
        _comparison("no_ta", 20.0, 12.0, 28.0, "focus", "wa", 88.0),
        _comparison("no_si", 1.0, -3.0, 5.0, "focus", "wa", 88.0),
        _comparison("lin_fusion", 38.0, 30.0, 46.0, "focus", "wa", 88.0),
        _comparison("no_ta", 0.5, -2.0, 3.0, "voice", "wa", 60.0),
        _comparison("no_si", -4.0, -7.0, -1.0, "voice", "wa", 60.0),
    ])
    f = cue_facts(table, comps)
    assert f["paired"]["focus"]["no_ta"]["verdict"] == "above" and f["paired"]["voice"]["no_ta"]["verdict"] == "level"
    note = cue_text(table, comps)
    assert "*focus*: TSIN 88 %" in note and "above TSI w/o TA 68 % (+20.0 [+12.0, +28.0])" in note
    lesson = focus_facts(f["paired"])
    assert lesson["ta"]["reading"] == "pays off where the evidence is local and not where it is global"
    assert lesson["si"]["reading"].startswith("makes no measurable difference")
    assert lesson["baselines"]["lin_fusion"]["other"] == pytest.approx(50.0)
    text = focus_text(f["paired"])
    assert "right in 88 %" in text and "Linear fusion 50 %" in text and "pays off where the evidence is local" in text
    assert "No result" in focus_text({})


def test_paired_difference_plot_has_a_panel_per_cue_and_hollow_level_points() -> None:
    comps = pd.DataFrame([_comparison("no_ta", 20.0, 12.0, 28.0, "focus", "wa"),
                          _comparison("no_si", 1.0, -3.0, 5.0, "focus", "wa"),
                          _comparison("no_ta", 0.5, -2.0, 3.0, "voice", "wa")])
    fig = plot_paired_differences(comps, title="t")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["focus", "voice"]
    assert axes[0].get_xlabel().startswith("TSIN minus model")
    faces = [tuple(c.get_facecolor()[0][:3]) for c in axes[0].collections]
    assert (1.0, 1.0, 1.0) in faces and any(f != (1.0, 1.0, 1.0) for f in faces)  # level: hollow; measured: filled


def test_did_not_train_needs_chance_and_a_flat_loss() -> None:
    flat = [{"epoch": e, "train_loss": 1.37} for e in range(1, 13)]
    falling = [{"epoch": e, "train_loss": 1.37 / e} for e in range(1, 13)]
    assert did_not_train(flat, 0.25)
    assert not did_not_train(falling, 0.25)
    assert not did_not_train(flat, 0.60)


def test_curve_facts_find_the_validation_minimum() -> None:
    val = [0.9, 0.7, 0.5, 0.55, 0.6, 0.7]
    h = pd.DataFrame({"epoch": range(1, 7), "train_loss": np.linspace(1.3, 0.2, 6), "val_loss": val,
                      "val_ua": [0.4, 0.5, 0.6, 0.65, 0.62, 0.61]})
    f = curve_facts(h)
    assert f["verdict"] == "overfitting" and f["best_loss_epoch"] == 3 and f["best_ua_epoch"] == 4
    assert f["scored_epoch"] == 6 and curve_facts(h, "val")["scored_epoch"] == 4
    assert f["best_val_ua"] == pytest.approx(65.0) and f["last_val_ua"] == pytest.approx(61.0)
    confident = h.assign(val_ua=[0.4, 0.5, 0.6, 0.65, 0.64, 0.65])  # loss up, UA not down: no overfitting
    assert curve_facts(confident)["verdict"] == "loss_rose"
    assert "no evidence of overfitting" in curve_text(confident) and "overfitting:" not in curve_text(confident)
    h["val_loss"] = sorted(val, reverse=True)
    assert curve_facts(h)["verdict"] == "still_improving"
    assert curve_facts(h.drop(columns=["val_loss", "val_ua"]))["verdict"] == "no_validation"
    above = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.8, 0.6], "val_loss": [0.9, 0.7, 0.5],
                          "val_ua": [0.5, 0.6, 0.7]})
    assert curve_facts(above)["train_above_val"] == 1.0
    assert "text dropout 0.7, switched off for validation" in curve_text(above, regularised=["text dropout 0.7"])
    assert "lies above" not in curve_text(above.assign(train_loss=[0.5, 0.4, 0.3]))  # below: nothing to explain


def test_test_vs_val_and_literal_run_facts() -> None:
    h = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.3, 0.9], "val_ua": [0.5, 0.8]})
    f = show.test_vs_val_facts(0.7, h, "Group3", 120, "SpkD")
    assert f["verdict"] == "below" and f["diff"] == pytest.approx(-10.0) and f["protocol"] == "SpkD"
    assert show.test_vs_val_facts(0.79, h, "Group3", 120, "SpkD")["verdict"] == "level"
    flat = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.38, 1.38]})
    r = literal_run_facts({"ua": 0.7, "history": h}, {"ua": 0.25, "history": flat})
    assert r["verdict"] == "below" and not r["literal_trained"] and r["diff"] == pytest.approx(-45.0)
    assert literal_run_facts({"ua": 0.7, "history": h}, {"ua": 0.71, "history": h})["verdict"] == "level"
    scores = np.array([[0.5, 0.5], [2.0, -1.0]])
    e = eq8_facts(scores, np.array([[0.5, 0.5], [0.9, 0.1]]))
    assert e["literal_outside"] == 0.5 and e["softmax_outside"] == 0.0 and e["literal_max"] == 2.0
    assert loop_facts(1.0, 1.0)["rel_diff"] == 0.0


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
    for pool, words in (("si", "weighted"), ("both", "mean, and beside it")):
        row = paper_vs_run(TSINConfig.preset("paper", mec_pool=pool)).loc["Eq. 11 pooling over words"]
        assert words in row["this run"] and row["paper"] == "mean (f_mean)" and row["differs"] == "yes"
    row = "Eq. 11: the frames' own summary beside f'"
    assert paper.loc[row, "this run"] == "none" and cpu.loc[row, "differs"] == ""
    for how, words in (("mean", "mean of Eq. 1's outputs"), ("mec", "their own Eq. 11 block")):
        on = paper_vs_run(TSINConfig.preset("paper", mec_speech=how))
        assert words in on.loc[row, "this run"] and on.loc[row, "differs"] == "yes"
        assert row in paper_vs_run(TSINConfig.preset("paper", mec_speech=how), only=["fusion"]).index
        choices = " ".join(report.config_choices(TSINConfig.preset("cpu", mec_speech=how).to_dict()))
        assert "Eq. 1's frame outputs" in choices and ("own Eq. 11 block" in choices) == (how == "mec")
    assert "Eq. 1's frame outputs" not in " ".join(report.config_choices(TSINConfig.preset("cpu").to_dict()))
    row = "Eq. 2 kernels"  # the paper's 1, 3, 5 unless text_kernels says otherwise, in the table and the README's list
    assert paper.loc[row, "this run"] == paper.loc[row, "paper"] == "1, 3, 5" and paper.loc[row, "differs"] == ""
    assert cpu.loc[row, "this run"] == "1" and cpu.loc[row, "differs"] == "yes"
    assert "Eq. 2 with kernel 1 alone" in " ".join(report.config_choices(TSINConfig.preset("cpu").to_dict()))
    assert not any("Eq. 2" in c for c in report.config_choices(TSINConfig.preset("cpu", text_kernels=(1, 3, 5)).to_dict()))
    assert "Eq. 2 with kernels 1, 3 (beyond" in " ".join(report.config_choices(TSINConfig(text_kernels=(1, 3)).to_dict()))
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


def test_alignment_salient_and_result_facts_follow_the_numbers() -> None:
    overall = pd.DataFrame({"mass_in_span": [0.05, 0.3, 0.1], "uniform_share": [0.086, 0.1, 0.1],
                            "ratio": [0.58, 3.0, 1.0]}, index=["tsin", "tsin + alignment loss", "no_ta"])
    a = alignment_facts(overall)
    assert [x["verdict"] for x in a.values()] == ["below", "above", "level"]
    assert a["tsin"]["in_span"] == pytest.approx(5.0)
    assert "ratio 0.58: below chance" in alignment_text(overall)  # the renderer prints the verdict
    assert salient_facts([False] * 9 + [True], [0.14] * 10)["verdict"] == "below"
    assert salient_facts([True] * 5 + [False] * 5, [0.14] * 10) == {"n": 10, "rate": 50.0,
                                                                      "chance": pytest.approx(14.0), "verdict": "above"}
    assert salient_facts([], [])["verdict"] == "n/a"
    cms = {"SesI": np.array([[8, 2, 0, 0], [5, 5, 0, 0], [0, 0, 10, 0], [0, 0, 1, 9]])}
    c = confusion_facts(cms)["SesI"]
    assert (c["best"], c["worst"], c["confused"], c["taken_for"]) == ("sad", "hap", "hap", "ang")
    assert c["confused_share"] == pytest.approx(50.0) and c["best_recall"] == pytest.approx(100.0)
    sil = pd.DataFrame({"protocol": "SesI", "variant": ["speech", "text", "tsin"], "silhouette": [0.1, 0.3, 0.2]})
    assert silhouette_facts(sil)["SesI"]["best"] == "text" and silhouette_facts(sil)["SesI"]["tsin_best"] is False
    f = embeddings_facts({"bert-base-uncased": 70.0, "onehot": 60.0}, {"onehot": (2, 5)},
                         {"text_model": "bert-base-uncased"})
    assert f["best"] == "bert-base-uncased" and f["text_model_best"] is True and f["did_not_train"] == {"onehot": (2, 5)}
    assert embeddings_facts({"onehot": 60.0}, {}, {"text_model": "minilm"})["text_model_best"] is None


def _inputs() -> dict[str, object]:
    """One of every input the notes take, on a tiny made-up run."""
    from types import SimpleNamespace

    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.3, 0.9, 0.7], "val_loss": [1.0, 0.8, 0.9],
                      "val_ua": [0.5, 0.7, 0.6]})
    manifest = pd.DataFrame({"label": ["ang", "hap", "sad", "neu", "neu"]})
    cues = pd.DataFrame({"cue": ["text", "voice", "both", "both"]})
    folds = {"SpkD": [SimpleNamespace(test=[1, 2], val=[3]), SimpleNamespace(test=[4], val=[5, 6])]}
    cue_table = pd.DataFrame({"words": [40.0, 90.0, 85.0], "voice": [80.0, 30.0, 50.0], "both": [90.0, 90.0, 95.0],
                              "all": [70.0, 70.0, 77.0]}, index=["speech", "text", "tsin"])
    return {"h": h, "manifest": manifest, "cues": cues, "folds": folds, "cue_table": cue_table}


def test_every_note_names_only_the_runs_own_settings() -> None:
    """With non-default settings (the paper preset, IEMOCAP, SpkD, BERT), no note says a default-only word."""
    run = {"corpus": "/data/IEMOCAP_full_release", "preset": "paper", "epochs": 80, "seed": 1,
           "text_model": "bert-base-uncased"}
    cfg = TSINConfig.preset("paper")
    x = _inputs()
    h = x["h"]
    results = _results({"speech": [0.6, 0.62], "text": [0.7, 0.71], "no_ta": [0.72, 0.7], "no_si": [0.7, 0.7],
                        "tsin": [0.73, 0.74], "lin_fusion": [0.6, 0.6]}, "SpkD").assign(fold=lambda d: "Group" + d["fold"].str[-1])
    overall = pd.DataFrame({"mass_in_span": [0.2], "uniform_share": [0.1], "ratio": [2.0]}, index=["tsin"])
    sil = pd.DataFrame({"protocol": "SpkD", "variant": ["speech", "text", "tsin"], "silhouette": [0.1, 0.3, 0.2]})
    literal = np.array([[0.5, 0.5], [2.0, -1.0]])
    notes = [
        status_line(pd.DataFrame({"status": ["trained"], "wall_s": [3.0]}), "/runs/paper_e80"),
        curve_text(h, "last"), curve_text(h, "val"), loop_text(1.2, 1.2),
        show.test_vs_val_text(0.7, h, "Group3", 120, "SpkD"),
        table_one_text(table_one(results), run), table_five_text(results, "SpkD"),
        embeddings_text({"bert-base-uncased": 70.0, "onehot": 60.0}, {"onehot": (1, 10)}, run),
        silhouette_text(sil), confusion_text({"SpkD (10 folds)": np.eye(4) * 5 + 1}),
        alignment_text(overall), salient_text([True, False], [0.2, 0.2]), cue_text(x["cue_table"]),
        eq8_text(literal, np.full_like(literal, 0.5)),
        literal_run_text({"ua": 0.7, "history": h}, {"ua": 0.6, "history": h}),
        dataset_text(x["manifest"]), cue_share_text(x["cues"]), folds_text(x["folds"]),
        speech_steps_text(48000, 300, cfg), text_steps_text(5, 7, 1, 768), store_text(100, 3, 4, cfg),
        padding_text(300, cfg), padding_text(900, cfg),
    ]
    defaults = ("synthetic", "embedded", "cpu", "minilm", "SesI", "Session", "24 epochs", "1000 utterances")
    for text in notes:
        assert text and text.count(". ") + text.count(".\n") <= 8, text
        for word in defaults:
            assert word.lower() not in text.lower(), (word, text)
    assert "IEMOCAP_full_release" in notes[5] and "bert-base-uncased" in notes[7]


def test_noise_on_the_word_vectors_is_named_where_the_run_describes_itself() -> None:
    row = "noise on the word vectors (training)"
    for preset in ("paper", "cpu"):
        off = paper_vs_run(TSINConfig.preset(preset))
        assert off.loc[row, "this run"] == "none" and off.loc[row, "differs"] == ""
        assert "RMS" not in " ".join(report.config_choices(TSINConfig.preset(preset).to_dict()))
    on = paper_vs_run(TSINConfig.preset("cpu", text_noise=1.0), only=["training"])
    assert on.loc[row, "this run"] == "Gaussian, 1 x each word vector's RMS" and on.loc[row, "differs"] == "yes"
    choices = " ".join(report.config_choices(TSINConfig.preset("cpu", text_noise=1.0).to_dict()))
    assert "Gaussian noise of 1 x each word vector's RMS" in choices
