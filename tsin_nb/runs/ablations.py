"""Notebook 06's plumbing: Table V's frames for the bar figure and the record, and Fig. 4's runs, one per word
embedding, gathered into one long table (embedding, protocol, metric, value in %).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tsin_nb.core import VARIANT_LABELS, listed
from tsin_nb.runs.intervals import compare_each, mean_intervals
from tsin_nb.runs.results import fold_dirs, load_metrics

EmbeddingRuns = tuple[pd.DataFrame, dict[str, tuple[int, int]]]
Folders = str | os.PathLike | Sequence[str | os.PathLike]


class Trains(Protocol):
    """What :func:`train_embeddings` needs of a ``Workbook``: ``train_many``, ``results_for``, ``cfg.text_model``."""

    @property
    def cfg(self) -> Any: ...

    def train_many(self, runs: Sequence[Mapping[str, Any]]) -> list[pd.DataFrame]: ...

    def results_for(self, tag: str = "") -> Path: ...


def table_five_bars(t5: pd.DataFrame, runs: Folders, protocols: str | Sequence[str],
                    variants: str | Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Table V as ``plot_table_bars`` takes it: (ours, paper, err), rows the variants this run has values for.

    ``ours``: WA and UA per protocol (``table_five``'s columns); ``paper``: the paper's WA / UA under the same
    column names; ``err``: the half width of the 95 % interval of each mean over folds x seeds (``mean_intervals``
    over the results folders ``runs``, one per training seed).
    """
    ours = t5.loc[:, (slice(None), ["WA", "UA"])].dropna(how="all")
    paper = t5.loc[ours.index, (slice(None), ["paper WA", "paper UA"])]
    paper = paper.rename(columns=lambda c: c.removeprefix("paper "), level=1)
    err = pd.DataFrame({(p, m.upper()): mean_intervals(runs, p, listed(variants), metric=m)
                        .set_index("variant")["half_width"].rename(index=VARIANT_LABELS)
                        for p in listed(protocols) for m in ("wa", "ua")}).reindex(ours.index)
    return ours, paper, err


def table_five_record(runs: Folders, protocols: str | Sequence[str], variants: str | Sequence[str],
                      against: str = "tsin") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparisons, means) for the record: ``against`` paired with every other variant (``compare_each``, UA
    then WA) and every variant's mean with its interval (``mean_intervals``, WA then UA, with protocol and metric
    columns), over the results folders ``runs``."""
    protocols, variants = listed(protocols), listed(variants)
    comparisons = pd.concat([compare_each(runs, p, against, variants, metric=m)
                             for p in protocols for m in ("ua", "wa")], ignore_index=True)
    means = pd.concat([mean_intervals(runs, p, variants, metric=m).assign(protocol=p, metric=m)
                       for p in protocols for m in ("wa", "ua")])
    return comparisons, means


def train_embeddings(wb: Trains, word_embeddings: str | Sequence[str], static_vectors: str, protocols: str,
                     folds: int | None,
                     failed_run: Callable[[pd.DataFrame, float], bool]) -> EmbeddingRuns:
    """Train (or reuse) TSIN once per word embedding (Fig. 4); the long table and the runs that did not train.

    ``word_embeddings`` are text-model kinds (``"minilm,onehot,random"``); a non-empty ``static_vectors`` path adds
    ``static:<path>``. The run's own text model (``wb.cfg.text_model``) uses the run's folder, every other kind a
    folder tagged with its name. ``failed_run(history, ua)`` says whether one fold did not train (e.g.
    ``show.did_not_train``): a kind whose every fold failed is labelled ``"<name> (did not train)"``. Returns the
    table (embedding, protocol, metric ``"WA"``/``"UA"``, value: mean over folds in %) and
    ``{name: (failed folds, folds)}``.
    """
    kinds = [*listed(word_embeddings), *([f"static:{static_vectors}"] if static_vectors else [])]
    rows: list[dict[str, Any]] = []
    failed: dict[str, tuple[int, int]] = {}
    names = [kind.split(":")[0] for kind in kinds]
    tags = ["" if kind == wb.cfg.text_model else name for kind, name in zip(kinds, names)]
    tables = wb.train_many([{"variants": "tsin", "protocols": protocols, "folds": folds, "text_model": kind, "tag": tag}
                            for kind, tag in zip(kinds, tags)])  # one set of jobs
    for name, tag, res in zip(names, tags, tables):
        res = res[res["variant"] == "tsin"]
        out = wb.results_for(tag)
        flat = [failed_run(pd.read_csv(d / "history.csv"), m["ua"])
                for p in res["protocol"].unique()
                for d, m in zip(fold_dirs(out, p, "tsin"), load_metrics(out, p, "tsin"))
                if m["fold"] in set(res["fold"])]
        failed[name] = (sum(flat), len(flat))
        label = f"{name} (did not train)" if flat and all(flat) else name
        rows += [{"embedding": label, "protocol": protocol, "metric": m.upper(), "value": 100 * g[m].mean()}
                 for protocol, g in res.groupby("protocol") for m in ("wa", "ua")]
    return pd.DataFrame(rows, columns=["embedding", "protocol", "metric", "value"]), failed


def embedding_means(fig4: pd.DataFrame, metric: str = "UA") -> Mapping[str, float]:
    """``metric`` per embedding name (mean over protocols, in %), the "(did not train)" mark taken off the name."""
    if fig4.empty:
        return {}
    values = fig4[fig4["metric"] == metric].groupby("embedding", sort=False)["value"].mean()
    return {str(k).split(" (")[0]: float(v) for k, v in values.items()}
