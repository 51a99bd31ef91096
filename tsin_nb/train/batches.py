"""Batches for :func:`tsin_nb.train.fit`: feature tensors on the device, speech pooled once, padding cut.

Every function here changes only where and how much is computed, never a value at a real frame or word.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from tsin_nb.features import FeatureStore

PRELOAD_LIMIT = 8 * 2**30  # bytes of features copied to the GPU once instead of per batch


def feature_tensors(store: FeatureStore, device: torch.device) -> tuple[torch.Tensor, ...]:
    """speech, speech_mask, text, text_mask, labels; copied to the GPU once when they fit."""
    tensors = (store.speech, store.speech_mask, store.text, store.text_mask, store.labels)
    if device.type == "cuda" and sum(t.numel() * t.element_size() for t in tensors) <= PRELOAD_LIMIT:
        return tuple(t.to(device) for t in tensors)
    return tensors


@torch.no_grad()
def pool_once(model: nn.Module, data: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], bool]:
    """``data`` with the speech pooled by the model's ``pool_speech`` (once per fit, not per batch), and True.

    Models without a speech encoder, or without ``pool_speech``, get ``data`` unchanged and False.
    """
    pool, cfg = getattr(model, "pool_speech", None), getattr(model, "cfg", None)
    if pool is None or not getattr(model, "uses_speech", False):
        return data, False
    if cfg is not None and cfg.speech_stride == 1 and cfg.speech_pool == "mean":  # pooling is the identity:
        return data, False  # no second copy of every frame (the paper preset on a large corpus)
    parts = [pool(data[0][i:i + 256], data[1][i:i + 256]) for i in range(0, len(data[0]), 256)]
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), *data[2:]), True


def store_tensors(model: nn.Module, store: FeatureStore, device: torch.device) -> tuple[tuple[torch.Tensor, ...], bool]:
    """``pool_once(model, feature_tensors(store, device))``, kept on the store for the next fit that pools alike.

    A worker keeps its feature store from job to job, so every fold of a run after the first reuses the pooled
    frames (and, on a GPU, the copy of the features) instead of computing them again; the values are the same.
    """
    cfg = getattr(model, "cfg", None)
    if cfg is None or getattr(model, "pool_speech", None) is None or not getattr(model, "uses_speech", False):
        return pool_once(model, feature_tensors(store, device))
    key = ("pooled", type(model).__qualname__, str(device), cfg.speech_stride, cfg.speech_pool)
    sources = (store.speech, store.speech_mask, store.text, store.text_mask, store.labels)
    return store.derived(key, sources, lambda: pool_once(model, feature_tensors(store, device)))


def cut_batch(data: tuple[torch.Tensor, ...], rows: torch.Tensor, device: torch.device,
           stride: int = 1) -> tuple[torch.Tensor, ...]:
    """The rows of every feature tensor, on ``device``, without the padding no row of the batch needs.

    Frames are cut after the longest real prefix (rounded up to a multiple of ``stride``), words after the
    longest real word list. Every model output at a real step is unchanged by padding (it is masked
    throughout), so this only saves the work on padding; :func:`predict` pads the outputs back.
    """
    rows = rows.to(data[0].device)
    speech, speech_mask, text, text_mask, labels = (t[rows] for t in data)
    n = max(int(speech_mask.sum(dim=1).max()), 1) if len(rows) else speech.shape[1]
    n = min(-(-n // stride) * stride, speech.shape[1])
    m = max(int(text_mask.sum(dim=1).max()), 1) if len(rows) else text.shape[1]
    cut = (speech[:, :n], speech_mask[:, :n], text[:, :m], text_mask[:, :m], labels)
    return tuple(t.to(device, non_blocking=True) for t in cut)


def pad_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Zero-pad the trailing axes of ``x`` (B, ...) up to ``shape`` (without B)."""
    pad: list[int] = []
    for have, want in reversed(list(zip(x.shape[1:], shape))):
        pad += [0, want - have]
    return torch.nn.functional.pad(x, pad) if any(pad) else x


def train_batches(idx: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Store rows of one shuffled epoch, ``batch_size`` at a time (the last batch may be smaller)."""
    perm = torch.randperm(len(idx), generator=generator)  # (U_train,)
    for start in range(0, len(idx), batch_size):
        yield idx[perm[start:start + batch_size]]


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing (plain fp32) elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
