"""Fit one fold (Section IV-B-2): Adam + StepLR, seeded shuffling, checkpoints, exact resume.

Model selection never sees the test fold (the paper describes none): ``cfg.select="last"`` keeps the
last epoch, ``"val"`` the epoch with the best UA on ``fold.val``. The test ids are checked to be
disjoint from the train and validation ids, and are evaluated once, after training.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tsin_nb.core import (
    EMOTIONS,
    TSINConfig,
    atomic_torch_save,
    get_device,
    set_seed,
    show_progress,
    upgrade_config_dict,
)
from tsin_nb.features import FeatureStore, frame_statistics
from tsin_nb.model import build_model, loss_fn, word_match_loss
from tsin_nb.train.batches import autocast, cut_batch, pad_to, store_tensors, train_batches
from tsin_nb.train.checkpoints import load_checkpoint_or_set_aside
from tsin_nb.train.metrics import confusion, unweighted_accuracy, weighted_accuracy
from tsin_nb.train.spans import alignment_loss, batch_spans, span_kwargs, span_targets
from tsin_nb.train.steps import ctc_warmup, optimizer_step, prior_weight_at

CHECKPOINT = "checkpoint.pt"
#: Config fields that only steer training; the model's own config may differ from ``fit``'s in these.
TRAINING_FIELDS = ("epochs", "batch_size", "lr", "weight_decay", "lr_step", "lr_gamma", "val_fraction", "select", "seed",
                   "grad_clip", "align_loss")


@dataclass
class FitResult:
    """Test-fold metrics and outputs of one fitted fold (arrays are numpy, rows follow ``ids``)."""

    metrics: dict[str, Any]  # wa, ua, confusion (C, C) counts, n_test
    ids: list[str]
    labels: np.ndarray  # (U,) int64
    preds: np.ndarray  # (U,) int64
    probs: np.ndarray  # (U, C) float32
    embeddings: np.ndarray  # (U, D') float32
    alignments: np.ndarray | None  # (U, M, N') float32
    speech_weights: np.ndarray | None  # (U, M) float32
    text_weights: np.ndarray | None  # (U, M) float32
    word_mask: np.ndarray  # (U, M) bool
    history: list[dict[str, float]]
    wall_s: float
    device: str
    variant: str
    fold: str
    epochs: int  # epochs trained so far
    selected_epoch: int
    finished: bool  # False when ``max_epochs_this_call`` stopped training early
    config: dict[str, Any] = field(default_factory=dict)
    speech_stats: dict[str, np.ndarray] | None = None  # {"mean", "std"} (F,) of cfg.speech_norm="fold"


# ------------------------------------------------------------ checks ---


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``field: a != b`` for every field where two config dicts disagree.

    A field missing from one side takes its :class:`TSINConfig` default: results and checkpoints saved
    before a field existed were made with that default, which every new field keeps as the old behaviour.
    """
    defaults = TSINConfig().to_dict()
    a, b = {**defaults, **upgrade_config_dict(a)}, {**defaults, **upgrade_config_dict(b)}
    return [f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def fold_digest(fold: Any) -> str:
    """Short hash of the fold's id lists, in order."""
    blob = json.dumps([list(fold.train), list(fold.val), list(fold.test)]).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def _fold_index(store: FeatureStore, fold: Any, part: str) -> torch.Tensor:
    """Store rows of one fold part; ids missing from the store are a ValueError naming them."""
    ids = list(getattr(fold, part))
    try:
        return store.index(ids)
    except KeyError as err:
        known = set(store.ids)
        missing = [u for u in ids if u not in known]
        raise ValueError(
            f"fold {fold.name!r}: {len(missing)} {part} ids are not in the feature store, e.g. {missing[:3]}; "
            "build the store from the same manifest as the folds"
        ) from err


def check_inputs(model: nn.Module, store: FeatureStore, fold: Any, cfg: TSINConfig) -> dict[str, torch.Tensor]:
    """Validate model, store, fold and config together; return the train/val/test row indices."""
    store.check(cfg)
    stored_norm = store.settings.get("speech_norm")
    wanted_norm = "none" if cfg.speech_norm == "fold" else cfg.speech_norm
    if stored_norm is not None and stored_norm != wanted_norm:
        raise ValueError(f"the feature store was built with speech_norm={stored_norm!r}, but cfg.speech_norm="
                         f"{cfg.speech_norm!r} needs {wanted_norm!r}; rebuild it with build_feature_store(manifest, cfg, ...)")
    model_cfg = getattr(model, "cfg", None)
    if isinstance(model_cfg, TSINConfig):
        diff = [d for d in config_diff(model_cfg.to_dict(), cfg.to_dict()) if d.split(":")[0] not in TRAINING_FIELDS]
        if diff:
            raise ValueError(f"the model was built with another config than fit's (model != cfg: {'; '.join(diff)})")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"epochs ({cfg.epochs}) and batch_size ({cfg.batch_size}) must be at least 1")
    for part in ("train", "test"):
        if len(getattr(fold, part)) == 0:
            raise ValueError(f"fold {fold.name!r} has an empty {part} part")
    if cfg.select == "val" and len(fold.val) == 0:
        raise ValueError(f"select='val' needs validation ids, but fold {fold.name!r} has an empty val part")
    idx = {part: _fold_index(store, fold, part) for part in ("train", "val", "test")}
    sets = {part: set(i.tolist()) for part, i in idx.items()}
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        shared = sets[a] & sets[b]
        if shared:
            ex = [store.ids[i] for i in sorted(shared)[:3]]
            raise ValueError(f"fold {fold.name!r}: {len(shared)} ids are in both {a} and {b}, e.g. {ex}")
    present = set(store.labels[idx["train"]].tolist())
    missing = [c for c in range(cfg.num_classes) if c not in present]
    if missing:
        names = [EMOTIONS[c] if c < len(EMOTIONS) else str(c) for c in missing]
        raise ValueError(f"fold {fold.name!r}: the training part has no samples of class {', '.join(names)}")
    return idx


