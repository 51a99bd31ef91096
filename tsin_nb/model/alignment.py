"""Temporal alignment (Section III-C-1, Eqs. 3-5), the "w/o TA" equal segments, and the optional
additions beyond the paper that act on Eq. 3 or Eq. 4 (word-order prior, learned window, learned clocks,
position score, word-match loss, forward-sum loss).

Shapes use the letters of :mod:`tsin_nb.model.tsin`: B batch, N speech frames, M words, D model width.
Masks are boolean, True on real frames or words, and always a prefix of the sequence.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tsin_nb.model.layers import masked_softmax


def alignment_scores(S: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Eq. 3: alpha_ij = t_j^T s_i, laid out word-major: (B, N, D), (B, M, D) -> (B, M, N)."""
    return torch.einsum("bmd,bnd->bmn", T, S)  # (B, M, N)


def relative_positions(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) prefix mask -> (B, L) position (i + 1/2) / n of every step among the n real ones (padding > 1)."""
    n = mask.sum(dim=1, keepdim=True).clamp(min=1).to(torch.float32)  # (B, 1)
    return (torch.arange(mask.shape[1], device=mask.device)[None, :] + 0.5) / n  # (B, L)


def diagonal_prior(
    S_mask: torch.Tensor, T_mask: torch.Tensor, width: float | torch.Tensor,
    positions: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Log-prior (B, M, N) that word j of m sits near frame i of n: -(p_i - q_j)^2 / (2 width^2).

    p_i = (i + 1/2) / n and q_j = (j + 1/2) / m are the relative positions of frame and word among the
    real ones, so ``width`` is a share of the utterance. Speech and text run in the same order; this
    is the only knowledge the prior adds (no timing). Not in the paper (``cfg.align_prior``).
    ``positions``: learned (p (B, N), q (B, M)) in their place (a :class:`TimeWarp`, ``cfg.align_warp``).
    """
    p, q = positions if positions is not None else (relative_positions(S_mask), relative_positions(T_mask))
    return -((p[:, None, :] - q[:, :, None]) ** 2) / (2.0 * width**2)  # (B, M, N)


def fourier_features(pos: torch.Tensor, k: int) -> torch.Tensor:
    """(B, L) positions in [0, 1] -> (B, L, 2k): cos and sin of pi * f * pos for f = 1..k."""
    f = torch.arange(1, k + 1, device=pos.device, dtype=torch.float32)  # (k,)
    angle = math.pi * pos[:, :, None] * f  # (B, L, k)
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)  # (B, L, 2k)


class PositionScore(nn.Module):
    """A learned score on where a frame and a word sit in their utterance, added to Eq. 3 (``cfg.align_pos``).

    alpha^pos_ij = (W_t phi(q_j))^T (W_s phi(p_i)), with phi the :func:`fourier_features` of the relative
    positions p_i (frame) and q_j (word). A bilinear form of cosines and sines can express any smooth
    function of p - q (cos a cos b + sin a sin b = cos(a - b)), so the model may learn a diagonal, its
    width and its offset from the emotion loss, or learn to ignore position. Not in the paper.
    """

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.k = k
        self.w_s = nn.Linear(2 * k, d, bias=False)
        self.w_t = nn.Linear(2 * k, d, bias=False)

    def forward(self, S_mask: torch.Tensor, T_mask: torch.Tensor) -> torch.Tensor:
        """(B, N), (B, M) -> (B, M, N) scores on the scale of alpha (before Eq. 4's 1 / sqrt(d))."""
        dtype = self.w_s.weight.dtype
        a = self.w_s(fourier_features(relative_positions(S_mask), self.k).to(dtype))  # (B, N, D)
        b = self.w_t(fourier_features(relative_positions(T_mask), self.k).to(dtype))  # (B, M, D)
        return torch.einsum("bmd,bnd->bmn", b, a)  # (B, M, N)


