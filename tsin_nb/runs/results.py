"""Results on disk read back: finished folds, metrics, outputs, and Tables I and V beside the paper's numbers.

Written by :mod:`tsin_nb.runs.experiment` under ``OUT/<protocol>/<variant>/<fold>/``; ``DONE`` marks a finished fold.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tsin_nb.core import (
    BASELINES,
    PROTOCOLS,
    VARIANT_LABELS,
    VARIANTS,
    TSINConfig,
    safe_fold_dirname,
    upgrade_config_dict,
)
from tsin_nb.features import FeatureStore, build_feature_store, config_for_store
from tsin_nb.model import build_model
from tsin_nb.runs.jobs import cached_store, manifest_key, store_key
from tsin_nb.train import CHECKPOINT

RESULT_COLUMNS = ["protocol", "variant", "fold", "wa", "ua", "n_test", "wall_s"]
#: Config fields copied from the feature store (``config_for_store``), not chosen by the run.
DONE = "DONE"

#: Table V rows: the paper's order, then the linear baselines.
TABLE_FIVE_ROWS: tuple[str, ...] = ("speech", "text", "no_ta", "no_si", "tsin", *BASELINES)

#: Table I of the paper (TSIN, WA / UA in %), per protocol: (test set, WA, UA).
#: SesI rows are printed "Seesion1..5"; SpkD rows are printed Group1-5, Group5, Group6-9 (a duplicated
#: label), kept here in order as Group1..Group10. SpkD's groups are random draws, so only their mean is
#: compared with ours (:data:`PAPER_FOLDS_MATCH`, :data:`SPKD_NOTE`).
PAPER_TABLE_ONE: dict[str, list[tuple[str, float, float]]] = {
    "SesI": [
        ("Session1", 72.1, 76.1), ("Session2", 79.2, 82.0), ("Session3", 72.3, 72.4),
        ("Session4", 76.9, 78.2), ("Session5", 73.8, 74.5),
    ],
    "SpkI": [
        ("Ses01M", 75.9, 80.2), ("Ses01F", 72.2, 76.0), ("Ses02M", 78.8, 84.0), ("Ses02F", 82.7, 83.0),
        ("Ses03M", 74.9, 75.5), ("Ses03F", 72.8, 73.3), ("Ses04M", 75.4, 76.7), ("Ses04F", 79.9, 81.0),
        ("Ses05M", 77.7, 77.0), ("Ses05F", 72.0, 74.4),
    ],
    "SpkD": [
        ("Group1", 78.7, 80.2), ("Group2", 78.3, 80.5), ("Group3", 77.6, 78.6), ("Group4", 77.2, 77.5),
        ("Group5", 80.1, 80.9), ("Group6", 80.7, 81.7), ("Group7", 77.4, 78.7), ("Group8", 79.9, 80.4),
        ("Group9", 79.6, 79.9), ("Group10", 77.9, 79.3),
    ],
}
#: Protocols whose test folds are the paper's own (a session, a speaker): compared fold by fold in Table I.
PAPER_FOLDS_MATCH: tuple[str, ...] = ("SesI", "SpkI")
#: Footnote of Table I for SpkD.
SPKD_NOTE = ("SpkD: the groups are random draws, ours and the paper's alike, so only the means are compared; the "
             "paper's Table I lists \"Group5\" twice and no Group10.")
#: Table I's "Mean" row as printed (the SesI WA mean of the five printed rows is 74.86, printed 74.92).
PAPER_TABLE_ONE_MEAN: dict[str, tuple[float, float]] = {
    "SesI": (74.92, 76.64), "SpkI": (76.23, 78.11), "SpkD": (78.74, 79.77),
}
#: Table V of the paper (WA, UA in %) per variant and protocol.
PAPER_TABLE_FIVE: dict[str, dict[str, tuple[float, float]]] = {
    "speech": {"SesI": (60.88, 63.32), "SpkI": (61.75, 64.32), "SpkD": (67.08, 68.39)},
    "text": {"SesI": (69.52, 70.48), "SpkI": (70.01, 71.77), "SpkD": (71.50, 72.28)},
    "no_ta": {"SesI": (73.89, 75.52), "SpkI": (74.77, 76.93), "SpkD": (77.47, 78.66)},
    "no_si": {"SesI": (74.25, 75.74), "SpkI": (74.92, 77.01), "SpkD": (77.68, 78.75)},
    "tsin": {"SesI": (74.92, 76.64), "SpkI": (76.23, 78.11), "SpkD": (78.74, 79.77)},
}


def result_row(m: dict[str, Any]) -> dict[str, Any]:
    """One tidy results row from a metrics.json dict."""
    keys = RESULT_COLUMNS + ["epochs", "seed", "preset", "corpus", "corpus_kind", "device", "fold_index", "n_folds",
                             "folds_limit"]
    return {k: m.get(k) for k in keys}


def _finished_metrics(done_files: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, metrics.json) of every DONE marker whose metrics.json reads and names its own folder
    (``OUT/<protocol>/<variant>/<fold>``); a warning names each one that does not."""
    found = []
    for done in done_files:
        folder = done.parent
        m, why = read_metrics(folder / "metrics.json", {"protocol": folder.parent.parent.name,
                                                         "variant": folder.parent.name})
        if m is not None and safe_fold_dirname(str(m.get("fold", folder.name))) != folder.name:
            m, why = None, f"{folder / 'metrics.json'} disagrees with its folder (fold {m.get('fold')!r})"
        if m is None:
            warnings.warn(f"{why}; that fold is left out (rerun it with `tsin-nb run`, or delete {folder})",
                          stacklevel=3)
            continue
        found.append((folder, m))
    return found


