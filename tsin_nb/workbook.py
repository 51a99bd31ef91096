"""The few lines every notebook's setup cell needs: seeds, device, folders and the corpus."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from tsin_nb.core import TSINConfig, get_device, set_seed
from tsin_nb.data import DEFAULT_SIZE


@dataclass(frozen=True)
class Workspace:
    """Where a notebook reads and writes: build folder, figures, feature cache and results."""

    build: Path
    figures: Path
    device: torch.device

    @property
    def cache(self) -> Path:
        return self.build / "cache"

    def results(self, preset: str, epochs: int, tag: str = "") -> Path:
        """Results folder of one training setting, shared by the notebooks that read it.

        The name ends in a digest of the preset's settings (``cpu_e24-1a2b3c4d``), so a preset changed by a
        newer version of this package trains into a new folder and the earlier results stay where they were.
        """
        digest = hashlib.sha1(json.dumps(TSINConfig.preset(preset).legacy_dict(), sort_keys=True).encode()).hexdigest()[:8]
        return self.build / "results" / f"{preset}_e{epochs}-{digest}{('_' + tag) if tag else ''}"


def setup(build_dir: str = "", fig_dir: str = "", device: str = "auto", seed: int = 0) -> Workspace:
    """Seed everything, resolve the device (printed) and the folders (parameter, then $TSIN_BUILD / $TSIN_FIGURES)."""
    set_seed(seed)
    build = Path(build_dir or os.environ.get("TSIN_BUILD", "../build")).resolve()
    figures = Path(fig_dir or os.environ.get("TSIN_FIGURES", "../figures")).resolve()
    build.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    dev = get_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {dev} ({name}); torch {torch.__version__}; build: {build}; figures: {figures}")
    return Workspace(build=build, figures=figures, device=dev)


def corpus_path(ws: Workspace, corpus: str = "", corpus_size: int = DEFAULT_SIZE, seed: int = 0) -> Path:
    """The corpus to use: the parameter, else $TSIN_CORPUS, else the embedded synthetic corpus (built once)."""
    corpus = corpus or os.environ.get("TSIN_CORPUS", "")
    if corpus:
        path = Path(corpus).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"corpus {path} does not exist; pass an IEMOCAP root, a manifest CSV, or ''")
        return path
    from tsin_nb.data import make_synthetic_corpus

    return make_synthetic_corpus(ws.build / "data" / f"synthetic_n{corpus_size}_s{seed}", n_utterances=corpus_size, seed=seed)


def load(ws: Workspace, corpus: str = "", corpus_size: int = DEFAULT_SIZE, seed: int = 0) -> pd.DataFrame:
    """Locate (or build) the corpus and return its manifest."""
    from tsin_nb.data import load_corpus

    return load_corpus(corpus_path(ws, corpus, corpus_size, seed), progress=False)