class LocalWindow(nn.Module):
    """:func:`diagonal_prior` with a learned width: Eq. 4's window around the word-order diagonal (``cfg.align_local``).

    The shape is the prior's (speech and text run in the same order); how local each word's attention is
    comes from the emotion loss. The width is exp(10 theta), starting at ``width``: Adam moves theta by
    about the learning rate per step, so the factor 10 lets a few hundred steps move the width by orders of
    magnitude (3e-3 x 300 steps moves log width by about 9 rather than about 0.9). Not in the paper.
    """

    SCALE = 10.0

    def __init__(self, width: float) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, not {width!r}")
        self.theta = nn.Parameter(torch.tensor(math.log(width) / self.SCALE))

    @property
    def width(self) -> torch.Tensor:
        """The current width, a share of the utterance (0-d tensor)."""
        return torch.exp(self.SCALE * self.theta)

    def forward(
        self, S_mask: torch.Tensor, T_mask: torch.Tensor, positions: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """(B, N), (B, M) -> (B, M, N) log-window, added to Eq. 4's scaled scores (``positions``: as :func:`diagonal_prior`)."""
        return diagonal_prior(S_mask, T_mask, self.width, positions)


class TimeWarp(nn.Module):
    """Learned relative positions of frames and words for the word-order window (``cfg.align_warp``).

    The prior and :class:`LocalWindow` place word j of m at (j + 1/2) / m and frame i of n at (i + 1/2) / n:
    every word takes an equal share of the speech. Here each real frame advances the speech's clock by
    a_i = exp(g_s(s_i)) and each real word lasts d_j = exp(g_t(t_j)), with g_s, g_t learned linear maps of
    the encoders' outputs (Eqs. 1-2), and

        p_i = (a_1 + ... + a_i - a_i / 2) / (a_1 + ... + a_n),  q_j = (d_1 + ... + d_j - d_j / 2) / (d_1 + ... + d_m).

    Both stay in order (speech and text run the same way) and in [0, 1]. A frame of silence may learn not to
    advance the clock, a long word to take more of it. g_s and g_t start at 0, where p and q are the prior's
    equal shares exactly; how they move comes from the emotion loss alone (no timings). Not in the paper.
    """

    LIMIT = 6.0  # |g| is clipped here, so one step never weighs more than e^12 times another

    def __init__(self, d: int, words: bool = True) -> None:
        super().__init__()
        self.frame = nn.Linear(d, 1)
        self.word = nn.Linear(d, 1) if words else None
        for lin in (self.frame, self.word):
            if lin is not None:
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    @classmethod
    def clock(cls, g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L) log-steps, (B, L) prefix mask -> (B, L) midpoints of the steps on a clock from 0 to 1 (padding: 1)."""
        step = torch.exp(g.clamp(-cls.LIMIT, cls.LIMIT)) * mask.to(g.dtype)  # (B, L)
        end = torch.cumsum(step, dim=1)  # (B, L)
        total = end[:, -1:].clamp(min=torch.finfo(g.dtype).tiny)  # (B, 1)
        return (end - step / 2) / total  # (B, L)

    def forward(
        self, S: torch.Tensor, S_mask: torch.Tensor, T: torch.Tensor, T_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, D), (B, N), (B, M, D), (B, M) -> positions p (B, N) of the frames and q (B, M) of the words."""
        p = self.clock(self.frame(S).squeeze(-1).float(), S_mask)  # (B, N)
        if self.word is None:  # cfg.align_warp == "frames": the words keep their equal shares
            return p, relative_positions(T_mask)
        q = self.clock(self.word(T).squeeze(-1).float(), T_mask)  # (B, M)
        return p, q


def prior_alignment(speech_mask: torch.Tensor, text_mask: torch.Tensor, stride: int, width: float) -> torch.Tensor:
    """Eq. 4 with every score alpha set to 0, i.e. :func:`diagonal_prior` alone: (U, N_in), (U, M) -> (U, M, N_in / stride).

    A pooled frame is real when any of its ``stride`` frames is, as in :func:`pool_frames`. What the prior
    finds by itself, to compare with a trained alignment (notebook 09, ``benchmarks/tuning_study.py``).
    """
    S_mask = speech_mask.bool().reshape(len(speech_mask), -1, stride).any(dim=-1)  # (U, N)
    zero = torch.zeros(len(speech_mask), text_mask.shape[1], S_mask.shape[1])  # (U, M, N)
    return alignment_weights(zero, S_mask, text_mask.bool(), 1, width)  # d does not matter: alpha is 0


def alignment_logits(
    alpha: torch.Tensor, S_mask: torch.Tensor, T_mask: torch.Tensor, d: int, prior: float = 0.0,
    window: LocalWindow | None = None, prior_weight: torch.Tensor | None = None,
    positions: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """What enters Eq. 4's softmax: alpha / sqrt(d) plus every log-window that is on, (B, M, N).

    ``prior > 0`` adds :func:`diagonal_prior` of that width, times ``prior_weight`` when given (a 0-d tensor;
    the fading scaffold of ``cfg.align_anneal``, 0 = no prior); ``window`` adds a :class:`LocalWindow` (the
    same log-window with a learned width); ``positions``, learned (p, q) from a :class:`TimeWarp`, replace the
    equal shares in either. Padded frames and words are left as they are; :func:`alignment_weights` masks them.
    """
    lam = 1.0 / math.sqrt(d)
    scores = lam * alpha  # (B, M, N)
    if prior > 0:
        log_prior = diagonal_prior(S_mask, T_mask, prior, positions).to(scores.dtype)  # (B, M, N)
        if prior_weight is not None:
            log_prior = prior_weight.to(scores.dtype) * log_prior  # (B, M, N)
        scores = scores + log_prior  # (B, M, N)
    if window is not None:
        scores = scores + window(S_mask, T_mask, positions).to(scores.dtype)  # (B, M, N)
    return scores


def alignment_weights(
    alpha: torch.Tensor, S_mask: torch.Tensor, T_mask: torch.Tensor, d: int, prior: float = 0.0,
    window: LocalWindow | None = None, prior_weight: torch.Tensor | None = None,
    positions: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Eq. 4: alpha' = softmax over frames of :func:`alignment_logits` (alpha / sqrt(d) and the log-windows that
    are on; the same arguments); padded frames and words get exactly 0."""
    scores = alignment_logits(alpha, S_mask, T_mask, d, prior, window, prior_weight, positions)  # (B, M, N)
    alpha_prime = masked_softmax(scores, S_mask[:, None, :])  # (B, M, N)
    return alpha_prime * T_mask[:, :, None].to(alpha_prime.dtype)  # (B, M, N)


def speech_context(alpha_prime: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """Eq. 5: u_j = sum_i alpha'_ij s_i: (B, M, N), (B, N, D) -> U (B, M, D)."""
    return torch.bmm(alpha_prime, S)  # (B, M, D)


def temporal_alignment(
    S: torch.Tensor, S_mask: torch.Tensor, T: torch.Tensor, T_mask: torch.Tensor, prior: float = 0.0,
    position: PositionScore | None = None, window: LocalWindow | None = None,
    prior_weight: torch.Tensor | None = None, warp: TimeWarp | None = None, return_logits: bool | str = False,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, ...]:
    """Eqs. 3-5: speech context U (B, M, D) for every word, and the alignment alpha' (B, M, N).

    Padding (the paper is silent): padded frames get weight exactly 0, padded words get U = 0
    and an all-zero alignment row. ``prior``: width of the optional :func:`diagonal_prior` (0: none).
    ``position``: an optional learned :class:`PositionScore` added to Eq. 3's scores.
    ``window``: an optional :class:`LocalWindow` added to Eq. 4's scores.
    ``prior_weight``: the prior's weight (0-d tensor) while ``cfg.align_anneal`` fades it out (None: 1).
    ``warp``: an optional :class:`TimeWarp` whose learned positions the prior or window use.
    ``return_logits``: also return what entered Eq. 4's softmax (:func:`alignment_logits`, (B, M, N)), which
    :func:`forward_sum_loss` reads; ``"detached"``: the same computed from S and T cut from the graph, so that
    a loss on them trains the learned position score (and windows) but not the encoders.
    ``temperature``: Eq. 4's softmax reads the logits divided by it (``cfg.align_temp``; 1 is the paper's);
    the logits returned are undivided.
    """
    alpha = alignment_scores(S, T)  # (B, M, N)
    if position is not None:
        alpha = alpha + position(S_mask, T_mask).to(alpha.dtype)  # (B, M, N)
    positions = warp(S, S_mask, T, T_mask) if warp is not None else None  # (B, N), (B, M)
    logits = alignment_logits(alpha, S_mask, T_mask, S.shape[-1], prior, window, prior_weight, positions)  # (B, M, N)
    read = logits / temperature if temperature != 1.0 else logits  # (B, M, N)
    alpha_prime = masked_softmax(read, S_mask[:, None, :]) * T_mask[:, :, None].to(logits.dtype)  # (B, M, N): Eq. 4
    U = speech_context(alpha_prime, S)  # (B, M, D)
    if return_logits == "detached":  # the loss on the logits reaches the position score only, not Eqs. 1-2
        alpha = alignment_scores(S.detach(), T.detach())  # (B, M, N)
        if position is not None:
            alpha = alpha + position(S_mask, T_mask).to(alpha.dtype)  # (B, M, N)
        logits = alignment_logits(alpha, S_mask, T_mask, S.shape[-1], prior, window, prior_weight, positions)
    if return_logits:
        return U, alpha_prime, logits
    return U, alpha_prime


class WordMatch(nn.Module):
    """Which word of its utterance does each word's speech context u_j sound like? (``cfg.align_nce``).

    logits_jk = cos(P u_j, t_k) / tau over the real words k of the same utterance, with P a learned D x D map
    and tau = 0.1. Trained with cross-entropy towards k = j (:func:`word_match_loss`), it asks Eq. 4 to give
    each word frames that tell it apart from the other words, which the emotion loss alone never asks (from a
    uniform start every word's gradient points the same way). It needs no word timings; u_j is built from
    speech frames only, so it can pick out its word only through what the frames hold. Not in the paper;
    measured in docs/TUNING.md, where it did not make Eq. 4 find the words without the prior (off in every preset).
    """

    def __init__(self, d: int, tau: float = 0.1) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d, bias=False)
        self.tau = tau

    def forward(self, U: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
        """U, T (B, M, D) -> logits (B, M, M): row j scores word j's speech context against every word k."""
        a = nn.functional.normalize(self.proj(U), dim=-1)  # (B, M, D)
        b = nn.functional.normalize(T, dim=-1)  # (B, M, D)
        return torch.einsum("bjd,bkd->bjk", a, b) / self.tau  # (B, M, M)


def word_match_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real words j with at least one other real word of -log softmax_k(logits_jk)[k = j]: (B, M, M), (B, M) -> ()."""
    mask = mask.bool()
    scores = logits.float().masked_fill(~mask[:, None, :], float("-inf"))  # (B, M, M)
    logp = torch.log_softmax(scores, dim=-1).diagonal(dim1=1, dim2=2)  # (B, M)
    rows = mask & (mask.sum(dim=1, keepdim=True) > 1)  # (B, M): one word alone has nothing to be told from
    if not rows.any():
        return logits.sum() * 0.0
    return -logp[rows].mean()


def forward_sum_loss(
    logits: torch.Tensor, S_mask: torch.Tensor, T_mask: torch.Tensor, blank: float = -1.0
) -> torch.Tensor:
    """The forward-sum alignment loss on Eq. 4's logits (``cfg.align_ctc``): -log P(words 1..m read in order).

    Read frame by frame, the same scores that Eq. 4 normalises over frames give each real frame a distribution
    over the real words of its utterance, plus a "blank" of fixed logit ``blank`` (a frame between words, or
    one whose word is unclear). Connectionist temporal classification sums, over every monotonic path that
    visits words 1, 2, ..., m in order, the product of the frames' probabilities; the loss is minus its
    log, divided by m, averaged over utterances. It needs the transcript's word order only, never a timing: it
    is the unsupervised text-to-speech alignment objective of Badlani et al. ("One TTS Alignment to Rule Them
    All", ICASSP 2022), here on Eq. 3's scores. From uniform scores every path is equally likely, so the first
    gradient already favours each word's share of the utterance in order, and where the frames tell words
    apart the scores can learn the true boundaries. Utterances with fewer real frames than words have no path
    and add 0. Not in the paper. (B, M, N), (B, N), (B, M) -> ().
    """
    S_mask, T_mask = S_mask.bool(), T_mask.bool()
    B, M, N = logits.shape
    x = logits.float().transpose(1, 2).masked_fill(~T_mask[:, None, :], -1e4)  # (B, N, M): padded words never
    x = torch.cat([torch.full((B, N, 1), float(blank), dtype=x.dtype, device=x.device), x], dim=-1)  # (B, N, 1 + M)
    log_probs = torch.log_softmax(x, dim=-1).transpose(0, 1)  # (N, B, 1 + M)
    targets = torch.arange(1, M + 1, device=logits.device).expand(B, M)  # (B, M): word j is class j + 1
    return nn.functional.ctc_loss(log_probs, targets, S_mask.sum(dim=1), T_mask.sum(dim=1), blank=0,
                                  reduction="mean", zero_infinity=True)


def uniform_alignment(
    S: torch.Tensor, S_mask: torch.Tensor, T_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The "w/o TA" alignment: each word mean-pools its own equal, contiguous segment of real frames.

    With n real frames and m real words, word j takes frames [floor(j n/m), floor((j+1) n/m)).
    When m > n a segment would be empty, so it is widened to the single frame floor(j n/m):
    every word still gets one frame and neighbouring words share frames. Returns U (B, M, D)
    and the fixed alignment matrix (B, M, N) whose real rows sum to 1.
    """
    N, M = S.shape[1], T_mask.shape[1]
    n = S_mask.sum(dim=1).clamp(min=1)[:, None]  # (B, 1)
    m = T_mask.sum(dim=1).clamp(min=1)[:, None]  # (B, 1)
    j = torch.arange(M, device=S.device)[None, :]  # (1, M)
    start = (j * n) // m  # (B, M)
    end = torch.maximum(((j + 1) * n) // m, start + 1)  # (B, M)
    i = torch.arange(N, device=S.device)[None, None, :]  # (1, 1, N)
    inside = (i >= start[:, :, None]) & (i < end[:, :, None]) & T_mask[:, :, None]  # (B, M, N)
    A = inside.to(S.dtype)  # (B, M, N)
    A = A / A.sum(dim=-1, keepdim=True).clamp(min=1.0)  # (B, M, N)
    return torch.bmm(A, S), A  # (B, M, D), (B, M, N)


def span_alignment(
    S: torch.Tensor, S_mask: torch.Tensor, T_mask: torch.Tensor, spans: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The "w/o TA" alignment read from the words' true spans (``cfg.ta_spans``): each word mean-pools its own frames.

    ``spans`` (B, M, N) bool marks the real frames that overlap word j's true span (:func:`tsin_nb.train.span_targets`).
    A word without a known span falls back to its equal segment (:func:`uniform_alignment`). Not a model of
    alignment: it needs the timings the model never sees, and shows what a perfect alignment would give.
    Returns U (B, M, D) and the alignment matrix (B, M, N) whose real rows sum to 1.
    """
    if spans.shape != (S.shape[0], T_mask.shape[1], S.shape[1]):
        raise ValueError(f"spans must be {(S.shape[0], T_mask.shape[1], S.shape[1])} (B, M, N), got {tuple(spans.shape)}")
    inside = spans.bool() & S_mask[:, None, :] & T_mask[:, :, None]  # (B, M, N)
    A = inside.to(S.dtype)  # (B, M, N)
    A = A / A.sum(dim=-1, keepdim=True).clamp(min=1.0)  # (B, M, N)
    _, equal = uniform_alignment(S, S_mask, T_mask)  # (B, M, N)
    A = torch.where(inside.any(dim=-1, keepdim=True), A, equal)  # (B, M, N)
    return torch.bmm(A, S), A  # (B, M, D), (B, M, N)