def order_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by protocol and variant (paper order), then fold order."""
    if df.empty:
        return df
    key = df.assign(_p=df["protocol"].map({p: i for i, p in enumerate(PROTOCOLS)}),
                    _v=df["variant"].map({v: i for i, v in enumerate(VARIANTS + BASELINES)}))
    return key.sort_values(["_p", "_v", "fold_index"], kind="stable").drop(columns=["_p", "_v"]).reset_index(drop=True)


def load_results(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The tidy results table of every finished fold under ``out_dir``."""
    rows = [result_row(m) for _, m in _finished_metrics(sorted(Path(out_dir).glob(f"*/*/*/{DONE}")))]
    return order_rows(pd.DataFrame(rows, columns=list(result_row({}))))


def _finished(out_dir: str | os.PathLike, protocol: str, variant: str) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, metrics.json) of every finished fold of one protocol and variant, in fold order."""
    found = _finished_metrics(sorted(Path(out_dir, protocol, variant).glob(f"*/{DONE}")))
    return sorted(found, key=lambda dm: dm[1].get("fold_index", 0))


def fold_dirs(out_dir: str | os.PathLike, protocol: str, variant: str) -> list[Path]:
    """Finished fold folders of one protocol and variant, in fold order."""
    return [d for d, _ in _finished(out_dir, protocol, variant)]


def fold_config(fold_dir: str | os.PathLike) -> TSINConfig:
    """The config a finished fold was trained with, read from its ``metrics.json`` under today's field names.

    A field this version no longer has (retired at a value that behaves otherwise) is a ValueError naming it:
    today's model could not be what that fold trained.
    """
    path = Path(fold_dir) / "metrics.json"
    return _saved_config(json.loads(path.read_text()), path)


def _saved_config(metrics: Mapping[str, Any], path: Path) -> TSINConfig:
    """:func:`fold_config` of a ``metrics.json`` already read (``path`` names it in the error)."""
    saved = upgrade_config_dict(metrics["config"])
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(TSINConfig)})
    if unknown:
        raise ValueError(f"{path}: the fold was trained with settings this version does not have: {', '.join(unknown)}")
    return TSINConfig(**saved)


def load_trained_fold(corpus: pd.DataFrame, fold_dir: str | os.PathLike, cache: str | os.PathLike,
                      variant: str | None = None) -> tuple[TSINConfig, FeatureStore, torch.nn.Module]:
    """The config (widths from the store), feature store and model of one finished deep fold, in eval mode.

    The model holds the weights of the fold's ``checkpoint.pt`` (the last epoch trained); ``variant`` defaults to
    the one ``metrics.json`` names. ``corpus`` is the manifest the fold was trained on (:func:`tsin_nb.data.load_corpus`).
    The store is kept for the next fold with the same feature settings (:func:`tsin_nb.runs.jobs.cached_store`).
    """
    path = Path(fold_dir) / "metrics.json"
    metrics = json.loads(path.read_text())
    cfg = _saved_config(metrics, path)
    key = store_key(manifest_key(corpus), cfg, cache)  # the folds of one run share their store, as in training
    store = cached_store(key, lambda: build_feature_store(corpus, cfg, cache, progress=False))
    cfg = config_for_store(cfg, store)
    model = build_model(cfg, variant or metrics.get("variant", "tsin")).eval()
    model.load_state_dict(torch.load(path.parent / CHECKPOINT, map_location="cpu", weights_only=True)["model"])
    return cfg, store, model


def load_metrics(out_dir: str | os.PathLike, protocol: str, variant: str) -> list[dict[str, Any]]:
    """``metrics.json`` of every finished fold of one protocol and variant (confusion counts included)."""
    return [m for _, m in _finished(out_dir, protocol, variant)]


def load_outputs(out_dir: str | os.PathLike, protocol: str, variant: str, fold: int | str = 0) -> dict[str, np.ndarray]:
    """The saved test outputs (ids, labels, preds, embeddings, alignments, weights) of one fold.

    ``fold`` is a fold name (``Session1``) or the position among the finished folds.
    """
    folder = Path(out_dir, protocol, variant, safe_fold_dirname(fold)) if isinstance(fold, str) else None
    if folder is None:
        dirs = fold_dirs(out_dir, protocol, variant)
        if fold >= len(dirs):
            raise FileNotFoundError(f"{out_dir}/{protocol}/{variant} has {len(dirs)} finished folds; "
                                    f"fold {fold} is not among them (run it with run_experiment first)")
        folder = dirs[fold]
    if not (folder / DONE).exists():
        raise FileNotFoundError(f"{folder} holds no finished fold (no {DONE} marker); run it first")
    with np.load(folder / "outputs.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# --------------------------------------------------------------- tables ---


def _results(results: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    return results if isinstance(results, pd.DataFrame) else load_results(results)


def table_one(results: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """Table I: TSIN's WA / UA (%) per test fold and their mean, beside the paper's, per protocol."""
    res = _results(results)
    res = res[res["variant"] == "tsin"]
    rows = []
    for protocol in [p for p in PROTOCOLS if p in set(res["protocol"])]:
        ours = res[res["protocol"] == protocol].set_index("fold")
        matched = protocol in PAPER_FOLDS_MATCH
        paper = {name: (wa, ua) for name, wa, ua in PAPER_TABLE_ONE[protocol]} if matched else {}
        names = [n for n, _, _ in PAPER_TABLE_ONE[protocol]] if matched else []
        names += [f for f in ours.index if f not in names]
        for name in names:
            run = name in ours.index
            rows.append({
                "protocol": protocol, "test set": name,
                "WA": 100 * ours.at[name, "wa"] if run else math.nan,
                "UA": 100 * ours.at[name, "ua"] if run else math.nan,
                "paper WA": paper.get(name, (math.nan,))[0], "paper UA": paper.get(name, (math.nan, math.nan))[1],
            })
        n_run, n_all = len(ours), int(ours["n_folds"].max())
        rows.append({
            "protocol": protocol, "test set": "Mean" if n_run == n_all else f"Mean ({n_run}/{n_all} folds)",
            "WA": 100 * ours["wa"].mean(), "UA": 100 * ours["ua"].mean(),
            "paper WA": PAPER_TABLE_ONE_MEAN[protocol][0], "paper UA": PAPER_TABLE_ONE_MEAN[protocol][1],
        })
    table = pd.DataFrame(rows, columns=["protocol", "test set", "WA", "UA", "paper WA", "paper UA"])
    table.attrs["footnote"] = SPKD_NOTE if "SpkD" in set(table["protocol"]) else ""
    return table


def table_five(results: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """Table V: mean WA / UA (%) over the folds run (and how many), per variant and protocol, beside the paper's."""
    res = _results(results)
    protocols = [p for p in PROTOCOLS if p in set(res["protocol"])] or list(PROTOCOLS)
    columns = pd.MultiIndex.from_product([protocols, ["WA", "UA", "folds", "paper WA", "paper UA"]])
    table = pd.DataFrame(index=pd.Index([VARIANT_LABELS[v] for v in TABLE_FIVE_ROWS], name="Method"),
                         columns=columns, dtype=float)
    for variant in TABLE_FIVE_ROWS:
        label = VARIANT_LABELS[variant]
        paper = PAPER_TABLE_FIVE.get(variant, {}).get
        for protocol in protocols:
            ours = res[(res["variant"] == variant) & (res["protocol"] == protocol)]
            table.loc[label, (protocol, "WA")] = 100 * ours["wa"].mean() if len(ours) else math.nan
            table.loc[label, (protocol, "UA")] = 100 * ours["ua"].mean() if len(ours) else math.nan
            table.loc[label, (protocol, "folds")] = len(ours)  # variants may have run on different folds
            table.loc[label, (protocol, "paper WA")] = paper(protocol, (math.nan, math.nan))[0]
            table.loc[label, (protocol, "paper UA")] = paper(protocol, (math.nan, math.nan))[1]
    return table


