"""The building blocks of TSIN: masked helpers, the speech and text encoders (Eqs. 1-2), the loss (Eq. 12).

Shape letters as in :mod:`tsin_nb.model` (B batch, N frames, M words, F speech features, E word vectors,
D model width, L any length, H any width). Masks are boolean, True on real steps, always a prefix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tsin_nb.core import TSINConfig

# ---------------------------------------------------------------- helpers ---


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """f_mean: mean of ``x`` (B, L, H) over real steps of ``mask`` (B, L); an empty row gives 0."""
    m = mask.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
    total = (x * m).sum(dim=1)  # (B, H)
    count = m.sum(dim=1).clamp(min=1.0)  # (B, 1)
    return total / count  # (B, H)


def zero_padded(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Replace padded steps of ``x`` (B, L, H) by exact zeros (inf and NaN included)."""
    return x.masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, L, H)


def at_least_one(mask: torch.Tensor) -> torch.Tensor:
    """Mark step 0 as real in rows of ``mask`` (B, L) that have no real step at all."""
    empty = ~mask.any(dim=1, keepdim=True)  # (B, 1)
    first = torch.zeros_like(mask)  # (B, L)
    first[:, 0] = True
    return mask | (empty & first)  # (B, L)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where ``mask`` is True; masked entries are exactly 0."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # (..., L)
    return torch.softmax(filled, dim=-1) * mask.to(scores.dtype)  # (..., L)


