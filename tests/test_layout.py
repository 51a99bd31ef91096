"""Package layout: the feature cache keys survive refactoring, and no module imports itself in a cycle."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import ast
import hashlib
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import tsin_nb
from tsin_nb import features as F
from tsin_nb.config import TSINConfig

CFG = TSINConfig.preset("tiny")
STAMP_NS = 1_700_000_000_000_000_000  # a fixed mtime, so the wav / vector-file stamps in the keys are fixed

# sha256 of each cache key object (paths and weight mtimes replaced, see ``_canonical``), recorded from the
# code before the split into speech / text / embedders / cache: existing caches must stay valid.
SPEECH_KEY = "be385ac008632696c2427b6771eeadf04df003b4c2eff9c5f5d5a235527fc013"
TEXT_KEYS = {
    "onehot": "c65e550b70a7a3fed9176b048507bae379cb33afed3bde927d54060682615240",
    "random:16": "c744546fb23006eb1e72153cf616e4b6755ca713f77901d3f427d32848ef0f50",
    "static": "3672b2c15f3f942551aa27fddf42a3bdef0ea903124786fc14599ed1052db1fb",
    "minilm": "2d68f8cfaea4cfed74f49d5e2af0e6a10efe5c45e3910aae35fd8c54236d392b",
}
# sha256 of the text tensor bytes, for the kinds whose vectors do not depend on the machine's arithmetic.
TEXT_VALUES = {
    "onehot": "19cc5fa14fd97a37c12b1f2c031735c3ac6ceba0a37094093b989d1cd924fd36",
    "random:16": "6ffd0aaa52e167458006bd057fa5605ec31a32a2138ccbcf2dc5a6c619d8cf79",
    "static": "169059541617cdb69f1a76157924e8a6b4b0e06b160154da8cdeb4519a55970f",
}


def _corpus(root: Path) -> pd.DataFrame:
    """Three tiny wavs with fixed contents and mtimes, one with an empty transcript."""
    root.mkdir(parents=True)
    rows = [("u0", "ang", "Oh, hello there!"), ("u1", "hap", "Hello world"), ("u2", "neu", "")]
    records = []
    for i, (utt, label, text) in enumerate(rows):
        t = np.arange(1600 * (i + 2)) / 16000
        wav = root / f"{utt}.wav"
        sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32), 16000)
        os.utime(wav, ns=(STAMP_NS, STAMP_NS))
        records.append({"utt_id": utt, "label": label, "text": text, "wav_path": str(wav), "words": None})
    return pd.DataFrame(records)


def _canonical(key_obj: dict[str, Any], tmp: Path) -> str:
    """sha256 of the key object with machine-specific parts (folders, weight-file mtimes) replaced."""
    text = json.dumps(key_obj, sort_keys=True, default=str)
    text = text.replace(str(tmp), "<tmp>").replace(F.minilm_path(), "<minilm>")
    text = re.sub(r'"(\d+):\d+"', r'"\1:<mtime>"', text)  # transformer weights: "size:mtime_ns"
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("kind", list(TEXT_KEYS))
def test_cache_keys_are_unchanged(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    man = _corpus(tmp_path / "corpus")
    spec = kind
    if kind == "static":
        vec = tmp_path / "vectors.txt"
        vec.write_text("hello 1 2 3\nworld 4 5 6\nthere 0.5 0.25 1\n")
        os.utime(vec, ns=(STAMP_NS, STAMP_NS))
        spec = f"static:{vec}"
    keys: dict[str, dict[str, Any]] = {}
    real = F._cached

    def spy(cache_dir, kind_, key_obj, compute, meta):  # noqa: ANN001, ANN202
        keys[kind_] = key_obj
        return real(cache_dir, kind_, key_obj, compute, meta)

    monkeypatch.setattr(F, "_cached", spy)
    cache = tmp_path / "cache"
    store = F.build_feature_store(man, CFG, cache, text_model=spec, progress=False, train_ids=["u0", "u1"])
    assert set(keys) == {"speech", "text"}
    for part, obj in keys.items():  # the entry on disk is named by the key
        assert (cache / f"{part}-{F.hash_key(obj)[:24]}.json").is_file()
    assert _canonical(keys["speech"], tmp_path) == SPEECH_KEY
    assert _canonical(keys["text"], tmp_path) == TEXT_KEYS[kind]
    if kind in TEXT_VALUES:
        assert hashlib.sha256(store.text.numpy().tobytes()).hexdigest() == TEXT_VALUES[kind]


def _package_imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its file (top level or inside functions)."""
    pkg = Path(tsin_nb.__file__).parent
    modules = {p.stem for p in pkg.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((pkg / f"{name}.py").read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("tsin_nb.")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.startswith("tsin_nb."):
                    deps.add(node.module.split(".")[1])
                elif node.module == "tsin_nb":  # from tsin_nb import viz
                    deps |= {a.name for a in node.names if a.name in modules}
        graph[name] = deps & modules - {name}
    return graph


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.iter_modules(tsin_nb.__path__)]
    assert {"speech", "text", "embedders", "cache", "features", "viz", "alignment"} <= set(names)
    for name in names:
        importlib.import_module(f"tsin_nb.{name}")


def test_no_import_cycle() -> None:
    graph = _package_imports()
    assert "cache" in graph["features"] and "alignment" in graph["viz_alignment"]  # the parser sees imports
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import cycle in tsin_nb: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_plots_depend_on_metrics_not_the_reverse() -> None:
    graph = _package_imports()
    assert not graph["alignment"] & {"viz", "viz_alignment", "viz_results", "plotting", "widgets"}


@pytest.mark.parametrize(("spec", "cls"), [("onehot:3", F.OneHotEmbedder), ("random:8", F.RandomEmbedder),
                                           ("static:/x/vectors.txt", F.StaticEmbedder),
                                           ("minilm", F.TransformerEmbedder)])
def test_one_factory_picks_one_class_per_kind(spec: str, cls: type) -> None:
    assert F.embedder_class(spec) is cls
    emb = F.make_embedder(spec, CFG) if cls is not F.StaticEmbedder else F.TextEmbedder(spec)
    assert type(emb) is cls and type(F.TextEmbedder(spec)) is cls and emb.kind == cls.kind
    assert emb.needs_fit == (cls is F.OneHotEmbedder)
    with pytest.raises(TypeError, match="bogus"):
        F.TextEmbedder(spec, bogus=1)
