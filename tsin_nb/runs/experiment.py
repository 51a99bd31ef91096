"""Run protocol x variant x fold, save every fold's results as files, and rebuild Tables I and V.

Layout: ``OUT/<protocol>/<variant>/<fold>/`` holds ``metrics.json``, ``predictions.csv``,
``history.csv``, ``outputs.npz``, ``checkpoint.pt``, ``content.json.gz`` and, written last, ``DONE``;
``<fold>`` is ``core.safe_fold_dirname(fold name)``. ``OUT/dropped.csv`` lists the utterances the
corpus reader dropped. A re-run skips folds with ``DONE`` when they were trained on the same content, and
resumes the others from their checkpoint. Each fold to run is one job
(:mod:`tsin_nb.runs.jobs`): one after another in this process, in local worker processes, or on a Dask cluster.
Reading the results back and the tables live in :mod:`tsin_nb.runs.results`.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tsin_nb.core import (
    BASELINES,
    EMOTIONS,
    PROTOCOLS,
    VARIANTS,
    TSINConfig,
    atomic_write_bytes,
    check_fold_dirnames,
    safe_fold_dirname,
    set_seed,
)
from tsin_nb.data import DAMAGED_FILE, DROPPED_FILE, load_corpus, report_damaged, report_drops
from tsin_nb.features import FeatureStore, build_feature_store, config_for_store
from tsin_nb.model import build_model
from tsin_nb.runs.content import (
    check_finished_fold,
    content_stamps,
    content_summary,
    fold_content,
    tie_fold_to_content,
)
from tsin_nb.runs.folds import make_folds
from tsin_nb.runs.jobs import (
    Job,
    JobFn,
    JobsFailed,
    Plan,
    cached_store,
    manifest_key,
    plan_jobs,
    run_jobs,
    store_key,
)
from tsin_nb.runs.results import (
    DONE,
    order_rows,
    read_metrics,
    result_row,
)
from tsin_nb.train import FitResult, config_diff, fit, fit_linear, fold_digest, set_aside

#: Columns of the per-fold status table that ``run_experiment`` attaches to its results (see :func:`fold_status`).
STATUS_COLUMNS = ("protocol", "variant", "fold", "status", "wall_s")
#: What happened to a fold in one call: fitted now, finished before and reused, or failed (traceback in train.log).
STATUSES = ("trained", "reused", "failed")

#: Config fields copied from the feature store (``config_for_store``), not chosen by the run.
STORE_FIELDS = ("n_frames", "n_words", "n_mels", "speech_dim", "text_dim")

# -------------------------------------------------------------- helpers ---


def _names(value: str | Sequence[str], valid: Sequence[str], what: str) -> tuple[str, ...]:
    """``"a,b"``, ``"all"`` or a sequence of names, checked against ``valid``."""
    items = (tuple(valid) if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())) \
        if isinstance(value, str) else tuple(value)
    unknown = [v for v in items if v not in valid]
    if unknown or not items:
        raise ValueError(f"unknown {what} {unknown or value!r}; choose from {', '.join(valid)} or 'all'")
    return items


def _config(preset: str | TSINConfig, epochs: int | None, seed: int, text_model: str | None) -> TSINConfig:
    """The run's config: a preset (or a config) with epochs, seed and text model applied."""
    cfg = preset if isinstance(preset, TSINConfig) else TSINConfig.preset(preset)
    changes: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        changes["epochs"] = epochs
    if text_model is not None:
        changes["text_model"] = str(text_model)
    return cfg.replace(**changes)


