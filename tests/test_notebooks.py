"""The notebooks: committed clean, one `parameters` cell each, and all of them run headless (smoke values)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import nbformat
import pytest

from tsin_nb.runs import EXPECTED_FIGURES, REPO, reproduce
from tsin_nb.runs import reproduction as rp

NOTEBOOKS = sorted(rp.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
PAPER_PART = re.compile(r"(Section [IVX]+|Eqs?\. ?\d+|Table [IVX]+|Figs?\. ?\d+)")


def test_every_expected_notebook_exists() -> None:
    assert [p.stem for p in NOTEBOOKS] == list(EXPECTED_FIGURES)


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
    code = reproduce(build_dir=tmp_path / "build", fig_dir=tmp_path / "figures")
    err = capsys.readouterr().err
    assert code == 1
    assert "00_broken.ipynb" in err and "cell 2" in err and "boom" in err


def test_reproduce_prints_one_line_per_notebook_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), nbformat.v4.new_code_cell("n = 3", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from tsin_nb.core import show_progress\nassert not show_progress()\nprint(n)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    for name in ("00_tiny", "01_other"):
        nbformat.write(nb, tmp_path / "nbs" / f"{name}.ipynb")
    monkeypatch.setattr(rp, "NOTEBOOKS", tmp_path / "nbs")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    code = reproduce(only="tiny", build_dir=tmp_path / "build", fig_dir=tmp_path / "figures", extra={"n": 4})
    out, err = capfd.readouterr()
    assert code == 0
    assert err == "", f"kernel or library noise on stderr: {err!r}"  # e.g. "Kernel is running over TCP ..."
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("00_tiny") and " s  -> " in lines[0], out
    assert str(tmp_path / "build" / "notebooks" / "00_tiny.ipynb") in lines[0]
    executed = nbformat.read(tmp_path / "build" / "notebooks" / "00_tiny.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "4\n"  # the parameter reached the kernel, bars were off


CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *a: (open(sys.argv[1], "w").write("SIGINT"), sys.exit(0)))
open(sys.argv[1] + ".ready", "w").close()
time.sleep(60)
"""


def test_reproduce_shuts_a_finished_kernel_down_without_interrupting_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """jupyter_client's SIGINT before shutdown reaches the kernel's process group: a worker it left, say."""
    marker = tmp_path / "interrupted"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# child"), nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import os, subprocess, sys, time\n"
                    f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}, {str(marker)!r}])\n"
                    f"open({str(tmp_path / 'pid')!r}, 'w').write(str(child.pid))\n"
                    f"while not os.path.exists({str(marker) + '.ready'!r}): time.sleep(0.05)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "00_child.ipynb")
    monkeypatch.setattr(rp, "NOTEBOOKS", tmp_path / "nbs")
    try:
        assert reproduce(build_dir=tmp_path / "build", fig_dir=tmp_path / "figures") == 0
        time.sleep(1.0)
        assert not marker.exists(), "the kernel's process group got SIGINT at shutdown"
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)


#: Most lines of text one executed cell may show (log lines, printed lists, tables as text).
MAX_TEXT_LINES = 60


def _text_lines(output: dict) -> int:
    """Lines of text a reader sees for one output: stream text, a traceback, Markdown, or a table's plain text."""
    if output.get("output_type") == "stream":
        return len(output["text"].splitlines())
    if output.get("output_type") == "error":
        return len(output.get("traceback", []))
    data = output.get("data", {})
    if "image/png" in data or "application/vnd.jupyter.widget-view+json" in data:
        return 0
    html = data.get("text/html", "")
    if "<table" in html:  # a table is read as its rows, whatever width its plain-text fallback wraps to
        return html.count("<tr")
    return len((data.get("text/markdown") or data.get("text/plain") or "").splitlines())


def test_text_lines_counts_what_a_reader_sees() -> None:
    assert _text_lines({"output_type": "stream", "text": "a\nb\nc\n"}) == 3
    assert _text_lines({"output_type": "display_data", "data": {"image/png": "x", "text/plain": "<Figure>"}}) == 0
    assert _text_lines({"output_type": "display_data", "data": {"text/markdown": "one\ntwo", "text/plain": "<M>"}}) == 2
    assert _text_lines({"output_type": "execute_result", "data": {"text/html": "<b>x</b>", "text/plain": "h\n1\n2"}}) == 3
    table = {"text/html": "<table><tr><th>a</th></tr><tr><td>1</td></tr></table>", "text/plain": "a\n...\n" * 40}
    assert _text_lines({"output_type": "execute_result", "data": table}) == 2


def _outputs_of(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.slow
def test_every_notebook_runs_with_smoke_values_and_writes_its_figures(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    code = reproduce(params_file=rp.NOTEBOOKS / "smoke.yaml", build_dir=tmp_path / "build", fig_dir=figures)
    assert code == 0
    missing = [f"{name}.{ext}" for names in EXPECTED_FIGURES.values() for name in names
               for ext in ("png", "pdf") if not (figures / f"{name}.{ext}").is_file()]
    assert not missing, f"figures not written: {missing}"
    executed = tmp_path / "build" / "notebooks"
    assert sorted(p.name for p in executed.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in sorted(executed.glob("*.ipynb")):
        text = json.dumps(_outputs_of(nbformat.read(path, as_version=4)))
        assert not re.search(r"\d+%\|", text), f"{path.name}: a progress bar was left in the output"
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                lines = sum(_text_lines(o) for o in cell.outputs)
                assert lines <= MAX_TEXT_LINES, f"{path.name} cell {i + 1} shows {lines} lines of text"
            if cell.cell_type == "markdown" and i > 1:  # "What this shows" notes are built by code, not typed
                assert "What this shows" not in cell.source, f"{path.name} cell {i + 1}: a typed interpretation"
    # the viewer of notebook 09 leaves a picture beside the widget, and the widget state is saved with it
    nb09 = nbformat.read(executed / "09_alignment_viewer.ipynb", as_version=4)
    viewer = [o for o in _outputs_of(nb09) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(viewer) == 1 and viewer[0]["data"]["image/png"] and "VBox" not in viewer[0]["data"]["text/plain"]
    state = nb09.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert viewer[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] in state
