"""The run's summary: what notebooks record, the run id in every figure, and the README generated from it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tsin_nb.runs import EXPECTED_FIGURES, NOTEBOOKS, REPO, RUN_ENV, load_summary, record, summary_path
from tsin_nb.runs import summary as S
from tsin_nb.show import (
    RESULTS_BEGIN,
    RESULTS_END,
    figure_run,
    readme_section,
    results_markdown,
    save_figure,
    update_readme,
)

FIGURES = REPO / "figures"


def _start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    run = S.start_run(tmp_path, {"epochs": 2, "build_dir": "x"}, REPO)
    monkeypatch.setenv(RUN_ENV, run)
    return run


def test_a_full_run_starts_a_new_summary_and_only_its_kernels_record(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_ENV, raising=False)
    summary_path(tmp_path).parent.mkdir(parents=True)
    summary_path(tmp_path).write_text(json.dumps({"run": {"id": "old", "notebooks": {}}, "table_five": {"x": 1}}))
    assert not record(tmp_path, "table_one", {"a": 1})  # a notebook run by hand writes nothing
    run = _start(tmp_path, monkeypatch)
    data = load_summary(summary_path(tmp_path))
    assert data["run"]["id"] == run != "old" and "table_five" not in data  # nothing of the earlier run survives
    assert data["run"]["params"] == {"epochs": 2} and data["run"]["torch"] and data["run"]["cpu"]["cores"]
    assert record(tmp_path, "table_one", {"ua": np.float32(0.5), "n": np.int64(3), "gap": float("nan"),
                                          "frame": pd.DataFrame({"v": ["a"], "x": [np.nan]}), "t": (1, 2)})
    got = load_summary(summary_path(tmp_path))["table_one"]
    assert got == {"ua": 0.5, "n": 3, "gap": None, "frame": [{"v": "a", "x": None}], "t": [1, 2]}
    monkeypatch.setenv(RUN_ENV, "another")  # a kernel of another run may not write into this one's summary
    assert not record(tmp_path, "table_one", {"a": 2})
    assert load_summary(summary_path(tmp_path))["table_one"]["n"] == 3


def test_a_partial_run_keeps_the_summary_and_says_what_ran_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = _start(tmp_path, monkeypatch)
    S.finish_notebook(tmp_path, "00_a", 1.25)
    S.finish_run(tmp_path, 5.0, ok=True, fig_dir=tmp_path / "figs")
    assert S.start_run(tmp_path, {}, REPO, only="06") == run
    data = load_summary(summary_path(tmp_path))
    assert data["run"]["notebooks"] == {"00_a": 1.2} and data["run"]["reran"][0]["only"] == "06"
    S.finish_run(tmp_path, 2.0, ok=True)
    data = load_summary(summary_path(tmp_path))
    assert data["run"]["wall_s"] == 5.0 and data["run"]["rerun_wall_s"] == 2.0 and not data["run"]["complete"]
    assert load_summary(tmp_path / "figs" / "summary.json")["run"]["complete"]  # the copy beside the figures


def test_load_summary_names_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tsin-nb reproduce"):
        load_summary(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a run summary"):
        load_summary(tmp_path / "x.json")


def test_figures_carry_the_run_id_only_when_a_run_draws_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    monkeypatch.delenv(RUN_ENV, raising=False)
    png, pdf = save_figure(fig, "plain", tmp_path)
    assert figure_run(png) is None and figure_run(pdf) is None
    monkeypatch.setenv(RUN_ENV, "0123abcd4567")
    png, pdf = save_figure(fig, "stamped", tmp_path)
    assert figure_run(png) == "0123abcd4567" == figure_run(pdf)
    again = save_figure(fig, "again", tmp_path)[1]
    assert again.read_bytes() == pdf.read_bytes()  # no timestamp: one run's figures are reproducible


def _summary() -> dict:
    """A small hand-made summary of every section the README reads."""
    settings = {"corpus": "embedded synthetic corpus, 40 utterances", "preset": "cpu", "epochs": 2, "seed": 0,
                "text_model": "minilm"}
    cfg = {"d_model": 48, "d_fusion": 48, "batch_size": 64, "epochs": 2, "lr": 0.003, "lr_step": 0, "lr_gamma": 0.1,
           "select": "last", "text_model": "minilm", "speech_norm": "fold", "trim_db": 0, "speech_stride": 10,
           "speech_pool": "mean", "si_scale": "mean", "si_pairing": "prose", "align_prior": 0.0, "align_pos": 0,
           "align_loss": 0.0, "text_dropout": 0.0}
    means = [{"protocol": "SesI", "metric": m, "variant": v, "mean": x, "half_width": 1.25, "n_units": 4}
             for m in ("wa", "ua") for v, x in (("text", 61.0), ("tsin", 70.0))]
    comps = [{"protocol": "SesI", "a": "tsin", "b": "text", "subset": "", "metric": "ua", "mean": 9.0, "low": 7.5,
              "high": 10.5, "n_units": 4, "method": "t", "verdict": "above", "mean_a": 70.0, "mean_b": 61.0}]
    return {
        "run": {"id": "abc123def456", "cpu": {"model": "Some CPU", "cores": 2, "avx512": True}, "torch": "2.13.0",
                "python": "3.11", "notebooks": {"06_ablations": 61.0}, "wall_s": 125.0, "commit": "f" * 40},
        "corpus": {"settings": settings, "utterances": 40, "cues": {"text": 10, "voice": 10, "both": 10, "focus": 10}},
        "table_one": {"settings": settings, "config": cfg, "note": "n1",
                      "table": [{"protocol": "SesI", "test set": "Mean", "WA": 70.0, "UA": 70.5, "paper WA": 74.9,
                                 "paper UA": 76.6}]},
        "table_five": {"settings": settings, "seeds": 2, "means": means, "comparisons": comps,
                       "notes": {"SesI": "**What this shows** TSIN note."}},
        "cues": {"settings": settings, "protocol": "SesI", "seeds": 2, "note": "cue note",
                 "mean": [{"variant": "tsin", "words": 90.0, "focus": 60.0, "all": 70.0}],
                 "half_width": [{"variant": "tsin", "words": 2.0, "focus": 5.0, "all": 1.0}], "comparisons": comps},
        "focus": {"settings": settings, "focus_utterances": 10, "misplaced_pct": 60.0, "note": "focus note"},
    }


def test_the_results_section_is_rendered_from_the_summary() -> None:
    md = results_markdown(_summary())
    assert "run `abc123def456`" in md and "2 min 5 s" in md and "with AVX-512" in md and "commit `fffffff`" in md
    assert "SesI 70.0 / 70.5 (paper 74.9 / 76.6)" in md
    assert "| 61.0 / 61.0 ± 1.2 | 70.0 / 70.0 ± 1.2 |" in md  # Table V: WA / UA ± the UA's half-width
    assert "| +9.0 [+7.5, +10.5] |" in md and "**What this shows** TSIN note." in md
    assert "| TSIN | 90.0 ± 2.0 | 60.0 ± 5.0 | 70.0 ± 1.0 |" in md and "cue note" in md and "focus note" in md
    assert "60.0 % of the 10 `focus` utterances" in md
    assert "trimmed" not in md and "pooled to their mean before" in md  # only the run's own choices are named
    assert "Eq. 11" not in md  # a config written before mec_pool existed pools with the mean, as the paper does
    for pool, words in (("si", "Eq. 11's mean over the words replaced by a sum weighted"),
                        ("both", "Eq. 11's mean over the words and, beside it, their sum weighted")):
        pooled = _summary()
        pooled["table_one"]["config"]["mec_pool"] = pool
        assert words in results_markdown(pooled)
    changed = _summary()
    changed["table_five"]["means"][3]["mean"] = 71.0
    assert results_markdown(changed) != md


def test_update_readme_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nabove\n\n{RESULTS_BEGIN}\nold numbers\n{RESULTS_END}\n\nbelow\n")
    assert update_readme(readme, _summary())
    text = readme.read_text()
    assert text.startswith("# Title\n\nabove\n\n") and text.endswith(f"{RESULTS_END}\n\nbelow\n") and "old numbers" not in text
    assert readme_section(text) == results_markdown(_summary())
    assert not update_readme(readme, _summary())  # a second run changes nothing
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="results: begin"):
        update_readme(readme, _summary())


def test_report_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tsin_nb.cli import main

    (tmp_path / "summary.json").write_text(json.dumps(_summary()))
    (tmp_path / "README.md").write_text(f"{RESULTS_BEGIN}\n{RESULTS_END}\n")
    args = ["report", "--summary", str(tmp_path / "summary.json"), "--readme", str(tmp_path / "README.md")]
    assert main([*args, "--check"]) == 1 and "differ" in capsys.readouterr().err
    assert main(args) == 0 and "rewritten" in capsys.readouterr().out
    assert main([*args, "--check"]) == 0 and "match" in capsys.readouterr().out
    assert main(["report", "--summary", str(tmp_path / "nope.json"), "--readme", str(tmp_path / "README.md")]) == 2
    assert "no run summary" in capsys.readouterr().err


def test_committed_readme_summary_and_figures_come_from_one_run() -> None:
    summary = load_summary(FIGURES / "summary.json")
    run = summary["run"]
    assert run.get("complete"), "figures/summary.json is not from a finished run of every notebook"
    assert run["cpu"]["model"] and run["torch"] and run["wall_s"] > 0
    assert sorted(run["notebooks"]) == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert readme_section((REPO / "README.md").read_text()) == results_markdown(summary), \
        "README results differ from figures/summary.json: run `tsin-nb report`"
    expected = {f"{n}.{ext}" for names in EXPECTED_FIGURES.values() for n in names for ext in ("png", "pdf")}
    other = {p.name: figure_run(p) for p in FIGURES.iterdir() if p.name in expected}
    assert set(other) == expected
    assert {k: v for k, v in other.items() if v != run["id"]} == {}, "figures from another run than the summary"
    for section in ("table_one", "table_five", "cues", "alignment"):
        assert section in summary, f"the run recorded no {section}"
    assert not math.isnan(summary["table_five"]["means"][0]["mean"])
