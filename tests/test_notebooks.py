"""The notebooks: committed clean, one `parameters` cell each, and all of them run headless (smoke values)."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import nbformat
import pytest

from tsin_nb.runs import EXPECTED_FIGURES, REPO, load_summary, reproduce
from tsin_nb.runs import reproduction as rp
from tsin_nb.show import RESULTS_BEGIN, RESULTS_END, figure_run, update_readme

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
    assert len(lines) == 2 and lines[0].startswith("00_tiny") and " s  -> " in lines[0], out
    assert lines[1].startswith("summary") and str(tmp_path / "figures" / "summary.json") in lines[1]
    summary = load_summary(tmp_path / "figures" / "summary.json")
    assert list(summary["run"]["notebooks"]) == ["00_tiny"] and summary["run"]["complete"]
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
def test_every_notebook_runs_with_smoke_values_and_writes_its_figures(smoke_build: tuple[int, Path]) -> None:
    code, tmp_path = smoke_build  # conftest.py: reproduce with notebooks/smoke.yaml
    figures = tmp_path / "figures"
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
    # every figure carries the run's id, the summary holds every table the README reads, and the README renders
    summary = load_summary(figures / "summary.json")
    assert {figure_run(p) for p in figures.glob("*.png")} == {summary["run"]["id"]}
    assert {"corpus", "table_one", "table_five", "cues", "fig4", "alignment", "pointers", "focus"} <= set(summary)
    readme = tmp_path / "README.md"
    readme.write_text(f"{RESULTS_BEGIN}\n{RESULTS_END}\n")
    assert update_readme(readme, summary) and "**Table V** on SesI" in readme.read_text()
    # the viewer of notebook 09 leaves a picture beside the widget, and the widget state is saved with it
    nb09 = nbformat.read(executed / "09_alignment_viewer.ipynb", as_version=4)
    viewer = [o for o in _outputs_of(nb09) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(viewer) == 1 and viewer[0]["data"]["image/png"] and "VBox" not in viewer[0]["data"]["text/plain"]
    state = nb09.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert viewer[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] in state


#: An exercise in a notebook's summary: "1. **Change** `a = 1` and `b = "x"` (time). **Expect** ... **Why:** ..."
EXERCISE = re.compile(r"^\d+\. \*\*Change\*\* (?P<change>.+?) \((?P<time>[^()]+)\)\. \*\*Expect\*\* (?P<expect>.+?)\. "
                      r"\*\*Why:\*\* (?P<why>.+)\.$", re.M)


def exercises(path: Path) -> list[dict]:
    """The exercises of a notebook, each with its parameter change parsed from the code spans."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown" and "**Exercises" in c.source)
    out = []
    for m in EXERCISE.finditer(text):
        change = {}
        for span in re.findall(r"`([^`]+)`", m.group("change")):
            name, _, value = span.partition(" = ")
            change[name.strip()] = ast.literal_eval(value)
        out.append({**m.groupdict(), "params": change})
    return out


def test_every_exercise_says_what_to_change_how_long_and_what_to_expect() -> None:
    import papermill as pm

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        listed = [line for c in nb.cells if c.cell_type == "markdown" and "**Exercises" in c.source
                  for line in c.source.splitlines() if re.match(r"^\d+\. ", line)]
        found = exercises(path)
        assert found and len(found) == len(listed), f"{path.name}: an exercise without Change / time / Expect / Why"
        known = set(pm.inspect_notebook(str(path)))
        for ex in found:
            assert ex["params"] and set(ex["params"]) <= known, f"{path.name}: {ex['change']} is not a parameter"
            assert re.search(r"min|second|s\b|no training", ex["time"]), ex["time"]


def _execute(path: Path, out: Path, params: dict) -> None:
    """Run one notebook headless with the smoke values and ``params`` on top (as ``reproduce`` runs it)."""
    import papermill as pm

    values = {**rp._load_params(rp.NOTEBOOKS / "smoke.yaml"), **params}
    known = pm.inspect_notebook(str(path))
    pm.execute_notebook(str(path), str(out), parameters={k: v for k, v in values.items() if k in known},
                        kernel_name="python3", cwd=str(rp.NOTEBOOKS), progress_bar=False, log_output=False,
                        config=rp.kernel_config("python3"), kernel_manager_class=rp.batch_kernel_manager())


