"""CI workflows: actionlint finds nothing, the GPU workflow's pieces exist and its device check can fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tsin_nb.runs import NOTEBOOKS, REPO, notebook_paths

WORKFLOWS = REPO / ".github" / "workflows"
CHECK_DEVICES = REPO / ".github" / "scripts" / "check_devices.py"


def _actionlint() -> str:
    """The actionlint binary of the dev extra (next to this Python), else the one on PATH."""
    local = Path(sys.executable).parent / "actionlint"
    found = str(local) if local.is_file() else shutil.which("actionlint")
    assert found, "actionlint is missing: install the dev extra (pip install -e '.[dev]')"
    return found


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_actionlint_finds_nothing_in_either_workflow() -> None:
    files = [WORKFLOWS / "ci.yml", WORKFLOWS / "gpu.yml"]
    proc = subprocess.run([_actionlint(), "-config-file", str(REPO / ".github" / "actionlint.yaml"), *map(str, files)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, f"actionlint findings:\n{proc.stdout}{proc.stderr}"


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n")
    proc = subprocess.run([_actionlint(), str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "matrix" in proc.stdout


def test_ci_workflow_runs_make_test_with_the_browser() -> None:
    ci = _workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    steps = ci["jobs"]["test"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "chromium chromium-driver" in runs and "make test" in runs
    assert "3.11" in str(ci["jobs"]["test"])


def test_gpu_workflow_requires_cuda_and_runs_every_notebook_with_gpu_parameters() -> None:
    gpu = _workflow("gpu.yml")
    assert gpu["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in gpu["on"]
    job = gpu["jobs"]["gpu"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"] and job["env"]["TSIN_REQUIRE_CUDA"] == "1"
    runs = [s.get("run", "") for s in job["steps"]]
    assert any("make test" in r for r in runs)
    assert any("reproduce --params notebooks/gpu.yaml" in r for r in runs)
    assert any(CHECK_DEVICES.relative_to(REPO).as_posix() in r for r in runs)
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in job["steps"])


def _parameters(path: Path) -> set[str]:
    """The parameter names of one notebook."""
    import papermill as pm

    return set(pm.inspect_notebook(str(path)))


def test_gpu_parameters_use_the_paper_widths_and_known_names() -> None:
    params = yaml.safe_load((NOTEBOOKS / "gpu.yaml").read_text())
    assert params["preset"] == "paper" and params["device"] == "cuda" and params["epochs"] <= 20
    known = set().union(*(_parameters(p) for p in notebook_paths()))
    assert set(params) <= known, f"not a parameter of any notebook: {sorted(set(params) - known)}"


def _fold(root: Path, name: str, device: str) -> None:
    d = root / "paper_e10" / "SesI" / "tsin" / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"device": device, "wa": 0.5}))


def test_device_check_passes_on_cuda_folds_and_names_the_others(tmp_path: Path) -> None:
    run = [sys.executable, str(CHECK_DEVICES), str(tmp_path)]
    empty = subprocess.run(run, capture_output=True, text=True)
    assert empty.returncode == 1 and "no metrics.json" in empty.stderr
    _fold(tmp_path, "Session1", "cuda")
    _fold(tmp_path, "Session2", "cuda:0")
    ok = subprocess.run(run, capture_output=True, text=True)
    assert ok.returncode == 0 and "all 2 folds" in ok.stdout
    _fold(tmp_path, "Session3", "cpu")
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and "Session3" in bad.stderr and "'cpu'" in bad.stderr and "Session1" not in bad.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what happens when no CUDA device is visible")
def test_cuda_tests_fail_instead_of_skipping_when_required() -> None:
    tests = [str(REPO / "tests" / "test_cuda.py"), str(REPO / "tests" / "test_train.py"), "-m", "cuda"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TSIN_REQUIRE_CUDA", None)
    skipped = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert skipped.returncode == 0 and "skipped" in skipped.stdout
    required = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                              capture_output=True, text=True, env={**env, "TSIN_REQUIRE_CUDA": "1"}, cwd=REPO,
                              timeout=300)
    assert required.returncode != 0 and "TSIN_REQUIRE_CUDA" in required.stdout
    assert "test_fit_on_cuda_with_bf16_autocast" in required.stdout and " skipped" not in required.stdout
