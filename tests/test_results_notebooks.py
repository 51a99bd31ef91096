"""The helpers behind notebooks 07-10: embedding figures, silhouettes and confusions over folds, alignment rows and
their tables, the example utterance, the cue metadata, and the Workbook calls that read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

import tsin_nb.runs
import tsin_nb.show.diagnostics as diagnostics
from tsin_nb.show import (
    PRIOR_ONLY_ROW,
    AlignmentRecord,
    AlignmentRows,
    alignment_quality,
    cue_examples,
    embedding_figures,
    misplaced_text,
    pick_example,
    plot_alignment_record,
    silhouette_summary,
    summed_confusions,
)
from tsin_nb.workbook import Workbook, Workspace


def _record(utt: str, label: str = "ang", pred: str = "ang", n_words: int = 5, spans: bool = True,
            inside: bool = True) -> AlignmentRecord:
    """An utterance of ``n_words`` words of 4 frames each; each word attends to its own span (``inside``) or to
    the frames of the next word."""
    n = 4 * n_words
    align = np.zeros((n_words, n), dtype=np.float32)
    for j in range(n_words):
        k = j if inside else (j + 1) % n_words
        align[j, 4 * k:4 * k + 4] = 0.25
    return AlignmentRecord(utt_id=utt, spectrogram=np.zeros((3, n), np.float32), words=[f"w{j}" for j in range(n_words)],
                           word_frames=[(4 * j, 4 * j + 4) for j in range(n_words)] if spans else None,
                           alignment=align, speech_weights=np.ones(n_words) / n_words,
                           text_weights=np.arange(n_words, dtype=float), label=label, pred=pred)


def _meta() -> pd.DataFrame:
    return pd.DataFrame({"utt_id": ["a", "b", "c", "d"], "cue": ["text", "focus", "focus", "none"],
                         "salient_index": [1, 2, 7, 0], "salient_word": ["w1", "w2", "w7", "w0"],
                         "other_index": ["", "0", "1", ""], "other_word": ["", "w0", "w1", ""],
                         "label_code": ["ang", "hap", "sad", "neu"], "text": ["t"] * 4}).set_index("utt_id")


# ----------------------------------------------------------------------------------------------- 09: alignment rows


def test_alignment_rows_overview_scores_each_row_and_leaves_untrained_accuracy_out() -> None:
    good = [_record("a"), _record("b", pred="sad")]
    bad = [_record("a", inside=False), _record("b", inside=False)]
    rows = AlignmentRows({"tsin": good, "no_ta": bad, PRIOR_ONLY_ROW: bad}, frozenset({PRIOR_ONLY_ROW}))
    assert rows.first is good
    overall = rows.overview()
    assert list(overall.index) == ["tsin", "no_ta", PRIOR_ONLY_ROW]
    assert overall.loc["tsin", "mass_in_span"] == pytest.approx(1.0)
    assert overall.loc["no_ta", "mass_in_span"] == pytest.approx(0.0)
    assert overall.loc["tsin", "ratio"] == pytest.approx(5.0)  # each span is a fifth of the utterance
    assert overall.loc["tsin", "accuracy %"] == pytest.approx(50.0)
    assert np.isnan(overall.loc[PRIOR_ONLY_ROW, "accuracy %"])
    assert overall["n_words"].tolist() == [10, 10, 10]
    pd.testing.assert_series_equal(overall.loc["tsin", ["mass_in_span", "uniform_share", "ratio"]].astype(float),
                                   alignment_quality(good).loc["overall", ["mass_in_span", "uniform_share", "ratio"]],
                                   check_names=False)
    only_a = rows.overview(ids={"a"})
    assert only_a.loc["tsin", "accuracy %"] == 100.0 and only_a.loc["tsin", "n_words"] == 5
    assert rows.overview(ids={"zzz"}) is None and rows.overview(ids=set()) is None
    assert set(rows.quality()) == set(rows.records)


# ----------------------------------------------------------------------------------------- 09-10: example utterance


def test_pick_example_prefers_a_correct_timed_utterance_and_names_its_words() -> None:
    records = [_record("d", pred="sad"), _record("a", n_words=3), _record("b", spans=False), _record("c", n_words=6)]
    ex = pick_example(records)  # no metadata: first correct one with timings and five words or more
    assert ex.record.utt_id == "c" and ex.salient == 0 and ex.other is None and ex.pool == records
    assert ex.description == "c: label ang, predicted ang"
    assert pick_example(records, example="d").record.utt_id == "d"
    ex = pick_example(records, _meta(), "", cue="focus")
    assert [r.utt_id for r in ex.pool] == ["b", "c"] and ex.record.utt_id == "c"
    assert (ex.salient, ex.other) == (7, 1)
    assert "emphasised word 'w7' (index 7), other candidate 'w1' (index 1)" in ex.description
    assert ex.description.endswith("the model sees only the first 6 words")
    assert pick_example(records, _meta(), "a").salient == 1
    with pytest.raises(ValueError, match="focus"):
        pick_example(records, None, cue="focus")


def test_example_picture_selects_the_salient_word_clipped_to_the_words_seen() -> None:
    ex = pick_example([_record("c", n_words=6)], _meta(), cue="focus")
    fig = ex.plot()
    assert isinstance(fig, Figure) and "correct" in fig._suptitle.get_text()
    assert isinstance(plot_alignment_record(_record("x", n_words=2), selected_word=9), Figure)
    assert isinstance(plot_alignment_record(_record("x", n_words=2), selected_word=None), Figure)


# -------------------------------------------------------------------------------------- 07-08: over folds and files


def test_summed_confusions_add_the_folds_and_check_the_counts(monkeypatch) -> None:
    folds = [{"confusion": [[2, 1], [0, 3]], "n_test": 6}, {"confusion": [[1, 0], [1, 1]], "n_test": 3}]
    monkeypatch.setattr(tsin_nb.runs, "load_metrics", lambda out, protocol, variant: folds)
    cms = summed_confusions("out", "SesI,SpkI")
    assert list(cms) == ["SesI (2 folds)", "SpkI (2 folds)"]
    np.testing.assert_array_equal(cms["SesI (2 folds)"], [[3, 1], [1, 4]])
    assert list(summed_confusions("out", ["SesI"], folds=1)) == ["SesI (1 fold)"]
    monkeypatch.setattr(tsin_nb.runs, "load_metrics", lambda out, protocol, variant: [{**folds[0], "n_test": 7}])
    with pytest.raises(ValueError, match="do not add up"):
        summed_confusions("out", "SesI")
    monkeypatch.setattr(tsin_nb.runs, "load_metrics", lambda out, protocol, variant: [])
    with pytest.raises(FileNotFoundError):
        summed_confusions("out", "SesI")


def test_silhouette_summary_keeps_the_folds_every_model_finished(monkeypatch) -> None:
    per_fold = pd.DataFrame({"protocol": ["SesI"] * 5, "variant": ["speech", "tsin", "speech", "tsin", "speech"],
                             "fold": ["S1", "S1", "S2", "S2", "S3"], "silhouette": [0.1, 0.3, 0.2, 0.5, -0.9]})
    monkeypatch.setattr(diagnostics, "embedding_silhouettes", lambda out, protocols, variants: per_fold)
    table = silhouette_summary("out", "SesI", ("speech", "tsin")).set_index("variant")
    assert table.loc["speech", "folds"] == 2 and table.loc["speech", "silhouette"] == pytest.approx(0.15)
    assert table.loc["tsin", "silhouette"] == pytest.approx(0.4)


def test_embedding_figures_draw_and_save_one_figure_per_method_and_protocol(monkeypatch, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    out = {"embeddings": rng.normal(size=(12, 5)), "labels": np.arange(12) % 4}
    seen = []
    monkeypatch.setattr(tsin_nb.runs, "load_outputs", lambda d, p, v, f: seen.append((p, v, f)) or out)
    figs = embedding_figures("out", "SesI,SpkD", ("speech", "tsin"), 1, tmp_path, methods=("tsne",))
    assert list(figs) == ["fig5_tsne_SesI", "fig7_tsne_SpkD"]
    assert all(isinstance(f, Figure) for f in figs.values())
    assert {p.name for p in tmp_path.iterdir()} == {f"{n}.{e}" for n in figs for e in ("png", "pdf")}
    assert seen == [("SesI", "speech", 1), ("SesI", "tsin", 1), ("SpkD", "speech", 1), ("SpkD", "tsin", 1)]
    assert "fold 2" in figs["fig5_tsne_SesI"]._suptitle.get_text()


# -------------------------------------------------------------------------------------------- 10: cues and misses


def test_cue_examples_and_misplaced_text(tmp_path: Path) -> None:
    assert cue_examples(tmp_path) is None and cue_examples(tmp_path / "x.csv") is None
    _meta().reset_index().to_csv(tmp_path / "synthetic_meta.csv", index=False)
    ex = cue_examples(tmp_path)
    assert list(ex.index) == ["a", "b"] and list(ex["cue"]) == ["text", "focus"]  # "none" is no cue
    assert ex.loc["b", "other_word"] == "w0" and ex.loc["a", "other_word"] == ""
    misses = pd.DataFrame({"misplaced": [True, False, True, True], "inside": [0.1, 0.9, 0.2, 0.0]})
    assert misplaced_text(misses).startswith("equal segments put most of the emphasised word under another word in "
                                             "75.0 % of 4 focus utterances (mean share of its frames in its own "
                                             "segment 30 %)")
    assert "candidate" not in misplaced_text(misses)
    misses["under_other"] = [0.6, 0.0, 0.2, float("nan")]  # the last one has no other candidate
    assert misplaced_text(misses).endswith("; under the other candidate's segment in 33.3 % (any of its frames: "
                                           "66.7 %)")
    assert "no focus utterance" in misplaced_text(misses.iloc[:0])


def test_workbook_reads_the_cue_metadata_and_saves_figures(tmp_path: Path) -> None:
    ws = Workspace(build=tmp_path / "build", figures=tmp_path / "figures", device=torch.device("cpu"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    wb = Workbook(ws, corpus=str(corpus))
    assert wb.cue_meta() is None and wb.cues() is None and wb.cue_utterances("focus") == set()
    _meta().reset_index().to_csv(corpus / "synthetic_meta.csv", index=False)
    meta = wb.cue_meta()
    assert meta.loc["a", "other_index"] == "" and int(meta.loc["b", "other_index"]) == 0  # empty cells stay empty
    assert wb.cue_utterances("focus") == {"b", "c"} and set(wb.cues()["cue"]) == {"text", "focus"}
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    assert wb.save_figure(fig, "x") is fig
    assert (ws.figures / "x.png").is_file() and (ws.figures / "x.pdf").is_file()
