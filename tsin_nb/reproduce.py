"""Run every notebook in order with papermill, headless, and say where everything went.

``make reproduce`` calls :func:`reproduce`; ``make test`` calls it with ``notebooks/smoke.yaml``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from tsin_nb.safety import default_figures_dir, load_params_file, notebook_parameters, validate_params

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

#: Figures each notebook must write (name without extension; PNG and PDF are both written).
EXPECTED_FIGURES: dict[str, list[str]] = {
    "00_setup_and_data": ["dataset_stats"],
    "01_speech_features": ["speech_feature_steps"],
    "02_text_features": ["text_feature_steps"],
    "03_tsi_equations": ["eq8_normalization"],
    "04_training_one_fold": ["training_curves"],
    "05_cross_validation": ["table1_folds"],
    "06_ablations": ["table5_ablations", "fig4_word_embeddings"],
    "07_embeddings_tsne_umap": [f"fig{n}_{m}_{p}" for m in ("tsne", "umap") for n, p in ((5, "SesI"), (6, "SpkI"), (7, "SpkD"))],
    "08_confusion_matrices": ["fig3_confusion"],
    "09_alignment_viewer": ["alignment_example", "alignment_quality"],
}


def notebook_paths(only: str | None = None) -> list[Path]:
    """The ordered notebooks (``NN_name.ipynb``), optionally filtered by a substring."""
    paths = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if only is None or only in p.stem]


def _load_params(params_file: str | os.PathLike | None) -> dict[str, Any]:
    """The parameter file's mapping, checked against every notebook's parameters before anything runs."""
    if params_file is None:
        return {}
    params = load_params_file(params_file)
    validate_params(params, notebook_parameters(notebook_paths()), str(params_file))
    return params


def reproduce(
    params_file: str | os.PathLike | None = None,
    only: str | None = None,
    build_dir: str | os.PathLike = "build",
    corpus: str | None = None,
    fig_dir: str | os.PathLike | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Execute the notebooks in order; return 0, or 1 naming the notebook and cell that failed."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    build = Path(build_dir)
    if corpus and build == Path("build"):  # keep another corpus's results apart from the embedded run's
        build = build / Path(corpus).resolve().stem
    build = build.resolve()
    figures = Path(fig_dir).resolve() if fig_dir else default_figures_dir(build, REPO)
    params = _load_params(params_file)
    executed = build / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    params.update({"build_dir": str(build), "fig_dir": str(figures)})
    if corpus:
        params["corpus"] = str(Path(corpus).resolve())
    params.update(extra or {})

    paths = notebook_paths(only)
    if not paths:
        print(f"tsin-nb reproduce: no notebook matches {only!r} in {NOTEBOOKS}", file=sys.stderr)
        return 1
    print(f"running {len(paths)} notebooks with parameters {params}", flush=True)
    total = time.perf_counter()
    for path in paths:
        out = executed / path.name
        start = time.perf_counter()
        print(f"-> {path.name}", flush=True)
        known = pm.inspect_notebook(str(path))
        try:
            pm.execute_notebook(
                str(path), str(out), parameters={k: v for k, v in params.items() if k in known}, kernel_name="python3",
                cwd=str(NOTEBOOKS), progress_bar=False, log_output=False,
            )
        except PapermillExecutionError as err:
            print(
                f"\nFAILED: {path.name}, cell {err.cell_index} (execution count {err.exec_count}): "
                f"{err.ename}: {err.evalue}\nThe executed copy with the traceback is {out}",
                file=sys.stderr,
            )
            return 1
        print(f"   done in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"\nall {len(paths)} notebooks ran in {time.perf_counter() - total:.1f} s")
    print(f"executed notebooks: {executed}")
    print(f"figures (PNG + PDF): {figures}")
    print(f"results and caches: {build}")
    return 0