def pool_frames(
    speech: torch.Tensor, mask: torch.Tensor, stride: int, stats: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool ``stride`` consecutive frames over real frames only; a pooled frame is real if any is.

    ``stats="mean"`` keeps the block mean (B, N, F); ``"mean_std"`` appends the block's standard deviation
    (B, N, 2 F), which keeps the frame-to-frame variation (e.g. of the deltas) that a mean erases.
    """
    if stats not in ("mean", "mean_std"):
        raise ValueError(f"speech_pool must be 'mean' or 'mean_std', not {stats!r}")
    if stride == 1:
        x = zero_padded(speech, mask)  # (B, N, F)
        return (torch.cat([x, torch.zeros_like(x)], dim=-1) if stats == "mean_std" else x), mask
    B, n_in, feat = speech.shape
    if n_in % stride:
        raise ValueError(f"speech has {n_in} frames, not a multiple of speech_stride={stride}")
    x = zero_padded(speech, mask).reshape(B, n_in // stride, stride, feat)  # (B, N, stride, F)
    m = mask.reshape(B, n_in // stride, stride)  # (B, N, stride)
    count = m.sum(dim=-1, keepdim=True).clamp(min=1).to(x.dtype)  # (B, N, 1)
    pooled = x.sum(dim=2) / count  # (B, N, F)
    if stats == "mean_std":
        dev = (x - pooled[:, :, None, :]) * m[..., None].to(x.dtype)  # (B, N, stride, F)
        std = (dev.pow(2).sum(dim=2) / count + 1e-8).sqrt()  # (B, N, F)
        pooled = torch.cat([pooled, zero_padded(std, m.any(dim=-1))], dim=-1)  # (B, N, 2 F)
    return pooled, m.any(dim=-1)  # (B, N, F or 2 F), (B, N)


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 12: softmax + cross-entropy, averaged over the batch."""
    return F.cross_entropy(logits, y)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ------------------------------------------------------- encoders (STE) ---


class MaskedLSTM(nn.Module):
    """LSTM over the real prefix of each sequence, zeros at padded steps.

    Bidirectional: each direction has ``out_dim // 2`` units, so the output width is ``out_dim``; the sequences are
    packed so that the backward direction starts at each sequence's last real step. One direction runs over the
    padded batch unpacked: masks are prefixes, so a real step's output depends on earlier (real) steps only and
    is the packed run's (to float rounding), and the padded steps' outputs are set to 0. Unpacked is faster on
    CPU (``benchmarks/bench_lstm.py`` prints both).
    """

    def __init__(self, in_dim: int, out_dim: int, bidirectional: bool = False, num_layers: int = 1) -> None:
        super().__init__()
        if bidirectional and out_dim % 2:
            raise ValueError(f"a bidirectional LSTM needs an even width, got {out_dim}")
        hidden = out_dim // 2 if bidirectional else out_dim
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, H_in), (B, L) -> (B, L, H_out); padded steps never change a real step's output."""
        if self.lstm.bidirectional:
            return self.packed_forward(x, mask)
        out, _ = self.lstm(zero_padded(x, mask))  # (B, L, H_out): real steps never see the padding after them
        return zero_padded(out, mask)  # (B, L, H_out)

    def packed_forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` through a packed sequence: padded steps never enter the recurrence."""
        L = x.shape[1]
        x = zero_padded(x, mask)  # (B, L, H_in)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()  # (B,)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)  # (sum lengths, H_in)
        out, _ = self.lstm(packed)  # packed (sum lengths, H_out)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=L)  # (B, L, H_out)
        return zero_padded(out, mask)  # (B, L, H_out)


class FoldNorm(nn.Module):
    """Standardise each speech feature with a fold's training statistics (buffers, saved with the model).

    The paper does not say how features are normalised. ``cfg.speech_norm="fold"`` keeps loudness and
    pitch level, which per-utterance normalisation erases; the statistics come from the real frames of
    the training part of a fold only (:func:`tsin_nb.train.fold_speech_stats`), set once before training.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))  # (F,)
        self.register_buffer("std", torch.ones(dim))  # (F,)

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Copy the training statistics (F,) into the buffers."""
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, F), (B, L) -> standardised (B, L, F), padded steps exactly 0.

        Also takes blocks pooled to mean and std, (B, L, 2 F): the means are standardised and the stds divided
        by the std. Both equal pooling the standardised frames, at a tenth of the work for blocks of 10.
        """
        if x.shape[-1] == 2 * self.mean.shape[0]:
            mean, spread = x.chunk(2, dim=-1)  # (B, L, F) x2
            return zero_padded(torch.cat([(mean - self.mean) / self.std, spread / self.std], dim=-1), mask)
        return zero_padded((x - self.mean) / self.std, mask)  # (B, L, F)


class SpeechEncoder(nn.Module):
    """Eq. 1: S = LSTM(O), after optional pooling of ``speech_stride`` frames (``cfg.speech_pool``).

    Eq. 1 says "LSTM" only: ``cfg.bidirectional=False`` (default) is that literal reading;
    True runs two directions of d/2 units each. Packing keeps padded frames out of both directions.
    """

    def __init__(self, cfg: TSINConfig) -> None:
        super().__init__()
        self.stride, self.pool = cfg.speech_stride, cfg.speech_pool
        self.lstm = MaskedLSTM(cfg.pooled_speech_dim, cfg.d_model, cfg.bidirectional, cfg.lstm_layers)

    def forward(
        self, speech: torch.Tensor, mask: torch.Tensor, norm: nn.Module | None = None, pooled: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N_in, F), (B, N_in) -> S (B, N, D) and its frame mask (B, N).

        ``pooled=True``: ``speech`` (B, N, F or 2 F) is already :func:`pool_frames`'s output (see ``TSIN.pool_speech``).

        ``norm`` (a :class:`FoldNorm`) standardises the pooled blocks, which equals pooling standardised
        frames (a mean and a std commute with a per-feature affine map) on ``stride`` times fewer steps.
        """
        o, S_mask = pool_frames(speech, mask, self.stride, self.pool) if not pooled else (speech, mask)
        if norm is not None:
            o = norm(o, S_mask)  # (B, N, F or 2 F)
        S = self.lstm(o, S_mask)  # (B, N, D)
        return S, S_mask


class MultiKernelBlock(nn.Module):
    """Eq. 2 / Eq. 11: parallel Conv1d branches (``kernel_sizes``, same length) and f_max over branches.

    f_max is read as an element-wise max over the kernel branches, which keeps the sequence length
    (T stays d x m). No activation is added: the max is the only non-linearity, as printed.
    Padded steps are zeroed before the convolutions and after the max, so they never leak.
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_sizes: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd so lengths are kept, got {kernel_sizes}")
        self.convs = nn.ModuleList(nn.Conv1d(in_dim, out_dim, k, padding=k // 2) for k in kernel_sizes)

    def branches(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """C1D_k for every k: (B, L, H_in), (B, L) -> (K, B, L, H_out), padded steps zero."""
        xt = zero_padded(x, mask).transpose(1, 2)  # (B, H_in, L)
        ys = torch.stack([conv(xt) for conv in self.convs])  # (K, B, H_out, L)
        ys = ys.transpose(2, 3)  # (K, B, L, H_out)
        return ys.masked_fill(~mask[None, :, :, None], 0.0)  # (K, B, L, H_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """f_max(C1D_k(x)): (B, L, H_in), (B, L) -> (B, L, H_out)."""
        return self.branches(x, mask).amax(dim=0)  # (B, L, H_out)


class TextEncoder(nn.Module):
    """Eq. 2: T = f_max(C1D_k(Q)); the convolutions map E to d directly.

    The kernels are ``cfg.text_kernels`` when set, else ``cfg.kernel_sizes`` (Eq. 2 as printed, 1, 3, 5). With
    ``(1,)`` each t_i is a linear map of word i's own vector: contextual vectors (BERT, MiniLM) already carry their
    sentence, and the wider kernels add the neighbours' vectors, other emotion words included, to each word.
    """

    def __init__(self, cfg: TSINConfig) -> None:
        super().__init__()
        self.block = MultiKernelBlock(cfg.text_dim, cfg.d_model, cfg.text_kernels or cfg.kernel_sizes)

    def forward(self, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, M, E), (B, M) -> T (B, M, D)."""
        return self.block(text, mask)  # (B, M, D)
