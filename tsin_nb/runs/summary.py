"""The run's summary: one JSON file that every number of the README comes from.

``tsin-nb reproduce`` starts a summary (a run id, the machine, the package and torch versions), every notebook
adds the tables and notes it computed (``record``), and the command closes it with each notebook's wall time.
Figures saved during the run carry the same run id in their metadata (``save_figure``), so a test can check
that a committed README, summary and figures come from one run. A notebook run by hand (no run id in its
environment) writes nothing here: an interactive experiment never mixes into a run's summary.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Environment variable that carries the run id from ``reproduce`` into the notebook kernels.
RUN_ENV = "TSIN_RUN"
#: The summary's file name inside a build folder's ``results``.
SUMMARY_NAME = "summary.json"
#: Key of the run id in a PNG's text chunks and a PDF's metadata.
FIGURE_KEY = "tsin-nb run"


def summary_path(build: str | os.PathLike) -> Path:
    """Where a build folder's summary lives."""
    return Path(build) / "results" / SUMMARY_NAME


def current_run() -> str | None:
    """The run id of the ``reproduce`` that started this process, or None for a hand-run notebook."""
    return os.environ.get(RUN_ENV) or None


def cpu_info() -> dict[str, Any]:
    """The CPU as a reader needs it to compare wall times: model name, cores, and whether it has AVX-512."""
    name, flags = platform.processor() or platform.machine(), ""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = value
    return {"model": name, "cores": os.cpu_count(), "avx512": "avx512f" in flags.split() if flags else None}


def _commit(repo: Path) -> dict[str, Any]:
    """The git commit of ``repo`` and whether tracked files differ from it; empty outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return {}
    if head.returncode != 0:
        return {}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars, arrays, tuples, paths and frames turned into JSON types; NaN becomes None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [_plain(r) for r in value.to_dict("records")]
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return [_plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _write(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` in one step (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def load_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Read a summary, naming the file when it is missing or not a summary."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no run summary here; `tsin-nb reproduce` (or `make reproduce`) writes it")
    data = json.loads(p.read_text())
    if not isinstance(data, dict) or "run" not in data or "id" not in data.get("run", {}):
        raise ValueError(f"{p}: not a run summary (no run id); write it again with `tsin-nb reproduce`")
    return data


def start_run(build: str | os.PathLike, params: Mapping[str, Any], repo: str | os.PathLike,
              only: str | None = None) -> str:
    """Begin (or, for ``only``, continue) the summary of ``build``; return the run id for the kernels.

    A full run starts a new summary, so no table of an earlier run survives in it. A run of some notebooks only
    (``--only``) keeps the summary and its id, and says which notebooks it ran again.
    """
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        package = version("tsin-nb")
    except PackageNotFoundError:  # run from a source tree that was never installed
        package = "unknown"
    path = summary_path(build)
    if only and path.is_file():
        data = load_summary(path)
        data["run"].setdefault("reran", []).append({"only": only, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        _write(path, data)
        return data["run"]["id"]
    run = {
        "id": uuid.uuid4().hex[:12],
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": cpu_info(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "tsin_nb": package,
        **_commit(Path(repo)),
        "params": _plain({k: v for k, v in params.items() if k not in ("build_dir", "fig_dir")}),
        "notebooks": {},
    }
    _write(path, {"run": run})
    return run["id"]


def finish_notebook(build: str | os.PathLike, name: str, seconds: float) -> None:
    """Add one notebook's wall time to the summary."""
    path = summary_path(build)
    data = load_summary(path)
    data["run"]["notebooks"][name] = round(float(seconds), 1)
    _write(path, data)


def finish_run(build: str | os.PathLike, seconds: float, ok: bool, fig_dir: str | os.PathLike | None = None) -> None:
    """Close the summary with the command's wall time and whether every notebook ran; a finished run's summary
    is copied beside its figures (``figures/summary.json``), where ``tsin-nb report`` reads it."""
    path = summary_path(build)
    data = load_summary(path)
    key = "wall_s" if not data["run"].get("reran") else "rerun_wall_s"
    data["run"][key] = round(float(seconds), 1)
    data["run"]["complete"] = bool(ok) and not data["run"].get("reran")
    data["run"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    _write(path, data)
    if ok and fig_dir is not None:
        _write(Path(fig_dir) / SUMMARY_NAME, data)


def record(build: str | os.PathLike, section: str, value: Any) -> bool:
    """Store ``value`` (tables as records, numbers, notes) under ``section`` of the running summary.

    Returns False and writes nothing when this process was not started by ``reproduce`` or the summary belongs
    to another run. Notebooks run one after another, so no two writers meet.
    """
    run = current_run()
    path = summary_path(build)
    if run is None or not path.is_file():
        return False
    data = load_summary(path)
    if data["run"]["id"] != run:
        return False
    data[section] = _plain(value)
    _write(path, data)
    return True
