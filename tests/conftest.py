"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """With $TSIN_REQUIRE_CUDA set (the GPU workflow), a test marked `cuda` fails instead of skipping without a GPU."""
    required = os.environ.get("TSIN_REQUIRE_CUDA", "").strip() not in ("", "0")
    if required and item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.fail(f"{item.nodeid}: TSIN_REQUIRE_CUDA is set but torch sees no CUDA device "
                    "(check the NVIDIA driver, CUDA_VISIBLE_DEVICES and that torch is a CUDA build)", pytrace=False)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and the CI machine's two cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """Every notebook run once with the smoke values (``reproduce``'s exit code and the folder holding ``build``,
    ``figures``); the exercise runs and the browser test start from copies of its build folder."""
    from tsin_nb.runs import NOTEBOOKS, reproduce

    root = tmp_path_factory.mktemp("smoke")
    code = reproduce(params_file=NOTEBOOKS / "smoke.yaml", build_dir=root / "build", fig_dir=root / "figures")
    return code, root