def _fmt(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _values(series: pd.Series) -> str:
    vals = sorted({str(v) for v in series.dropna()})
    return ", ".join(vals) if vals else "-"


def _header(res: pd.DataFrame, out_dir: str | os.PathLike) -> str:
    """Where the numbers come from: corpus, preset, epochs, folds, seed, device."""
    folds = "; ".join(
        f"{p} {g['fold'].nunique()}/{int(g['n_folds'].max())}" for p, g in res.groupby("protocol", sort=False)
    )
    return (f"Results in {out_dir}: corpus {_values(res['corpus'])} ({_values(res['corpus_kind'])}) | preset {_values(res['preset'])} | "
            f"epochs {_values(res.loc[~res['variant'].isin(BASELINES), 'epochs'])} | folds {folds} | seed {_values(res['seed'])} | "
            f"device {_values(res['device'])} | torch {torch.__version__}")


def _table_one_layout(t1: pd.DataFrame) -> str:
    """Table I in the paper's layout: the protocols side by side, Mean in the last row."""
    blocks = []
    for protocol, g in t1.groupby("protocol", sort=False):
        body, mean = g.iloc[:-1], g.iloc[-1]
        cells = [[r["test set"], *(_fmt(r[c]) for c in ("WA", "UA", "paper WA", "paper UA"))]
                 for _, r in body.iterrows()]
        blocks.append((protocol, cells, [mean["test set"], *(_fmt(mean[c]) for c in ("WA", "UA", "paper WA",
                                                                                          "paper UA"))]))
    height = max(len(cells) for _, cells, _ in blocks)
    data: dict[tuple[str, str], list[str]] = {}
    for protocol, cells, mean in blocks:
        cells = cells + [["-"] * 5] * (height - len(cells)) + [mean]
        for j, col in enumerate(("Test set", "WA", "UA", "paper WA", "paper UA")):
            data[(protocol, col)] = [c[j] for c in cells]
    return pd.DataFrame(data).to_string(index=False)


def format_tables(out_dir: str | os.PathLike) -> str:
    """Tables I and V from the results under ``out_dir``, ours beside the paper's, as text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = load_results(out_dir)
    left_out = [f"Left out: {w.message}" for w in caught]
    if res.empty:
        return "\n".join([f"No finished folds under {out_dir} (run `tsin-nb run ... --out {out_dir}` first).",
                          *left_out])
    lines = [_header(res, out_dir), *left_out, ""]
    t1 = table_one(res)
    lines.append("Table I. TSIN, WA and UA (%) per test set (paper columns: the paper's Table I).")
    lines.append(_table_one_layout(t1) if len(t1) else "(no TSIN results)")
    if t1.attrs.get("footnote"):
        lines.append(t1.attrs["footnote"])
    lines += ["", "Table V. Ablations, mean WA and UA (%) over the folds run (paper columns: the paper's Table V)."]
    t5 = table_five(res)
    whole = {c: (lambda v: "-" if pd.isna(v) else str(int(v))) for c in t5.columns if c[1] == "folds"}
    lines.append(t5.to_string(float_format=_fmt, formatters=whole, na_rep="-"))
    return "\n".join(lines)


def read_metrics(path: str | os.PathLike, expect: Mapping[str, str] | None = None) -> tuple[dict[str, Any] | None, str]:
    """(metrics.json as a dict, "") or (None, why it cannot be used): unreadable, not JSON, or not its folder's."""
    path = Path(path)
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"{path} is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path} cannot be read as JSON ({err})"
    if not isinstance(m, dict) or not {"wa", "ua"} <= set(m):
        return None, f"{path} is not a metrics file of tsin-nb run (no wa / ua)"
    wrong = [f"{k} {m.get(k)!r} != {v!r}" for k, v in (expect or {}).items() if m.get(k) is not None and m.get(k) != v]
    if wrong:
        return None, f"{path} disagrees with its folder ({'; '.join(wrong)})"
    return m, ""
