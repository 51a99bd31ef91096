"""Package layout: stages along the data flow, imports only downstream, one import path per name, no private
name across modules, no cycle; and the feature cache keys survive refactoring."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import ast
import hashlib
import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import tsin_nb
from tsin_nb.core import TSINConfig
from tsin_nb.features import (
    OneHotEmbedder,
    RandomEmbedder,
    StaticEmbedder,
    TextEmbedder,
    TransformerEmbedder,
    build_feature_store,
    embedder_class,
    hash_key,
    make_embedder,
    minilm_path,
)
from tsin_nb.features import build as F

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
    text = text.replace(str(tmp), "<tmp>").replace(minilm_path(), "<minilm>")
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
    real = F.cached_entry

    def spy(cache_dir, kind_, key_obj, compute, meta):  # noqa: ANN001, ANN202
        keys[kind_] = key_obj
        return real(cache_dir, kind_, key_obj, compute, meta)

    monkeypatch.setattr(F, "cached_entry", spy)
    cache = tmp_path / "cache"
    store = build_feature_store(man, CFG, cache, text_model=spec, progress=False, train_ids=["u0", "u1"])
    assert set(keys) == {"speech", "text"}
    for part, obj in keys.items():  # the entry on disk is named by the key
        assert (cache / f"{part}-{hash_key(obj)[:24]}.json").is_file()
    assert _canonical(keys["speech"], tmp_path) == SPEECH_KEY
    assert _canonical(keys["text"], tmp_path) == TEXT_KEYS[kind]
    if kind in TEXT_VALUES:
        assert hashlib.sha256(store.text.numpy().tobytes()).hexdigest() == TEXT_VALUES[kind]


PKG = Path(tsin_nb.__file__).parent
REPO = PKG.parent
#: The stages in the order of the data flow; a stage may import only the stages before it.
STAGES = ("core", "data", "features", "model", "train", "runs", "show")
#: What each stage may import besides itself (the model sees tensors, never files or features code).
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "features": {"core", "data"},
    "model": {"core"},
    "train": {"core", "features", "model"},
    "runs": {"core", "data", "features", "model", "train"},
    "show": {"core", "data", "features", "model", "train", "runs"},
    "workbook": set(STAGES),
    "cli": {*STAGES, "cli_checks"},
    "cli_checks": set(STAGES),
}


def _modules() -> dict[str, Path]:
    """Dotted module name (``data.iemocap``, ``data``, ``cli``) -> its file."""
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG).with_suffix("").parts
        if parts == ("__init__",):
            continue
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """Every ``tsin_nb`` import of a file: (module after ``tsin_nb.``, names, line), top level or in functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append((f"<relative {node.module}>", [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tsin_nb":
            found.append((node.module[len("tsin_nb."):], [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name[len("tsin_nb."):], [], node.lineno) for a in node.names if a.name.startswith("tsin_nb.")]
    return found


def _stage(module: str) -> str:
    return module.split(".")[0]


def test_every_module_imports() -> None:
    modules = _modules()
    assert {"data.iemocap", "features.speech", "model.tsin", "model.alignment", "train.trainer", "runs.jobs", "show.widgets"} <= set(modules)
    for name in modules:
        importlib.import_module(f"tsin_nb.{name}")
    assert {p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(STAGES)
    assert {p.stem for p in PKG.glob("*.py")} == {"__init__", "workbook", "cli", "cli_checks"}


def test_imports_only_go_downstream() -> None:
    bad = []
    for name, path in _modules().items():
        for target, _, line in _imports(path):
            if target.startswith("<relative"):
                bad.append(f"{path.relative_to(REPO)}:{line}: relative import")
            elif _stage(target) != _stage(name) and _stage(target) not in ALLOWED[_stage(name)]:
                bad.append(f"{path.relative_to(REPO)}:{line}: {_stage(name)} imports {target}")
    assert not bad, "imports against the data flow:\n" + "\n".join(bad)


def test_every_stage_says_what_it_owns_and_may_import() -> None:
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PKG / stage / "__init__.py").read_text())) or ""
        assert len(doc.split()) >= 20, stage
        assert "Imports" in doc, f"{stage}/__init__.py does not say what it may import"


def _sources() -> list[tuple[str, str, str | None]]:
    """(where, code, own stage) for the package, tests, benchmarks, scripts and every notebook code cell."""
    out = [(str(p.relative_to(REPO)), p.read_text(), _stage(n)) for n, p in _modules().items()]
    for folder in ("tests", "benchmarks", ".github/scripts"):
        out += [(str(p.relative_to(REPO)), p.read_text(), None) for p in sorted((REPO / folder).glob("*.py"))]
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        out += [(f"{nb.name} cell {i}", "".join(c["source"]), None) for i, c in enumerate(cells)
                if c["cell_type"] == "code"]
    return out


def test_one_import_path_per_name() -> None:
    """A name is imported from its stage outside that stage, from its own module inside it; no module re-exports."""
    modules = _modules()
    bad = []
    for where, code, own in _sources():
        for node in ast.walk(ast.parse(code)):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tsin_nb.")):
                continue
            target = node.module[len("tsin_nb."):]
            names = [a.name for a in node.names]
            if "." in target and _stage(target) != own:
                # only a module object may be taken from inside another stage (tests patch its attributes)
                if not all(f"{target}.{n}" in modules for n in names):
                    bad.append(f"{where}:{node.lineno}: from tsin_nb.{target} import {', '.join(names)} "
                               f"(import it from tsin_nb.{_stage(target)})")
            elif "." not in target and target == own:
                bad.append(f"{where}:{node.lineno}: a module of {own} imports from its own stage's __init__")
    for path in modules.values():
        if path.name != "__init__.py" and "__all__" in path.read_text():
            bad.append(f"{path.relative_to(REPO)}: __all__ outside a stage's __init__ (a re-export layer)")
    assert not bad, "\n".join(bad)


def test_no_private_name_leaves_its_module() -> None:
    bad = []
    for where, code, _ in _sources():
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tsin_nb"):
                bad += [f"{where}:{node.lineno}: {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "underscore names imported from another module:\n" + "\n".join(bad)


def test_stage_exports_are_defined_in_the_stage() -> None:
    for stage in STAGES:
        pkg = importlib.import_module(f"tsin_nb.{stage}")
        for name in pkg.__all__:
            obj = getattr(pkg, name)
            home = getattr(obj, "__module__", None)
            if home is not None and isinstance(obj, type | type(test_stage_exports_are_defined_in_the_stage)):
                assert home.startswith(f"tsin_nb.{stage}."), f"tsin_nb.{stage}.{name} lives in {home}"


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    modules = _modules()
    for name, path in modules.items():
        deps = set()
        for target, names, _ in _imports(path):
            deps |= {f"{target}.{n}" for n in names if f"{target}.{n}" in modules} or {target}
        graph[name] = {d for d in deps if d in modules} - {name}
    assert "features.cache" in graph["features.build"] and "show.alignment" in graph["show.alignment_plots"]
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if "." not in dep:  # a stage's __init__ imports its own modules only
                continue
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
    deps = {t for t, _, _ in _imports(_modules()["show.alignment"])}
    assert not deps & {"show.plotting", "show.alignment_plots", "show.result_plots", "show.input_plots", "show.widgets"}


@pytest.mark.parametrize(("spec", "cls"), [("onehot:3", OneHotEmbedder), ("random:8", RandomEmbedder),
                                           ("static:/x/vectors.txt", StaticEmbedder),
                                           ("minilm", TransformerEmbedder)])
def test_one_factory_picks_one_class_per_kind(spec: str, cls: type) -> None:
    assert embedder_class(spec) is cls
    emb = make_embedder(spec, CFG) if cls is not StaticEmbedder else TextEmbedder(spec)
    assert type(emb) is cls and type(TextEmbedder(spec)) is cls and emb.kind == cls.kind
    assert emb.needs_fit == (cls is OneHotEmbedder)
    with pytest.raises(TypeError, match="bogus"):
        TextEmbedder(spec, bogus=1)