def _manifest(corpus: str | os.PathLike | pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """The manifest, a description of where it came from, and its kind."""
    if isinstance(corpus, pd.DataFrame):
        return corpus, str(corpus.attrs.get("root", "<DataFrame>")), str(corpus.attrs.get("kind", "manifest"))
    manifest = load_corpus(corpus)
    root = Path(corpus).expanduser().resolve()
    kind = "synthetic" if (root / ".tsin_synth.json").exists() else str(manifest.attrs.get("kind", ""))
    return manifest, str(root), kind


def _json_default(o: Any) -> Any:
    """JSON for numpy scalars and arrays."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, default=_json_default).encode())


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_bytes(path, df.to_csv(index=False).encode())


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict without the fields copied from the feature store."""
    return {k: v for k, v in config.items() if k not in STORE_FIELDS}


def save_fold(fold_dir: str | Path, result: FitResult, meta: dict[str, Any]) -> dict[str, Any]:
    """Write metrics.json, predictions.csv, history.csv and outputs.npz of one fold, then DONE."""
    fold_dir = Path(fold_dir)
    labels = [EMOTIONS[i] for i in result.labels]
    preds = [EMOTIONS[i] for i in result.preds]
    pred_df = pd.DataFrame({"utt_id": result.ids, "label": labels, "pred": preds})
    for c, e in enumerate(EMOTIONS):
        pred_df[f"p_{e}"] = result.probs[:, c]
    _write_csv(fold_dir / "predictions.csv", pred_df)
    _write_csv(fold_dir / "history.csv", pd.DataFrame(result.history))

    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray(result.ids, dtype=str), "labels": result.labels, "preds": result.preds,
        "probs": result.probs.astype(np.float32), "embeddings": result.embeddings.astype(np.float32),
        "word_mask": result.word_mask,
    }
    if result.alignments is not None:
        arrays["alignments"] = result.alignments.astype(np.float16)  # (U, M, N') can be large
    for key in ("speech_weights", "text_weights"):
        value = getattr(result, key)
        if value is not None:
            arrays[key] = value.astype(np.float32)
    for key, value in (result.speech_stats or {}).items():  # the fold's speech normalisation (F,)
        arrays[f"speech_{key}"] = np.asarray(value, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(fold_dir / "outputs.npz", buf.getvalue())

    metrics = {
        **meta,
        "wa": result.metrics["wa"], "ua": result.metrics["ua"],
        "confusion": np.asarray(result.metrics["confusion"]).astype(int).tolist(),
        "n_test": result.metrics["n_test"], "epochs": result.epochs,
        **{k: v for k, v in result.metrics.items() if k not in ("wa", "ua", "confusion", "n_test")}, "selected_epoch": result.selected_epoch,
        "wall_s": result.wall_s, "device": result.device, "variant": result.variant, "fold": result.fold,
        "seed": result.config.get("seed"), "config": result.config, "torch": torch.__version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _write_json(fold_dir / "metrics.json", metrics)
    atomic_write_bytes(fold_dir / DONE, b"")
    return metrics


def _done_metrics(fold_dir: Path, log: Any) -> dict[str, Any] | None:
    """metrics.json of a finished fold; None when unfinished, or when damaged (then set aside, DONE removed)."""
    if not (fold_dir / DONE).exists():
        return None
    done, why = read_metrics(fold_dir / "metrics.json")
    if done is None:
        aside = set_aside(fold_dir / "metrics.json") if (fold_dir / "metrics.json").exists() else None
        (fold_dir / DONE).unlink()
        msg = f"{why}; {'set aside as ' + aside.name + ', ' if aside else ''}running this fold again"
        warnings.warn(msg, stacklevel=3)
        log(msg)
    return done


# ----------------------------------------------------------- experiment ---


def run_experiment(corpus: str | os.PathLike | pd.DataFrame, out_dir: str | os.PathLike, *, jobs: int = 1,
                   threads_per_job: int = 1, scheduler: str | os.PathLike | None = None, jobs_per_gpu: int = 1,
                   **run: Any) -> pd.DataFrame:
    """Fit every protocol x variant x fold (the first ``folds`` folds when given) and save each under ``out_dir``.

    ``run`` holds :func:`prepare_experiment`'s settings (``protocols``, ``variants``, ``preset``, ``epochs``,
    ``folds``, ``seed``, ``cache_dir``, ``text_model``, ``device``, ``progress``, ``log``). ``jobs`` folds run at
    once (0: one per CPU core, or ``jobs_per_gpu`` per GPU), each with ``threads_per_job`` torch threads whatever
    ``jobs`` is, so the results do not change; ``scheduler`` (a Dask scheduler address or file) runs them on that
    cluster. Failed folds raise :class:`tsin_nb.runs.JobsFailed` after the others finish.

    The results table (one row per fold) carries the call's per-fold status table in ``attrs["status"]``, read with
    :func:`fold_status`: each fold ``trained`` now, ``reused`` from an earlier run, or ``failed`` (then the table
    is the ``status`` attribute of the raised ``JobsFailed``). Several runs at once: :func:`prepare_experiment`
    for each, then one :func:`run_prepared`.
    """
    plan = plan_jobs(jobs, threads_per_job, scheduler, jobs_per_gpu, run.get("device", "auto"))  # before any write
    prepared = prepare_experiment(corpus, out_dir, **run)
    return run_prepared([prepared], plan, progress=run.get("progress", True), log=run.get("log", print))[0]


@dataclass
class PreparedRun:
    """One run of :func:`run_experiment`, planned and not yet trained: what it reuses and the jobs it needs."""

    manifest: pd.DataFrame
    manifest_digest: str  # :func:`tsin_nb.runs.jobs.manifest_key`: runs trained together share the manifest
    rows: list[dict[str, Any]]  # the result rows of folds finished before
    todo: list[Job]  # the folds to train
    status: list[dict[str, Any]]  # one row per fold, in plan order
    stores: dict[str, FeatureStore]  # feature stores this process built, by store key


def prepare_experiment(
    corpus: str | os.PathLike | pd.DataFrame,
    out_dir: str | os.PathLike,
    protocols: str | Sequence[str] = ("SesI",),
    variants: str | Sequence[str] = ("tsin",),
    preset: str | TSINConfig = "cpu",
    epochs: int | None = None,
    folds: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    text_model: str | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Any = print,
    stores: dict[str, FeatureStore] | None = None,
) -> PreparedRun:
    """Everything :func:`run_experiment` does before training, for :func:`run_prepared`.

    Checks the arguments, reports dropped and damaged utterances, builds (or reads) the feature store, reuses the
    finished folds and refuses folders of another run. ``stores`` holds feature stores built for earlier runs (by
    store key; a run of the same features reuses them) and receives this run's.
    """
    protocols = _names(protocols, PROTOCOLS, "protocol")
    variants = _names(variants, VARIANTS + BASELINES, "variant")
    if folds is not None and folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    log = log or (lambda _msg: None)
    out = Path(out_dir)
    cfg = _config(preset, epochs, seed, text_model)
    preset_name = preset if isinstance(preset, str) else "custom"
    manifest, corpus_name, corpus_kind = _manifest(corpus)
    log(report_drops(manifest, out / DROPPED_FILE))
    damaged = report_damaged(manifest, out / DAMAGED_FILE)
    if damaged:
        log(damaged)
    stamps = content_stamps(manifest)
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    per_fold_store = cfg.text_model.startswith("onehot")  # its vocabulary comes from each fold's training part
    digest = manifest_key(manifest)
    stores = {} if stores is None else stores
    key = store_key(digest, cfg, cache)
    if not per_fold_store and key not in stores:
        stores[key] = build_feature_store(manifest, cfg, cache, text_model=cfg.text_model, progress=progress)
    store = None if per_fold_store else stores[key]  # workers load theirs from the cache
    rows, todo, status = [], [], []
    for protocol in protocols:
        all_folds = make_folds(manifest, protocol, seed=seed, val_fraction=cfg.val_fraction)
        chosen = all_folds[:folds] if folds else all_folds
        check_fold_dirnames(f.name for f in all_folds)
        for variant in variants:
            for i, fold in enumerate(chosen):
                fold_dir = out / protocol / variant / safe_fold_dirname(fold.name)
                fold_store = store if store is not None else build_feature_store(
                    manifest, cfg, cache, text_model=cfg.text_model, progress=progress, train_ids=fold.train)
                content = fold_content(manifest, fold, fold_store, stamps)
                meta = {"protocol": protocol, "fold_index": i, "n_folds": len(all_folds), "folds_limit": folds,
                        "preset": preset_name, "corpus": corpus_name, "corpus_kind": corpus_kind,
                        "n_train": len(fold.train), "n_val": len(fold.val), "fold_digest": fold_digest(fold),
                        "content": content_summary(content), "n_dropped": len(manifest.attrs.get("skipped", []))}
                done = _done_metrics(fold_dir, log)
                if done is not None:
                    diff = config_diff(_comparable(done.get("config", {})), _comparable(cfg.to_dict()))
                    if done.get("fold_digest", meta["fold_digest"]) != meta["fold_digest"]:
                        diff.append(f"fold utterances differ (corpus {done.get('corpus')!r} then, {corpus_name!r} now)")
                    diff += check_finished_fold(fold_dir, done, content, log)
                    if diff:
                        raise ValueError(f"{fold_dir} holds a finished fold of another run ({'; '.join(diff)}); "
                                         "use another out_dir or delete that folder")
                    log(f"{protocol} {variant} {fold.name}: done before, skipped")
                    rows.append(result_row(done))
                    status.append(_status(protocol, variant, fold.name, "reused", done.get("wall_s")))
                    continue
                key = store_key(digest, cfg, cache, fold.train if per_fold_store else None)
                if per_fold_store and not todo:  # computes and caches the speech features here, once
                    stores[key] = build_feature_store(manifest, cfg, cache, text_model=cfg.text_model,
                                                      progress=progress, train_ids=fold.train)
                status.append(_status(protocol, variant, fold.name, "trained", None))  # filled in after the run
                todo.append(Job(protocol, variant, fold, str(fold_dir.resolve()), cfg, meta, str(cache.resolve()), device,
                                key, per_fold_store, content))  # absolute: a worker may run elsewhere
    return PreparedRun(manifest, digest, rows, todo, status, stores)


#: Variants by their time per fold, longest first (the fusion models, then one encoder, then the linear baselines).
COST_RANK = {"tsin": 0, "no_si": 0, "no_ta": 0, "speech": 1, "text": 2, **{b: 3 for b in BASELINES}}


def longest_first(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` with the slowest variants first (``COST_RANK``; order kept within a rank).

    Workers take jobs in that order, so the last jobs to start are short ones and no worker waits long for another
    to finish its last fold. Every job trains alone with its own seed, so the order changes no result.
    """
    return sorted(jobs, key=lambda job: COST_RANK.get(job.variant, 0))


def run_prepared(prepared: Sequence[PreparedRun], plan: Plan, progress: bool = True,
                 log: Any = print) -> list[pd.DataFrame]:
    """Train the jobs of every prepared run as one set (one local cluster, longest first); one table per run.

    Each table is what :func:`run_experiment` returns for that run. When some jobs fail, the others finish and
    :class:`tsin_nb.runs.JobsFailed` is raised with the status table of every run in ``status``.
    """
    if len({p.manifest_digest for p in prepared}) > 1:
        raise ValueError("runs trained together must share one manifest (corpus); train the others separately")
    if not prepared:
        return []
    todo = longest_first([job for p in prepared for job in p.todo])
    stores = {k: v for p in prepared for k, v in p.stores.items()}
    try:
        trained = run_jobs(todo, prepared[0].manifest, functools.partial(_with_fold_dir, run_fold), plan,
                           progress=progress, log=log,
                           done=sum(len(p.rows) for p in prepared), stores=stores)
    except JobsFailed as err:  # the table goes with the error: which folds finished, which failed
        failed = {job.fold_dir for job, _ in err.failures}
        err.status = pd.concat([_status_table(p.status, _rows_of(p, err.rows), [j for j in p.todo if j.fold_dir in failed])
                                for p in prepared], ignore_index=True)
        raise
    tables = []
    for p in prepared:
        mine = _rows_of(p, trained)
        results = order_rows(pd.DataFrame(p.rows + mine, columns=list(result_row({}))))
        results.attrs["status"] = tuple(_status_table(p.status, mine, []).to_dict("records"))
        tables.append(results)
    return tables


def _rows_of(prepared: PreparedRun, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`_with_fold_dir` that belong to ``prepared``'s jobs (by fold folder)."""
    dirs = {job.fold_dir for job in prepared.todo}
    return [row for row in rows if row["fold_dir"] in dirs]


def _status(protocol: str, variant: str, fold: str, status: str, wall_s: Any) -> dict[str, Any]:
    return {"protocol": protocol, "variant": variant, "fold": fold, "status": status,
            "wall_s": float(wall_s) if wall_s is not None else float("nan")}


def _status_table(status: list[dict[str, Any]], trained: Sequence[dict[str, Any]],
                  failed: Sequence[Job]) -> pd.DataFrame:
    """One row per fold of the call, in plan order: reused, trained now (wall_s of the fit) or failed."""
    fitted = {(r["protocol"], r["variant"], r["fold"]): r.get("wall_s") for r in trained}
    bad = {(j.protocol, j.variant, j.fold.name) for j in failed}
    rows = []
    for row in status:
        key = (row["protocol"], row["variant"], row["fold"])
        if row["status"] != "reused":
            row = _status(*key, "failed" if key in bad else "trained", None if key in bad else fitted.get(key))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(STATUS_COLUMNS))


def fold_status(results: pd.DataFrame) -> pd.DataFrame:
    """The per-fold status table of a ``run_experiment`` result: protocol, variant, fold, status, wall_s."""
    return pd.DataFrame(list(results.attrs.get("status", ())), columns=list(STATUS_COLUMNS))


def _with_fold_dir(fn: JobFn, job: Job, manifest: pd.DataFrame, log: Any) -> dict[str, Any]:
    """``fn``'s row with the job's ``fold_dir``, which tells apart the runs of one :func:`run_prepared`."""
    return {**fn(job, manifest, log), "fold_dir": job.fold_dir}


def run_fold(job: Job, manifest: pd.DataFrame, log: Any) -> dict[str, Any]:
    """Fit one protocol x variant x fold on the cached features and save it; the results row (runs in a worker)."""
    fold, cfg = job.fold, job.cfg
    if job.content is not None:  # a checkpoint of other data is refused, one of unknown data set aside
        tie_fold_to_content(job.fold_dir, job.content, log)
    fold_store = cached_store(job.store_key, lambda: build_feature_store(
        manifest, cfg, job.cache_dir, text_model=cfg.text_model, progress=False,
        train_ids=fold.train if job.per_fold_store else None))
    fold_cfg = config_for_store(cfg, fold_store)
    if job.variant in BASELINES:
        result = fit_linear(fold_store, fold, fold_cfg, job.variant)
        log(f"{job.name}: test WA {100 * result.metrics['wa']:.2f} UA {100 * result.metrics['ua']:.2f} "
            f"(C = {result.metrics['C']:g})")
    else:
        set_seed(fold_cfg.seed)  # the same initial weights whatever ran before
        model = build_model(fold_cfg, job.variant)
        result = fit(model, fold_store, fold, fold_cfg, out_dir=job.fold_dir, resume=True, device=job.device,
                     progress=False, log=log)
    return result_row(save_fold(job.fold_dir, result, job.meta))
