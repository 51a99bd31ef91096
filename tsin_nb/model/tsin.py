"""TSIN (Section III, Eqs. 1-12) and the ablations of Table V, built from small named modules.

Eqs. 3-5 (temporal alignment) live in :mod:`tsin_nb.model.alignment`; this file holds semantic
interaction (Eqs. 6-9), fusion and MEC (Eqs. 10-12) and the model that assembles them.

Dimension letters used in every shape comment:
    B  batch                      N  speech frames (after ``speech_stride`` pooling)
    M  words                      F  speech feature width (``speech_dim``, 3 * n_mels)
    E  word-embedding width       D  model width d (``d_model``)
    D' fusion width d'            A  attention width inside Eq. 7 (= D)
    C  classes                    K  kernel branches of a multi-kernel block
    L  any sequence length (frames or words), H any feature width

Masks are boolean, True on real frames or words, and always a prefix of the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsin_nb.core import VARIANTS, TSINConfig
from tsin_nb.model.alignment import (
    LocalWindow,
    PositionScore,
    TimeWarp,
    WordMatch,
    forward_sum_loss,
    span_alignment,
    temporal_alignment,
    uniform_alignment,
)
from tsin_nb.model.layers import (
    FoldNorm,
    MaskedLSTM,
    MultiKernelBlock,
    SpeechEncoder,
    TextEncoder,
    at_least_one,
    masked_mean,
    masked_softmax,
    pool_frames,
    zero_padded,
)

# ----------------------------------------------- semantic interaction (SI) ---


def normalize_weights(w: torch.Tensor, mask: torch.Tensor, mode: str = "softmax") -> torch.Tensor:
    """Eq. 8 over real words: ``"literal"`` w_i / sum_j w_j, or ``"softmax"``; padded words get 0.

    The literal form divides by a sum of signed tanh scores, which can be near 0 or negative;
    it is kept as printed. Only an exactly-zero sum is replaced by 1, so that 0/0 cannot occur.
    """
    if mode == "softmax":
        return masked_softmax(w, mask)  # (B, M)
    if mode == "literal":
        w = w * mask.to(w.dtype)  # (B, M)
        total = w.sum(dim=-1, keepdim=True)  # (B, 1)
        total = torch.where(total == 0, torch.ones_like(total), total)  # (B, 1)
        return w / total  # (B, M)
    raise ValueError(f"si_weights must be 'softmax' or 'literal', not {mode!r}")


class _ScoreParams(nn.Module):
    """One set of Eq. 7's trainable parameters: x_s, x_t (D -> A), b (A) and V (A -> 1)."""

    def __init__(self, d: int, a: int) -> None:
        super().__init__()
        self.x_s = nn.Linear(d, a, bias=False)
        self.x_t = nn.Linear(d, a, bias=False)
        self.b = nn.Parameter(torch.zeros(a))
        self.V = nn.Linear(a, 1, bias=False)


