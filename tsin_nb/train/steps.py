"""One optimizer step, and the two training schedules beyond the paper that act around :func:`tsin_nb.train.fit`'s
epochs: the word-order prior fading out (``cfg.align_anneal``) and the forward-sum warm-up (``cfg.align_ctc_warmup``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tsin_nb.core import TSINConfig
from tsin_nb.train.batches import autocast, cut_batch, train_batches


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float) -> None:
    """Backpropagate ``loss`` and take one step, the gradient norm clipped at ``grad_clip`` when it is > 0."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def ctc_warmup(model: nn.Module, data: tuple[torch.Tensor, ...], train: torch.Tensor, cfg: TSINConfig,
               optimizer: torch.optim.Optimizer, generator: torch.Generator, dev: torch.device, stride: int,
               kw: dict[str, Any]) -> None:
    """``cfg.align_ctc_warmup`` epochs of the forward-sum loss alone, before the first emotion epoch (beyond the paper).

    Eq. 4 then starts the emotion training with the words already placed along the frames, as the word-order
    prior does from the first step, instead of from a uniform spread. No label is read; the same optimizer
    continues into the emotion epochs, and no scheduler step or history row is spent on it.
    """
    model.train()
    for _ in range(cfg.align_ctc_warmup):
        for rows in train_batches(train, cfg.batch_size, generator):
            speech, speech_mask, text, text_mask, _y = cut_batch(data, rows, dev, stride)
            with autocast(dev):
                o = model(speech, speech_mask, text, text_mask, **kw)
            optimizer_step(model, optimizer, cfg.align_ctc * o.forward_sum.float(), cfg.grad_clip)


def prior_weight_at(epoch: int, anneal: int) -> float:
    """The word-order prior's weight during training epoch ``epoch`` (1-based) when it fades out over ``anneal``
    epochs: 1 in epoch 1, falling linearly, 0 from epoch ``anneal + 1`` on (``cfg.align_anneal``)."""
    if anneal <= 0:
        return 1.0
    return max(0.0, 1.0 - (epoch - 1) / anneal)
