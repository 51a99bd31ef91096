"""What notebook 03 (the TSIN equations) calls beyond the model: the Eq. 8 training note read from fold folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tsin_nb.show import literal_run_text


def _fold(folder: Path, ua: float, losses: list[float]) -> Path:
    """A finished fold folder as ``run_experiment`` writes it: metrics.json and history.csv (what the note reads)."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"ua": ua, "wa": ua, "fold": folder.name}))
    pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": losses}).to_csv(folder / "history.csv", index=False)
    return folder


def test_literal_run_note_reads_fold_folders_as_it_reads_mappings(tmp_path: Path) -> None:
    soft = _fold(tmp_path / "softmax" / "Session1", 0.7, [1.3, 0.9])
    flat = _fold(tmp_path / "literal" / "Session1", 0.25, [1.38, 1.38])
    as_mapping = literal_run_text({"ua": 0.7, "history": pd.read_csv(soft / "history.csv")},
                                  {"ua": 0.25, "history": pd.read_csv(flat / "history.csv")})
    assert literal_run_text(soft, str(flat)) == as_mapping  # a Path or a str
    assert "softmax test UA 70.0 %" in as_mapping and "literal 25.0 %" in as_mapping
    assert "did not train" in as_mapping and "1.300 -> 0.900" in as_mapping
    trained = _fold(tmp_path / "literal2" / "Session1", 0.71, [1.3, 0.9])
    assert literal_run_text(soft, trained).endswith("The literal form trained.")


def test_literal_run_note_needs_a_finished_fold(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        literal_run_text(tmp_path / "missing", tmp_path / "missing")