class SemanticInteraction(nn.Module):
    """Eqs. 6-9: text-aware and speech-aware word weights that recalibrate U and T.

    Eq. 7 sharing: ``cfg.si_shared=True`` uses one V, x_s, x_t, b for both lines (the equation
    writes the same symbols); False gives each line its own set.
    Eq. 8: ``cfg.si_weights`` picks ``"softmax"`` (stable default) or ``"literal"`` (divide by the sum).
    Eq. 9 scale: normalised weights sum to 1, so ``u_i * w~_i`` shrinks every word by about 1/m.
    ``cfg.si_scale="sum"`` applies them as printed; ``"mean"`` applies ``m * w~_i`` (mean 1 over the m
    real words), which keeps the relative weighting and the input scale of the fusion LSTM.
    Eq. 9 pairing, ``cfg.si_pairing``: ``"prose"`` (default) follows the prose, not the superscripts: the
    text-aware weights w^t (from u_i and h_t) recalibrate the speech side, u~_i = u_i * w~^t_i, and the
    speech-aware weights w^s (from t_i and h_s) the text side, t~_i = t_i * w~^s_i. ``"printed"`` follows
    Eq. 9's superscripts: u~_i = u_i * w~^s_i, t~_i = t_i * w~^t_i. Only then can what word i sounds like
    (u_i, inside w^t_i) decide how much word i's meaning (t_i) counts.
    """

    def __init__(self, cfg: TSINConfig) -> None:
        super().__init__()
        self.norm = cfg.si_weights
        self.scale = cfg.si_scale
        self.printed = cfg.si_pairing == "printed"
        self.p_t = _ScoreParams(cfg.d_model, cfg.d_model)
        self.p_s = self.p_t if cfg.si_shared else _ScoreParams(cfg.d_model, cfg.d_model)

    @staticmethod
    def hidden_states(U: torch.Tensor, T: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 6: h_t, h_s = f_mean(T), f_mean(U) over real words: (B, D) each."""
        return masked_mean(T, mask), masked_mean(U, mask)  # (B, D), (B, D)

    def initial_weights(
        self, U: torch.Tensor, T: torch.Tensor, h_t: torch.Tensor, h_s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 7: w^t_i = V^T tanh(x_s u_i + x_t h_t + b), w^s_i = V^T tanh(x_t t_i + x_s h_s + b)."""
        p, q = self.p_t, self.p_s
        w_t = p.V(torch.tanh(p.x_s(U) + p.x_t(h_t)[:, None, :] + p.b)).squeeze(-1)  # (B, M)
        w_s = q.V(torch.tanh(q.x_t(T) + q.x_s(h_s)[:, None, :] + q.b)).squeeze(-1)  # (B, M)
        return w_t, w_s

    def forward(
        self, U: torch.Tensor, T: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, M, D) x2, (B, M) -> U~, T~ (B, M, D), and the weights applied to U and to T (B, M) each.

        With the prose pairing those are w~^t and w~^s; with the printed one w~^s and w~^t.
        """
        h_t, h_s = self.hidden_states(U, T, mask)  # (B, D), (B, D)
        w_t, w_s = self.initial_weights(U, T, h_t, h_s)  # (B, M), (B, M)
        w_t_tilde = normalize_weights(w_t, mask, self.norm)  # (B, M)
        w_s_tilde = normalize_weights(w_s, mask, self.norm)  # (B, M)
        m = mask.sum(dim=1, keepdim=True).to(U.dtype) if self.scale == "mean" else 1.0  # (B, 1)
        on_u, on_t = (w_s_tilde, w_t_tilde) if self.printed else (w_t_tilde, w_s_tilde)  # (B, M) each
        U_tilde = U * (m * on_u)[:, :, None]  # (B, M, D)
        T_tilde = T * (m * on_t)[:, :, None]  # (B, M, D)
        return U_tilde, T_tilde, on_u, on_t


# ------------------------------------------------------ fusion and MEC ---


class FusionLSTM(nn.Module):
    """Eq. 10: F = LSTM(U~ concat T~), packed by the word mask; bidirectional as ``cfg.bidirectional``."""

    def __init__(self, cfg: TSINConfig) -> None:
        super().__init__()
        self.lstm = MaskedLSTM(2 * cfg.d_model, cfg.d_fusion, cfg.bidirectional, cfg.lstm_layers)

    def forward(self, U_tilde: torch.Tensor, T_tilde: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, M, D) x2, (B, M) -> F (B, M, D')."""
        return self.lstm(torch.cat([U_tilde, T_tilde], dim=-1), mask)  # (B, M, D')


class MEC(nn.Module):
    """Eqs. 11-12: multi-kernel block (width kept), f_mean over real steps, dropout, FC to C classes.

    ``weights`` (B, L), zero on padding and summing to 1 per row, replaces f_mean by a weighted sum over the
    steps: ``cfg.mec_pool="si"`` passes the Eq. 9 weights on the words' meaning, so the word that Eq. 9 ranks
    first also counts most in the pooled embedding, instead of 1/m like every other word. ``both=True``
    (``cfg.mec_pool="both"``) keeps f_mean and puts the weighted sum beside it: f' is (B, 2 H).
    """

    def __init__(self, in_dim: int, cfg: TSINConfig, both: bool = False, extra_dim: int = 0) -> None:
        super().__init__()
        self.both, self.extra_dim = both, extra_dim
        self.block = MultiKernelBlock(in_dim, in_dim, cfg.kernel_sizes)
        self.dropout = nn.Dropout(cfg.classifier_dropout)
        self.fc = nn.Linear((2 * in_dim if both else in_dim) + extra_dim, cfg.num_classes)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None,
        extra: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, H), (B, L), optional (B, L), optional (B, E) -> logits (B, C) and the pooled f' (B, H).

        f' is (B, 2 H) if ``both``; ``extra`` (B, E = ``extra_dim``), an utterance-level vector computed
        elsewhere (``cfg.mec_speech``), is put beside it.
        """
        y = self.block(x, mask)  # (B, L, H)
        if self.both and weights is None:
            raise ValueError("this MEC concatenates f_mean and a weighted sum: pass the weights")
        if weights is None:
            f_prime = masked_mean(y, mask)  # (B, H)
        else:
            f_prime = (y * (weights * mask.to(y.dtype))[:, :, None]).sum(dim=1)  # (B, H)
            if self.both:
                f_prime = torch.cat([masked_mean(y, mask), f_prime], dim=-1)  # (B, 2 H)
        if (extra is None) != (self.extra_dim == 0):
            raise ValueError(f"this MEC expects an extra vector of width {self.extra_dim}" if self.extra_dim
                             else "this MEC takes no extra vector")
        if extra is not None:
            f_prime = torch.cat([f_prime, extra], dim=-1)  # (B, H or 2 H, + E)
        logits = self.fc(self.dropout(f_prime))  # (B, C)
        return logits, f_prime


# -------------------------------------------------------------- the model ---


@dataclass
class TSINOutput:
    """What every variant returns; fields a variant does not compute are None."""

    logits: torch.Tensor  # (B, C)
    embedding: torch.Tensor  # (B, D') for fused variants ((B, 2 D') with mec_pool="both"; D wider with mec_speech), (B, D) for "speech" and "text"
    alignment: torch.Tensor | None = None  # (B, M, N)
    speech_weights: torch.Tensor | None = None  # (B, M): the Eq. 9 weights applied to U (w~^t in the prose pairing)
    text_weights: torch.Tensor | None = None  # (B, M): the Eq. 9 weights applied to T (w~^s in the prose pairing)
    word_match: torch.Tensor | None = None  # (B, M, M): :class:`WordMatch` logits when ``cfg.align_nce > 0``
    forward_sum: torch.Tensor | None = None  # (): the batch's :func:`forward_sum_loss` on Eq. 4's logits, when ``cfg.align_ctc > 0``


class TSIN(nn.Module):
    """TSIN and its Table V ablations, assembled from the modules above and :mod:`tsin_nb.model.alignment` (see :func:`build_model`).

    Ablations: "speech" = SpeechEncoder + MEC over frames; "text" = TextEncoder + MEC over words;
    "no_ta" replaces Eqs. 3-5 by :func:`uniform_alignment`; "no_si" skips Eqs. 6-9.
    Only the modules a variant uses are built, so no parameter is dead.
    An utterance with no real frame (word) is treated as one zero-valued frame (word).
    """

    def __init__(self, cfg: TSINConfig, variant: str = "tsin") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
        self.cfg, self.variant = cfg, variant
        self.uses_speech = variant != "text"
        self.uses_text = variant != "speech"
        self.speech_norm = FoldNorm(cfg.speech_dim) if self.uses_speech and cfg.speech_norm == "fold" else None
        self.speech_encoder = SpeechEncoder(cfg) if self.uses_speech else None
        self.text_encoder = TextEncoder(cfg) if self.uses_text else None
        self.position = PositionScore(cfg.align_pos, cfg.d_model) if cfg.align_pos > 0 and variant in ("tsin", "no_si") else None
        self.window = LocalWindow(cfg.align_local) if cfg.align_local > 0 and variant in ("tsin", "no_si") else None
        self.warp = TimeWarp(cfg.d_model, cfg.align_warp == "both") if cfg.align_warp != "none" and variant in ("tsin", "no_si") else None
        self.word_match = WordMatch(cfg.d_model) if cfg.align_nce > 0 and variant in ("tsin", "no_si") else None
        self.ctc: bool | str = cfg.align_ctc > 0 and variant in ("tsin", "no_si")  # fit adds forward_sum_loss on Eq. 4's logits
        if self.ctc and cfg.align_ctc_detach:
            self.ctc = "detached"  # ... whose gradient stops at Eq. 3's inputs: only the position score learns from it
        if cfg.align_anneal > 0 and variant in ("tsin", "no_si"):  # the prior's weight, set by fit every epoch
            self.register_buffer("prior_weight", torch.ones(()))
        else:
            self.prior_weight = None
        self.needs_spans = cfg.ta_spans and variant == "no_ta"  # fit and predict pass the words' true spans
        self.semantic = SemanticInteraction(cfg) if variant in ("tsin", "no_ta") else None
        self.fusion = FusionLSTM(cfg) if variant in ("tsin", "no_ta", "no_si") else None
        self.mec_weighted = cfg.mec_pool != "mean" and self.semantic is not None  # Eq. 11 reads the Eq. 9 weights
        # cfg.mec_speech: the frames' own summary beside f', so the whole utterance's sound reaches the classifier
        # without passing through the words' windows (Eqs. 4-5)
        self.mec_speech = cfg.mec_speech if self.fusion is not None else "none"
        self.speech_block = (MultiKernelBlock(cfg.d_model, cfg.d_model, cfg.kernel_sizes)
                             if self.mec_speech == "mec" else None)
        self.mec = MEC(cfg.d_fusion if self.fusion is not None else cfg.d_model, cfg,
                       both=self.mec_weighted and cfg.mec_pool == "both",
                       extra_dim=cfg.d_model if self.mec_speech != "none" else 0)

    def _check(self, x: torch.Tensor | None, mask: torch.Tensor | None, width: int, what: str) -> int:
        """Validate one modality's (B, L, width) tensor and (B, L) prefix mask; return B."""
        if x is None or mask is None:
            raise ValueError(f"variant {self.variant!r} needs {what} features and their mask")
        if x.dim() != 3 or x.shape[2] != width:
            raise ValueError(f"{what} must be (B, L, {width}) for this config, got {tuple(x.shape)}")
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{what}_mask must be {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
        m = mask.bool()
        if (m[:, 1:] & ~m[:, :-1]).any():
            raise ValueError(f"{what}_mask must be a prefix (True then False) in every row")
        return x.shape[0]

    def pool_speech(self, speech: torch.Tensor, speech_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The speech encoder's frame pooling alone: (B, N_in, F), (B, N_in) -> (B, N, F or 2 F), (B, N).

        Pooling depends on the features only, not on any parameter, so :func:`tsin_nb.train.fit` pools the
        whole store once and passes ``speech_pooled=True`` instead of pooling every batch of every epoch.
        """
        cfg = self.cfg
        self._check(speech, speech_mask, cfg.speech_dim, "speech")
        mask = speech_mask.bool()  # (B, N_in)
        speech = zero_padded(speech, mask)  # (B, N_in, F): a row with no real frame becomes one zero frame
        return pool_frames(speech, at_least_one(mask), cfg.speech_stride, cfg.speech_pool)  # checks the stride

    def forward(
        self,
        speech: torch.Tensor | None,
        speech_mask: torch.Tensor | None,
        text: torch.Tensor | None,
        text_mask: torch.Tensor | None,
        speech_pooled: bool = False,
        spans: torch.Tensor | None = None,
    ) -> TSINOutput:
        """speech (B, N_in, F), speech_mask (B, N_in), text (B, M, E), text_mask (B, M) -> TSINOutput.

        ``speech_pooled=True``: speech and speech_mask are :meth:`pool_speech`'s output, (B, N, F or 2 F), (B, N).
        ``spans`` (B, M, N) bool, the words' true spans over the pooled frames: read only when ``needs_spans``
        (``cfg.ta_spans`` and "no_ta").
        """
        cfg = self.cfg
        sizes = []
        if self.uses_speech:
            if speech_pooled:
                sizes.append(self._check(speech, speech_mask, cfg.pooled_speech_dim, "speech"))
                speech_mask = at_least_one(speech_mask.bool())  # (B, N)
                speech = zero_padded(speech, speech_mask)  # (B, N, F or 2 F)
            else:
                speech, speech_mask = self.pool_speech(speech, speech_mask)  # (B, N, F or 2 F), (B, N)
                sizes.append(speech.shape[0])
            S, S_mask = self.speech_encoder(speech, speech_mask, self.speech_norm, pooled=True)  # (B, N, D), (B, N)
        if self.uses_text:
            sizes.append(self._check(text, text_mask, cfg.text_dim, "text"))
            text_mask = text_mask.bool()
            text = zero_padded(text, text_mask)  # (B, M, E)
            if self.training and cfg.text_noise > 0:  # each word's vector moved about its own scale
                rms = text.pow(2).mean(dim=-1, keepdim=True).sqrt()  # (B, M, 1); 0 on padding
                text = text + cfg.text_noise * rms * torch.randn_like(text)  # (B, M, E)
            if self.training and cfg.text_dropout > 0 and self.uses_speech:  # the speech alone must decide
                keep = torch.rand(text.shape[0], device=text.device) >= cfg.text_dropout  # (B,)
                text = text * keep[:, None, None].to(text.dtype)  # (B, M, E)
            text_mask = at_least_one(text_mask)  # (B, M)
            T = self.text_encoder(text, text_mask)  # (B, M, D)
        if len(set(sizes)) > 1:
            raise ValueError(f"speech and text batch sizes differ: {sizes}")

        if self.variant == "speech":
            logits, emb = self.mec(S, S_mask)  # (B, C), (B, D)
            return TSINOutput(logits, emb)
        if self.variant == "text":
            logits, emb = self.mec(T, text_mask)  # (B, C), (B, D)
            return TSINOutput(logits, emb)

        forward_sum = None
        if self.needs_spans:
            if spans is None:
                raise ValueError("cfg.ta_spans makes 'no_ta' read the words' true spans: pass spans (B, M, N)")
            U, alignment = span_alignment(S, S_mask, text_mask, spans)  # (B, M, D), (B, M, N)
        elif self.variant == "no_ta":
            U, alignment = uniform_alignment(S, S_mask, text_mask)  # (B, M, D), (B, M, N)
        else:
            U, alignment, *rest = temporal_alignment(S, S_mask, T, text_mask, cfg.align_prior, self.position,
                                                     self.window, self.prior_weight, self.warp, return_logits=self.ctc,
                                                     temperature=cfg.align_temp)
            if rest:  # rest[0]: (B, M, N), what entered Eq. 4's softmax
                forward_sum = forward_sum_loss(rest[0], S_mask, text_mask)  # ()
        match = self.word_match(U, T) if self.word_match is not None else None  # (B, M, M)
        w_speech = w_text = None
        if self.semantic is not None:
            U, T, w_speech, w_text = self.semantic(U, T, text_mask)  # (B, M, D) x2, (B, M) x2
        fused = self.fusion(U, T, text_mask)  # (B, M, D')
        pool = w_text if self.mec_weighted else None  # (B, M): "w/o SI" has no Eq. 9 weights and keeps f_mean
        extra = None
        if self.mec_speech != "none":  # (B, D): Eq. 1's frames, averaged (after their own block for "mec")
            extra = masked_mean(self.speech_block(S, S_mask) if self.speech_block is not None else S, S_mask)
        logits, emb = self.mec(fused, text_mask, pool, extra)  # (B, C), (B, D')
        return TSINOutput(logits, emb, alignment, w_speech, w_text, match, forward_sum)


def build_model(cfg: TSINConfig, variant: str = "tsin") -> TSIN:
    """The model of Table V named by ``variant`` (one of ``tsin_nb.core.VARIANTS``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return TSIN(cfg, variant)
