"""Run every notebook in order with papermill, headless, and say where everything went.

``make reproduce`` calls :func:`reproduce`; ``make test`` calls it with ``notebooks/smoke.yaml``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tsin_nb.runs.params import default_figures_dir, load_params_file, notebook_parameters, validate_params
from tsin_nb.runs.summary import RUN_ENV, finish_notebook, finish_run, start_run

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"

#: Figures each notebook must write (name without extension; PNG and PDF are both written).
EXPECTED_FIGURES: dict[str, list[str]] = {
    "00_setup_and_data": ["dataset_stats"],
    "01_speech_features": ["speech_feature_steps"],
    "02_text_features": ["text_feature_steps"],
    "03_tsi_equations": ["tsin_architecture", "eq8_normalization"],
    "04_training_one_fold": ["training_curves"],
    "05_cross_validation": ["table1_folds"],
    "06_ablations": ["table5_ablations", "fig4_word_embeddings"],
    "07_embeddings_tsne_umap": [f"fig{n}_{m}_{p}" for m in ("tsne", "umap") for n, p in ((5, "SesI"), (6, "SpkI"), (7, "SpkD"))],
    "08_confusion_matrices": ["fig3_confusion"],
    "09_alignment_viewer": ["alignment_example", "alignment_quality"],
    "10_when_alignment_matters": ["cue_accuracy", "when_alignment_matters", "focus_example"],
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


def _shown(path: Path) -> str:
    """A path relative to the working folder when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def kernel_config(kernel_name: str = "python3") -> Any:
    """Kernel-manager settings for headless runs: CurveZMQ-encrypted TCP when the kernel supports it, else ipc.

    A kernel on plain TCP logs "Kernel is running over TCP without encryption" on every start.
    """
    import zmq
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from traitlets.config import Config

    config = Config()
    try:
        declared = KernelSpecManager().get_kernel_spec(kernel_name).metadata.get("supported_encryption") or ()
    except NoSuchKernel:
        declared = ()
    if zmq.has("curve") and "curve" in ([declared] if isinstance(declared, str) else list(declared)):
        config.KernelManager.transport_encryption = "auto"  # the manager provisions the kernel's keys
    elif os.name == "posix":
        config.KernelManager.transport = "ipc"  # local sockets in the Jupyter runtime folder
    return config


def batch_kernel_manager() -> type:
    """A kernel manager that shuts a finished kernel down with a shutdown request alone.

    jupyter_client sends SIGINT to the kernel's process group before every shutdown; papermill shuts a kernel
    down only after its last cell is done, so the signal can only land in whatever runs at that moment
    ("KeyboardInterrupt caught in kernel", or in a worker process the notebook started).
    """
    from jupyter_client.manager import AsyncKernelManager

    class BatchKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return BatchKernelManager


@contextlib.contextmanager
def headless_kernels(run_id: str | None = None) -> Iterator[None]:
    """Kernels started inside draw no progress bars (a bar in an executed notebook is a frozen widget or text)
    and, given ``run_id``, record their tables in the run's summary and stamp their figures with it."""
    from tsin_nb.core import ENV

    values = {ENV: "0", RUN_ENV: run_id}
    before = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    config, manager = kernel_config("python3"), batch_kernel_manager()
    run_id = start_run(build, params, REPO, only=only)  # the summary every README number comes from
    began = time.perf_counter()
    for path in paths:
        out = executed / path.name
        start = time.perf_counter()
        print(f"{path.stem:<26}", end="", flush=True)  # the line is finished when the notebook is
        known = pm.inspect_notebook(str(path))
        try:
            with headless_kernels(run_id):
                pm.execute_notebook(
                    str(path), str(out), parameters={k: v for k, v in params.items() if k in known}, kernel_name="python3",
                    cwd=str(NOTEBOOKS), progress_bar=False, log_output=False, config=config,
                    kernel_manager_class=manager,
                    store_widget_state=True,  # a reopened copy shows its widgets, not "model not found"
                )
        except PapermillExecutionError as err:
            print(" FAILED", flush=True)
            print(
                f"FAILED: {path.name}, cell {err.cell_index} (execution count {err.exec_count}): "
                f"{err.ename}: {err.evalue}\nThe executed copy with the traceback is {out}",
                file=sys.stderr,
            )
            finish_run(build, time.perf_counter() - began, ok=False)
            return 1
        finish_notebook(build, path.stem, time.perf_counter() - start)
        names = ", ".join(EXPECTED_FIGURES.get(path.stem, []))
        print(f" {time.perf_counter() - start:7.1f} s  -> {_shown(out)}"
              + (f"; {_shown(figures)}/: {names} (PNG + PDF)" if names else ""), flush=True)
    finish_run(build, time.perf_counter() - began, ok=True, fig_dir=figures)
    print(f"{'summary':<26} {_shown(figures / 'summary.json')} (run {run_id}; `tsin-nb report` puts it in the README)",
          flush=True)
    return 0
