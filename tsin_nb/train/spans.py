"""The words' true spans over the pooled frames, from the corpus's word timings: the alignment loss's target
(``cfg.align_loss``) and what "w/o TA" pools with ``cfg.ta_spans``, cut batch by batch as the features are.
"""

from __future__ import annotations

import math

import torch

from tsin_nb.features import FeatureStore


def span_targets(store: FeatureStore, stride: int) -> torch.Tensor:
    """(U, M, N') bool: True where pooled frame i overlaps the true span of word j (all False when unknown)."""
    U, M = store.text_mask.shape
    n_pooled = store.speech.shape[1] // stride
    target = torch.zeros(U, M, n_pooled, dtype=torch.bool)  # (U, M, N')
    for u, spans in enumerate(store.word_frames):
        for j, span in enumerate((spans or [])[:M]):
            if span is None:
                continue
            s, e = max(0, int(span[0])) // stride, min(n_pooled, math.ceil(int(span[1]) / stride))
            if e > s:
                target[u, j, s:e] = True
    return target


def batch_spans(spans: torch.Tensor, rows: torch.Tensor, text: torch.Tensor, speech: torch.Tensor, stride: int,
                device: torch.device) -> torch.Tensor:
    """The rows of :func:`span_targets` cut as :func:`tsin_nb.train.cut_batch` cut the batch's words and frames:
    (B, M, N / stride)."""
    return spans[rows.to(spans.device)][:, :text.shape[1], :speech.shape[1] // stride].to(device)


def span_kwargs(spans: torch.Tensor | None, rows: torch.Tensor, text: torch.Tensor, speech: torch.Tensor, stride: int,
                device: torch.device) -> dict[str, torch.Tensor]:
    """The model's ``spans=`` keyword for one batch (:func:`batch_spans`), or nothing when the model reads none."""
    return {} if spans is None else {"spans": batch_spans(spans, rows, text, speech, stride, device)}


def alignment_loss(alignment: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over words with a known span of -log(attention mass inside the span): (B, M, N), (B, M, N) -> ()."""
    known = target.any(dim=-1)  # (B, M)
    if not known.any():
        return alignment.sum() * 0.0
    mass = (alignment * target.to(alignment.dtype)).sum(dim=-1)  # (B, M)
    return -torch.log(mass[known].clamp(min=1e-6)).mean()