def fold_speech_stats(store: FeatureStore, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (F,) of every speech feature over the real frames of the store rows ``rows`` (a training part)."""
    frames = store.speech[rows][store.speech_mask[rows]]  # (real frames, F)
    if len(frames) == 0:
        raise ValueError("the training part has no real speech frame to compute normalisation statistics from")
    mean, std = frame_statistics(frames)  # (F,) x2
    return mean.float(), std.float()


# ------------------------------------------------------- RNG / state ---


def _rng_state() -> dict[str, Any]:
    """Every global RNG state as tensors and plain python types (loadable with weights_only=True)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`_rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (tensors and plain types only)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def _check_checkpoint(ck: dict[str, Any], path: Path, cfg: TSINConfig, variant: str, fold: Any) -> None:
    """ValueError naming every field where the checkpoint and this run disagree."""
    diff = config_diff(ck.get("config", {}), cfg.to_dict())
    if ck.get("variant") != variant:
        diff.append(f"variant: {ck.get('variant')!r} != {variant!r}")
    ck_fold = ck.get("fold", {})
    if ck_fold.get("name") != fold.name:
        diff.append(f"fold: {ck_fold.get('name')!r} != {fold.name!r}")
    elif ck_fold.get("digest") != fold_digest(fold):
        diff.append(f"fold {fold.name!r} ids differ from the ones the checkpoint was trained on")
    if diff:
        raise ValueError(
            f"checkpoint {path} was written by another run (checkpoint != now: {'; '.join(diff)}); "
            "delete it, use another out_dir, or pass resume=False to start over"
        )


@torch.no_grad()
def predict(
    model: nn.Module, data: tuple[torch.Tensor, ...], idx: torch.Tensor, device: torch.device,
    batch_size: int, full: bool = True, pooled: bool = False, spans: torch.Tensor | None = None,
) -> dict[str, np.ndarray | None]:
    """Logits (and, when ``full``, embeddings, alignments and weights) for the store rows ``idx``.

    ``pooled``: ``data`` holds speech already pooled by :func:`pool_once`. ``spans``: :func:`span_targets` of the
    store, passed to a model that reads the true spans (``needs_spans``).
    """
    model.eval()
    keys = ("logits", "embedding", "alignment", "speech_weights", "text_weights") if full else ("logits",)
    out: dict[str, list[torch.Tensor] | None] = {k: [] for k in keys}
    stride = 1 if pooled else int(getattr(getattr(model, "cfg", None), "speech_stride", 1))
    n_words, n_pooled = data[2].shape[1], data[0].shape[1] // stride
    kw = {"speech_pooled": True} if pooled else {}
    full_shape = {"alignment": (n_words, n_pooled), "speech_weights": (n_words,), "text_weights": (n_words,)}
    for start in range(0, len(idx), batch_size):
        rows = idx[start:start + batch_size]
        speech, speech_mask, text, text_mask, _ = cut_batch(data, rows, device, stride)
        with autocast(device):
            o = model(speech, speech_mask, text, text_mask, **kw,
                      **span_kwargs(spans, rows, text, speech, stride, device))
        for k in keys:
            v = getattr(o, k)
            if v is None:
                out[k] = None
            elif out[k] is not None:
                v = v.float().cpu()
                out[k].append(pad_to(v, full_shape[k]) if k in full_shape else v)  # back to the store's widths
    return {k: (None if v is None else torch.cat(v).numpy()) for k, v in out.items()}


def _val_scores(model: nn.Module, data: tuple[torch.Tensor, ...], idx: torch.Tensor, labels: np.ndarray,
                device: torch.device, batch_size: int, pooled: bool = False,
                spans: torch.Tensor | None = None) -> dict[str, float]:
    """Loss, WA and UA on the validation rows (NaN when there are none)."""
    if len(idx) == 0:
        return {"val_loss": math.nan, "val_wa": math.nan, "val_ua": math.nan}
    logits = predict(model, data, idx, device, batch_size, full=False, pooled=pooled, spans=spans)["logits"]
    y_hat = logits.argmax(axis=1)
    loss = loss_fn(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    return {"val_loss": loss, "val_wa": weighted_accuracy(labels, y_hat), "val_ua": unweighted_accuracy(labels, y_hat)}


def _log_line(fold: str, variant: str, h: dict[str, float], epochs: int) -> str:
    """One log line per epoch."""
    val = "val -" if math.isnan(h["val_ua"]) else f"val WA {100 * h['val_wa']:5.1f} UA {100 * h['val_ua']:5.1f}"
    return (f"{fold} {variant} epoch {h['epoch']:>3}/{epochs}  train loss {h['train_loss']:.4f}  {val}  "
            f"lr {h['lr']:.1e}  ({h['time_s']:.1f} s)")


# -------------------------------------------------------------- fit ---


def fit(
    model: nn.Module,
    store: FeatureStore,
    fold: Any,
    cfg: TSINConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    max_epochs_this_call: int | None = None,
) -> FitResult:
    """Train ``model`` on ``fold.train`` for ``cfg.epochs``, select on ``fold.val``, evaluate ``fold.test`` once."""
    idx = check_inputs(model, store, fold, cfg)
    variant = str(getattr(model, "variant", "tsin"))
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding checkpoint.pt)")
    if log is print and progress:
        log = tqdm.write  # keeps the epoch bar intact
    log = log or (lambda _msg: None)
    dev = get_device(device)
    model.to(dev)
    data, pooled = store_tensors(model, store, dev)  # frame pooling has no parameter: once per store, not per fit
    stride = 1 if pooled else cfg.speech_stride
    kw = {"speech_pooled": True} if pooled else {}
    val_labels = store.labels[idx["val"]].numpy()

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best: dict[str, Any] | None = None  # {"epoch", "ua", "model"} for select="val"
    start = 0

    ckpt_path = Path(out_dir) / CHECKPOINT if out_dir is not None else None
    ck = load_checkpoint_or_set_aside(ckpt_path, log) if resume and ckpt_path is not None and ckpt_path.exists() \
        else None  # a damaged checkpoint is renamed checkpoint.pt.corrupt-N and training starts over
    if ck is not None:
        _check_checkpoint(ck, ckpt_path, cfg, variant, fold)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        generator.set_state(ck["generator"])
        _set_rng_state(ck["rng"])
        history, best, start = list(ck["history"]), ck["best"], int(ck["epoch"])
        log(f"{fold.name} {variant}: resumed from {ckpt_path} after epoch {start}/{cfg.epochs}")
    else:
        set_seed(cfg.seed)  # dropout draws from the global RNG
        if resume:
            log(f"{fold.name} {variant}: no checkpoint in {out_dir}, training from scratch")
        norm = getattr(model, "speech_norm", None)
        if norm is not None:  # statistics of the training part only, never validation or test
            norm.set_stats(*(t.to(dev) for t in fold_speech_stats(store, idx["train"])))
    spans = model_spans = None
    reads_spans = bool(getattr(model, "needs_spans", False))  # cfg.ta_spans: "w/o TA" pools the true spans
    if reads_spans or (cfg.align_loss > 0 and getattr(model, "variant", "") in ("tsin", "no_si")):
        truth = span_targets(store, cfg.speech_stride)  # (U, M, N')
        if not truth.any():
            raise ValueError(f"{'ta_spans' if reads_spans else 'align_loss > 0'} needs word timings (.wdseg, or "
                             "start/end per word), and the store has none")
        model_spans, spans = (truth, None) if reads_spans else (None, truth)
    log(f"{fold.name} {variant}: {len(idx['train'])} train / {len(idx['val'])} val / {len(idx['test'])} test "
        f"utterances on {dev}")

    warmup_s = 0.0  # beyond the paper: epochs of the forward-sum loss alone first (cfg.align_ctc_warmup)
    if ck is None and getattr(cfg, "align_ctc_warmup", 0) > 0 and getattr(model, "ctc", False):
        t0 = time.perf_counter()
        ctc_warmup(model, data, idx["train"], cfg, optimizer, generator, dev, stride, kw)
        warmup_s = time.perf_counter() - t0
    stop = cfg.epochs if max_epochs_this_call is None else min(cfg.epochs, start + max_epochs_this_call)
    bar = tqdm(total=cfg.epochs, initial=start, disable=not show_progress(progress), desc=f"{fold.name} {variant}", unit="epoch")
    try:
        for epoch in range(start + 1, stop + 1):
            t0 = time.perf_counter()
            model.train()
            scaffold = getattr(model, "prior_weight", None)
            if scaffold is not None:  # beyond the paper: the word-order prior fades out (cfg.align_anneal)
                scaffold.fill_(prior_weight_at(epoch, cfg.align_anneal))
            lr = optimizer.param_groups[0]["lr"]
            total, count = torch.zeros((), device=dev), 0
            for rows in train_batches(idx["train"], cfg.batch_size, generator):
                speech, speech_mask, text, text_mask, y = cut_batch(data, rows, dev, stride)
                with autocast(dev):
                    o = model(speech, speech_mask, text, text_mask, **kw,
                              **span_kwargs(model_spans, rows, text, speech, stride, dev))
                loss = loss_fn(o.logits.float(), y)  # Eq. 12
                if spans is not None:  # beyond the paper: pull each Eq. 4 row into its word's true span
                    target = batch_spans(spans, rows, text, speech, stride, dev)
                    loss = loss + cfg.align_loss * alignment_loss(o.alignment.float(), target)
                if o.word_match is not None:  # beyond the paper: each word's speech context picks out its word
                    loss = loss + cfg.align_nce * word_match_loss(o.word_match, text_mask)
                if o.forward_sum is not None:  # beyond the paper: the words, in order, along the frames (no timings)
                    loss = loss + cfg.align_ctc * o.forward_sum
                optimizer_step(model, optimizer, loss, cfg.grad_clip)
                total += loss.detach() * len(rows)
                count += len(rows)
            scheduler.step()
            h = {"epoch": epoch, "train_loss": total.item() / count, "lr": lr}
            h.update(_val_scores(model, data, idx["val"], val_labels, dev, cfg.batch_size, pooled, model_spans))
            window = getattr(model, "window", None)
            if window is not None:  # beyond the paper: Eq. 4's learned window width (cfg.align_local)
                h["align_width"] = float(window.width.detach())
            if scaffold is not None:
                h["prior_weight"] = float(scaffold)
            h["time_s"] = time.perf_counter() - t0
            history.append(h)
            if cfg.select == "val" and (best is None or h["val_ua"] > best["ua"]):
                best = {"epoch": epoch, "ua": h["val_ua"], "model": _cpu_state(model)}
            if ckpt_path is not None:
                atomic_torch_save({
                    "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                    "rng": _rng_state(), "epoch": epoch, "history": history, "best": best,
                    "config": cfg.to_dict(), "variant": variant,
                    "fold": {"name": fold.name, "protocol": getattr(fold, "protocol", ""), "digest": fold_digest(fold)},
                }, ckpt_path)
            bar.update(1)
            bar.set_postfix(loss=f"{h['train_loss']:.3f}", val_ua=f"{h['val_ua']:.3f}")
            log(_log_line(fold.name, variant, h, cfg.epochs))
    finally:
        bar.close()

    trained = history[-1]["epoch"] if history else 0
    selected = trained
    if cfg.select == "val" and best is not None:
        model.load_state_dict(best["model"])
        selected = int(best["epoch"])

    t0 = time.perf_counter()
    out = predict(model, data, idx["test"], dev, cfg.batch_size, full=True, pooled=pooled,
                  spans=model_spans)  # the one look at the test fold
    labels = store.labels[idx["test"]].numpy()
    preds = out["logits"].argmax(axis=1)
    probs = torch.softmax(torch.from_numpy(out["logits"]), dim=1).numpy()
    metrics = {
        "wa": weighted_accuracy(labels, preds),
        "ua": unweighted_accuracy(labels, preds),
        "confusion": confusion(labels, preds),
        "n_test": int(len(labels)),
    }
    wall = warmup_s + sum(h["time_s"] for h in history) + time.perf_counter() - t0
    log(f"{fold.name} {variant}: test WA {100 * metrics['wa']:.2f} UA {100 * metrics['ua']:.2f} "
        f"(epoch {selected}, select={cfg.select})")
    return FitResult(
        metrics=metrics, ids=list(fold.test), labels=labels, preds=preds, probs=probs,
        embeddings=out["embedding"], alignments=out["alignment"], speech_weights=out["speech_weights"],
        text_weights=out["text_weights"], word_mask=store.text_mask[idx["test"]].numpy(),
        history=history, wall_s=wall, device=str(dev), variant=variant, fold=fold.name,
        epochs=trained, selected_epoch=selected, finished=trained == cfg.epochs, config=cfg.to_dict(),
        speech_stats=_speech_stats(model),
    )


def _speech_stats(model: nn.Module) -> dict[str, np.ndarray] | None:
    """The fold statistics a model standardises its speech input with, or None."""
    norm = getattr(model, "speech_norm", None)
    if norm is None:
        return None
    return {"mean": norm.mean.detach().cpu().numpy(), "std": norm.std.detach().cpu().numpy()}


def first_epoch_of_fit(cfg: TSINConfig, variant: str, store: FeatureStore, fold: Any,
                       device: str | torch.device = "auto") -> float:
    """``fit``'s mean training loss over the first epoch of a fresh ``variant`` seeded with ``cfg.seed`` (no folder,
    no log): what a plain training loop written out with the same seeds must reproduce."""
    set_seed(cfg.seed)  # the initial weights, as every job of run_experiment
    result = fit(build_model(cfg, variant), store, fold, cfg.replace(epochs=1), device=str(device), progress=False,
                 log=None)
    return float(result.history[0]["train_loss"])
