"""The package functions notebooks 04-06 call: the first epoch of fit, the regularisation a note names, Table I's
bars, Table V's frames for its figure and record, and Fig. 4's runs over word embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_train import CFG, make_fold, make_store

from tsin_nb.core import EMOTIONS, TSINConfig, set_seed
from tsin_nb.model import build_model
from tsin_nb.runs import (
    compare_each,
    embedding_means,
    mean_intervals,
    table_five,
    table_five_bars,
    table_five_record,
    table_one,
    train_embeddings,
)
from tsin_nb.show import did_not_train, plot_table_one, regularisation
from tsin_nb.train import autocast, first_epoch_of_fit, fit

FOLDS = ("Session1", "Session2")
LABELS = [e for e in EMOTIONS for _ in range(2)]  # 8 test utterances per fold: UA = WA = correct / 8


def test_first_epoch_of_fit_is_fits_first_epoch_from_a_fresh_seed() -> None:
    store = make_store()
    fold = make_fold(store)
    got = first_epoch_of_fit(CFG, "tsin", store, fold, "cpu")
    set_seed(CFG.seed)
    want = fit(build_model(CFG, "tsin"), store, fold, CFG.replace(epochs=1), device="cpu", progress=False,
               log=None).history[0]["train_loss"]
    assert got == pytest.approx(want, rel=1e-6)
    other = first_epoch_of_fit(CFG.replace(seed=CFG.seed + 1), "tsin", store, fold, "cpu")
    assert other != pytest.approx(got, rel=1e-6)  # the seed decides the weights and the batch order


def test_autocast_is_plain_fp32_off_cuda() -> None:
    with autocast(torch.device("cpu")):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_regularisation_names_what_is_on_only_while_training() -> None:
    cfg = TSINConfig.preset("tiny", classifier_dropout=0.1, text_dropout=0.7)
    assert regularisation(cfg, "tsin") == ["dropout 0.1", "text dropout 0.7"]
    assert regularisation(cfg, "text") == ["dropout 0.1"]  # text dropout only in the fused variants
    assert regularisation(TSINConfig.preset("tiny", classifier_dropout=0.0, text_dropout=0.0), "tsin") == []


def _tidy(ua: dict[str, list[float]], protocol: str) -> pd.DataFrame:
    return pd.DataFrame([{"protocol": protocol, "variant": v, "fold": f"Session{i + 1}", "fold_index": i,
                          "n_folds": len(vals), "wa": x, "ua": x}
                         for v, vals in ua.items() for i, x in enumerate(vals)])


def test_plot_table_one_draws_our_bars_and_the_papers_diamonds() -> None:
    t1 = table_one(_tidy({"tsin": [0.7, 0.8]}, "SesI"))
    fig = plot_table_one(t1)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert {70.0, 80.0} <= set(heights)  # ours, in %
    paper = [c for c in ax.collections if c.get_gid() == "paper"]
    assert paper and 76.1 in np.round(np.concatenate([c.get_offsets()[:, 1] for c in paper]), 1)


def _write_fold(out: Path, variant: str, fold: str, correct: int, seed: int, protocol: str = "SesI") -> Path:
    folder = out / protocol / variant / fold
    folder.mkdir(parents=True)
    preds = [y if i < correct else EMOTIONS[(EMOTIONS.index(y) + 1) % 4] for i, y in enumerate(LABELS)]
    ids = [f"{fold}_u{i}" for i in range(len(LABELS))]
    pd.DataFrame({"utt_id": ids, "label": LABELS, "pred": preds}).to_csv(folder / "predictions.csv", index=False)
    metrics = {"protocol": protocol, "variant": variant, "fold": fold, "fold_index": FOLDS.index(fold), "seed": seed,
               "wa": correct / 8, "ua": correct / 8, "n_test": 8, "n_folds": len(FOLDS)}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "DONE").write_text("")
    return folder


def _seed_folders(root: Path, correct: dict[str, list[list[int]]]) -> tuple[list[Path], pd.DataFrame]:
    outs, rows = [], []
    for seed in range(len(next(iter(correct.values())))):
        out = root / f"seed{seed}"
        for variant, per_seed in correct.items():
            for f, fold in enumerate(FOLDS):
                _write_fold(out, variant, fold, per_seed[seed][f], seed)
                rows.append({"protocol": "SesI", "variant": variant, "fold": fold, "fold_index": f,
                             "n_folds": len(FOLDS), "seed": seed, "wa": per_seed[seed][f] / 8,
                             "ua": per_seed[seed][f] / 8})
        outs.append(out)
    return outs, pd.DataFrame(rows)


def test_table_five_frames_hold_the_means_the_papers_values_and_the_half_widths(tmp_path: Path) -> None:
    runs, results = _seed_folders(tmp_path, {"tsin": [[7, 6], [6, 8]], "text": [[5, 4], [4, 5]]})
    t5 = table_five(results)
    ours, paper, err = table_five_bars(t5, runs, "SesI", "speech,text,tsin")
    assert list(ours.index) == list(paper.index) == list(err.index) and len(ours) == 2
    assert set(paper.columns.get_level_values(1)) == {"WA", "UA"}
    half = mean_intervals(runs, "SesI", ["tsin"], metric="ua").set_index("variant").loc["tsin", "half_width"]
    tsin_row = next(r for r in ours.index if "TSIN" in str(r))
    assert err.loc[tsin_row, ("SesI", "UA")] == pytest.approx(half) and half > 0
    assert paper.loc[tsin_row].notna().all()  # the paper reports TSIN under SesI

    comparisons, means = table_five_record(runs, "SesI", ["tsin", "text"])
    want = compare_each(runs, "SesI", "tsin", ["tsin", "text"], metric="ua")
    assert list(comparisons["metric"]) == ["ua", "wa"]
    assert comparisons.loc[0, "mean"] == pytest.approx(want.loc[0, "mean"])
    assert len(means) == 4 and set(means["metric"]) == {"wa", "ua"} and set(means["protocol"]) == {"SesI"}


class _FakeWorkbook:
    """``train_many`` writes one finished fold per (kind, fold) of each run and returns the runs' results in order;
    the onehot run stays flat."""

    def __init__(self, root: Path) -> None:
        self.root, self.cfg, self.calls, self.batches = root, TSINConfig.preset("tiny", text_model="minilm"), [], []

    def results_for(self, tag: str = "") -> Path:
        return self.root / (tag or "own")

    def train(self, variants: str, protocols: str = "SesI", folds: int | None = None, tag: str = "",
              text_model: str | None = None) -> pd.DataFrame:
        self.calls.append((text_model, tag))
        flat = text_model == "onehot"
        rows = []
        for f, fold in enumerate(FOLDS):
            correct = 2 if flat else 6 + f
            folder = _write_fold(self.results_for(tag), "tsin", fold, correct, 0)
            loss = [1.386, 1.385] if flat else [1.3, 0.6]
            pd.DataFrame({"epoch": [1, 2], "train_loss": loss}).to_csv(folder / "history.csv", index=False)
            rows.append({"protocol": "SesI", "variant": "tsin", "fold": fold, "wa": correct / 8, "ua": correct / 8})
        return pd.DataFrame(rows)

    def train_many(self, runs: list[dict]) -> list[pd.DataFrame]:
        self.batches.append(len(runs))
        return [self.train(**run) for run in runs]


def test_train_embeddings_tags_each_kind_and_marks_the_runs_that_did_not_train(tmp_path: Path) -> None:
    wb = _FakeWorkbook(tmp_path)
    fig4, failed = train_embeddings(wb, "minilm,onehot", "", "SesI", 0, did_not_train)
    assert wb.calls == [("minilm", ""), ("onehot", "onehot")]  # the run's own text model keeps the run's folder
    assert wb.batches == [2]  # every kind's folds in one set of jobs
    assert failed == {"minilm": (0, 2), "onehot": (2, 2)}
    assert list(fig4.columns) == ["embedding", "protocol", "metric", "value"]
    ua = fig4[fig4["metric"] == "UA"].set_index("embedding")["value"]
    assert ua["minilm"] == pytest.approx(100 * (6 + 7) / 16) and ua["onehot (did not train)"] == pytest.approx(25.0)
    assert embedding_means(fig4) == pytest.approx({"minilm": 81.25, "onehot": 25.0})
    assert embedding_means(fig4.iloc[:0]) == {}
