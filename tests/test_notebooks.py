"""The notebooks: committed clean, one `parameters` cell each, and all of them run headless (smoke values)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from tsin_nb import reproduce as rp

NOTEBOOKS = sorted(rp.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
PAPER_PART = re.compile(r"(Section [IVX]+|Eqs?\. ?\d+|Table [IVX]+|Figs?\. ?\d+)")


def test_every_expected_notebook_exists() -> None:
    assert [p.stem for p in NOTEBOOKS] == list(rp.EXPECTED_FIGURES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_parameterised(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and PAPER_PART.search(first.source), "first cell names the paper part"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert tagged == [1], "cell 2, and only cell 2, is tagged parameters"
    assert "paper" in second.source, "parameters are commented with the paper's values"
    assert all(re.match(r"^\w+ = [^=]*#", line) for line in second.source.splitlines() if line.strip())
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "notebooks are committed without outputs"
    assert "/work/" not in json.dumps(nb) and "/home/" not in json.dumps(nb), "no absolute paths"


def test_reproduce_names_the_failing_notebook_and_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# broken"), nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "00_broken.ipynb")
    monkeypatch.setattr(rp, "NOTEBOOKS", tmp_path / "nbs")
    code = rp.reproduce(build_dir=tmp_path / "build", fig_dir=tmp_path / "figures")
    err = capsys.readouterr().err
    assert code == 1
    assert "00_broken.ipynb" in err and "cell 2" in err and "boom" in err


@pytest.mark.slow
def test_every_notebook_runs_with_smoke_values_and_writes_its_figures(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    code = rp.reproduce(params_file=rp.NOTEBOOKS / "smoke.yaml", build_dir=tmp_path / "build", fig_dir=figures)
    assert code == 0
    missing = [f"{name}.{ext}" for names in rp.EXPECTED_FIGURES.values() for name in names
               for ext in ("png", "pdf") if not (figures / f"{name}.{ext}").is_file()]
    assert not missing, f"figures not written: {missing}"
    executed = tmp_path / "build" / "notebooks"
    assert sorted(p.name for p in executed.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