def _run_exercise(tmp_path: Path, path: Path, number: int, exercise: dict) -> str | None:
    """One exercise on a copy of the smoke build (so exercises never share a fold folder); an error line or None."""
    import shutil

    from papermill.exceptions import PapermillExecutionError

    work = tmp_path / f"{path.stem}-exercise{number}"
    shutil.copytree(tmp_path / "build", work / "build", ignore=shutil.ignore_patterns("notebooks"))
    try:
        _execute(path, work / path.name, {"build_dir": str(work / "build"), "fig_dir": str(work / "figures"),
                                          **exercise["params"]})
    except PapermillExecutionError as err:
        return f"{path.name} exercise {number} ({exercise['change']}): cell {err.cell_index}: {err.ename}: {err.evalue}"
    return None


def _manifest_notes(tmp_path: Path) -> dict[str, str]:
    """Notebooks 05, 06, 08, 09 and 10 on a small manifest corpus (no cues, no word timings): what each shows."""
    from corpora import write_corpus

    words = {"ang": "furious", "hap": "delighted", "sad": "gloomy", "neu": "fine"}
    (tmp_path / "wavs").mkdir(parents=True)
    manifest = write_corpus(tmp_path / "wavs", lambda label: f"today I feel {words[label]} about it", per_speaker=8)
    csv = tmp_path / "my_corpus.csv"
    manifest[["utt_id", "wav_path", "text", "label", "speaker", "session"]].to_csv(csv, index=False)
    params = {"corpus": str(csv), "build_dir": str(tmp_path / "build"), "fig_dir": str(tmp_path / "figures"),
              "folds": 1, "protocols": "SesI"}
    shown = {}
    for stem in ("05_cross_validation", "06_ablations", "08_confusion_matrices", "09_alignment_viewer",
                 "10_when_alignment_matters"):
        out = tmp_path / f"{stem}.ipynb"
        _execute(rp.NOTEBOOKS / f"{stem}.ipynb", out, params)
        shown[stem] = "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                                 for o in _outputs_of(nbformat.read(out, as_version=4)))
    return shown


@pytest.fixture(scope="module")
def side_runs(smoke_build: tuple[int, Path]) -> dict:
    """Every exercise (on copies of the smoke build) and the manifest-corpus run, two at a time (one per core)."""
    from concurrent.futures import ThreadPoolExecutor

    code, tmp_path = smoke_build
    assert code == 0, "the smoke run failed; its build is what the exercises start from"
    runs = [(path, i, ex) for path in NOTEBOOKS for i, ex in enumerate(exercises(path), 1)]
    with rp.headless_kernels(), ThreadPoolExecutor(max_workers=2) as pool:
        manifest = pool.submit(_manifest_notes, tmp_path / "manifest")  # the longest job first
        errors = [e for e in pool.map(lambda r: _run_exercise(tmp_path, *r), runs) if e]
        try:
            shown = manifest.result()
        except Exception as err:  # reported by the manifest test, not by every exercise
            shown = err
    return {"runs": runs, "errors": errors, "manifest": shown}


@pytest.mark.slow
def test_every_exercise_runs_on_the_smoke_corpus(side_runs: dict) -> None:
    """Each reader's change on top of the smoke values, each on its own copy of the smoke build."""
    assert len(side_runs["runs"]) >= len(NOTEBOOKS)
    assert not side_runs["errors"], "exercises that fail:\n" + "\n".join(side_runs["errors"])


@pytest.mark.slow
def test_result_notes_describe_a_manifest_corpus_from_its_own_settings(side_runs: dict) -> None:
    """Notebooks 05, 06, 08, 09 and 10 on a corpus without cues or word timings: every sentence must still be true."""
    shown = side_runs["manifest"]
    if isinstance(shown, Exception):
        raise shown
    notes = "\n".join(shown.values())
    assert "my_corpus" in shown["05_cross_validation"], "Table I's note does not name the run's corpus"
    assert "What this shows" in notes
    for claim in ("synthetic", "focus", "emphasis", "1000 utterances", "embedded corpus,"):
        assert claim not in notes.replace("not the embedded corpus", ""), f"a note claims {claim!r} of a manifest corpus"
    assert not re.search(r"\bnan\b", notes, re.I), "a note shows a number that was never measured"
    assert "no salient words" in shown["09_alignment_viewer"]
    assert "not the embedded corpus" in shown["10_when_alignment_matters"]
