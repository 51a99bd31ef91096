"""One configuration dataclass whose defaults are the paper's values (Section III, IV-B).

Named presets are derived from it with :func:`dataclasses.replace`, never copied.
Where the paper is ambiguous the choice is a field, documented in its ``# paper:`` comment and in the README.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

#: The four classes of the paper's IEMOCAP protocol (Section IV-A), in the paper's order.
EMOTIONS: tuple[str, ...] = ("ang", "hap", "sad", "neu")

#: The variants of Table V: full model and four ablations.
VARIANTS: tuple[str, ...] = ("tsin", "speech", "text", "no_ta", "no_si")

#: Linear baselines (scikit-learn) run on the same folds and features as the deep variants (not in the paper).
BASELINES: tuple[str, ...] = ("lin_speech", "lin_text", "lin_fusion")

#: Display names of every variant and baseline (Table V's row labels for the paper's five).
VARIANT_LABELS: dict[str, str] = {
    "speech": "Speech", "text": "Text", "no_ta": "TSI w/o TA", "no_si": "TSI w/o SI", "tsin": "TSIN",
    "lin_speech": "Linear speech", "lin_text": "Linear text", "lin_fusion": "Linear fusion",
}

#: Ways to normalise the speech features: from each fold's training part, per utterance, or not at all.
SPEECH_NORMS: tuple[str, ...] = ("fold", "utterance", "none", "speaker")

#: Protocols of Section IV-A-2.
PROTOCOLS: tuple[str, ...] = ("SesI", "SpkI", "SpkD")


#: Fields renamed since results were first written: old name -> new name (``config_diff`` reads old files).
RENAMED_FIELDS: dict[str, str] = {"dropout": "classifier_dropout", "si_norm": "si_weights"}
#: Fields added since results were first written, with the value that behaves as before they existed.
ADDED_FIELDS: dict[str, Any] = {"si_pairing": "prose", "align_pos": 0, "align_nce": 0.0, "align_local": 0.0, "align_anneal": 0,
                                 "align_ctc": 0.0, "align_ctc_detach": False, "align_ctc_warmup": 0, "align_temp": 1.0,
                                 "align_warp": "none", "ta_spans": False, "mec_pool": "mean",
                                 "mec_speech": "none", "text_kernels": [], "text_noise": 0.0}
#: Fields removed (the tuning study measured no gain, or nothing read them), with the value that behaves as today.
RETIRED_FIELDS: dict[str, Any] = {
    "enc_dropout": 0.0, "word_dropout": 0.0, "speech_aux": 0.0, "d_attn": 0,
}


@dataclass(frozen=True)
class TSINConfig:
    """Every setting that changes features, model or training; defaults are the paper's."""

    # --- features (Section III-B) ---
    sample_rate: int = 16000  # paper: IEMOCAP's 16 kHz
    win_ms: float = 25.0  # paper: Hamming window 25 ms
    hop_ms: float = 10.0  # paper: shift 10 ms
    n_mels: int = 40  # paper: not given (features are 3 * n_mels wide: log-Mel, delta, delta-delta)
    n_frames: int = 500  # paper: n = 500 frames
    n_words: int = 150  # paper: m = 150 words
    text_dim: int = 768  # paper: BERT-base width; MiniLM gives 384
    text_model: str = "minilm"  # paper: BERT-base; here the packaged all-MiniLM-L6-v2, any HF name or local path
    speech_norm: str = "fold"  # paper: not given; mean / std of the fold's training frames ("fold") or the speaker's

    # --- model (Section III) ---
    d_model: int = 768  # paper: d = 768 (also the width inside Eq. 7's tanh)
    d_fusion: int = 512  # paper: d' = 512
    kernel_sizes: tuple[int, ...] = (1, 3, 5)  # paper: kernels 1, 3, 5
    bidirectional: bool = False  # paper: Eqs. 1 and 10 say "LSTM" only; False is the literal reading
    lstm_layers: int = 1  # paper: not given
    si_weights: str = "softmax"  # paper: Eq. 8 divides by the raw sum ("literal"); "softmax" is the stable default
    si_shared: bool = True  # paper: Eq. 7 writes the same V, x_s, x_t, b for both weight sets
    si_scale: str = "sum"  # paper: Eq. 9 applies w~ as normalised ("sum", sum 1); "mean" applies m * w~ (mean 1)
    si_pairing: str = "prose"  # paper: prose says w^t recalibrates speech, Eq. 9's superscripts say text ("printed")
    classifier_dropout: float = 0.0  # paper: not given; dropout before the classifier (Eq. 11)

    # --- training (Section IV-B-2) ---
    epochs: int = 80  # paper: 80
    batch_size: int = 64  # paper: 64
    lr: float = 1e-4  # paper: 1e-4
    weight_decay: float = 1e-3  # paper: 1e-3
    lr_step: int = 50  # paper: learning rate x lr_gamma every 50 epochs
    lr_gamma: float = 0.1  # paper: 0.1
    val_fraction: float = 0.1  # paper: not given; share of the training part held out for validation
    select: str = "last"  # paper: no model selection described; "last" epoch, or "val": best validation UA
    grad_clip: float = 0.0  # paper: not given; > 0 clips the gradient norm
    seed: int = 0  # paper: not given

    # --- beyond the paper (each off in the paper preset) ---
    trim_db: float = 0.0  # paper: none; > 0 trims leading / trailing audio quieter than the peak - trim_db dB
    speech_stride: int = 1  # paper: 1; frames pooled into one step before the speech LSTM
    speech_pool: str = "mean"  # paper: none; how a block of speech_stride frames is pooled: "mean" or "mean_std"
    text_dropout: float = 0.0  # paper: none; share of training utterances whose whole text is zeroed (fused variants)
    text_noise: float = 0.0  # paper: none; > 0 adds Gaussian noise of this many times each word vector's RMS in training
    align_prior: float = 0.0  # paper: none; > 0 adds a Gaussian log-prior of this width around Eq. 4's diagonal
    align_loss: float = 0.0  # paper: none; > 0 adds a loss pulling Eq. 4 rows into the true word spans
    align_pos: int = 0  # paper: none; > 0 adds a learned score on relative positions (that many frequencies) to Eq. 3
    align_nce: float = 0.0  # paper: none; > 0 adds a loss (no timings) asking each word's Eq. 5 context to pick out its own word
    align_ctc: float = 0.0  # paper: none; > 0 adds a forward-sum (CTC) loss (no timings) asking Eq. 3's scores for a monotonic path through the words in order
    align_ctc_detach: bool = False  # paper: none; True stops align_ctc's gradient at Eq. 3's inputs, so it trains align_pos's score only
    align_ctc_warmup: int = 0  # paper: none; epochs of align_ctc's loss alone (no emotion loss) before the emotion training starts
    align_temp: float = 1.0  # paper: none (1); Eq. 4's softmax reads its scores divided by this (align_ctc's loss reads them undivided)
    align_local: float = 0.0  # paper: none; > 0 adds align_prior's diagonal window with a learned width, starting at this
    align_anneal: int = 0  # paper: none; > 0 makes align_prior a training scaffold, its weight falling from 1 to 0 over that many epochs
    align_warp: str = "none"  # paper: none; "frames" / "both" puts the frames (and words) of align_prior's / align_local's window on learned clocks
    ta_spans: bool = False  # paper: none; True makes "w/o TA" pool each word's true span (word timings), not an equal segment
    mec_pool: str = "mean"  # paper: Eq. 11's f_mean over words; "si" weighs each word by the Eq. 9 weight on its meaning (T), "both" concatenates the two
    text_kernels: tuple[int, ...] = ()  # paper: Eq. 2 has kernels 1, 3, 5 (empty: kernel_sizes); non-empty: Eq. 2's own ((1,): each word's vector alone)
    mec_speech: str = "none"  # paper: none; "mean" puts Eq. 1's frame outputs, averaged, beside f' (fused variants), "mec" the same after their own Eq. 11 block

    def __post_init__(self) -> None:
        if self.si_weights not in ("softmax", "literal"):
            raise ValueError(f"si_weights must be 'softmax' or 'literal', not {self.si_weights!r}")
        if self.speech_norm not in SPEECH_NORMS:
            raise ValueError(f"speech_norm must be one of {SPEECH_NORMS}, not {self.speech_norm!r}")
        if self.speech_pool not in ("mean", "mean_std"):
            raise ValueError(f"speech_pool must be 'mean' or 'mean_std', not {self.speech_pool!r}")
        if self.mec_pool not in ("mean", "si", "both"):
            raise ValueError(f"mec_pool must be 'mean', 'si' or 'both', not {self.mec_pool!r}")
        if self.mec_speech not in ("none", "mean", "mec"):
            raise ValueError(f"mec_speech must be 'none', 'mean' or 'mec', not {self.mec_speech!r}")
        if self.si_pairing not in ("prose", "printed"):
            raise ValueError(f"si_pairing must be 'prose' or 'printed', not {self.si_pairing!r}")
        if self.si_scale not in ("sum", "mean"):
            raise ValueError(f"si_scale must be 'sum' or 'mean', not {self.si_scale!r}")
        for name in ("grad_clip", "align_loss", "trim_db", "align_prior", "align_nce", "align_ctc", "align_local",
                     "text_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        for name in ("classifier_dropout", "text_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)!r}")
        if self.align_prior > 0 and self.align_local > 0:
            raise ValueError("align_prior (a fixed window) and align_local (a learned one) exclude each other; set one to 0")
        if self.align_ctc_detach and not (self.align_ctc > 0 and self.align_pos > 0):
            raise ValueError("align_ctc_detach trains the position score alone: it needs align_ctc > 0 and align_pos > 0")
        if self.align_ctc_warmup < 0 or (self.align_ctc_warmup > 0 and self.align_ctc <= 0):
            raise ValueError(f"align_ctc_warmup must be >= 0 and needs align_ctc > 0, not {self.align_ctc_warmup!r}")
        if not self.align_temp > 0:
            raise ValueError(f"align_temp must be > 0, not {self.align_temp!r}")
        if self.align_pos < 0:
            raise ValueError(f"align_pos must be >= 0, not {self.align_pos!r}")
        if self.align_anneal < 0:
            raise ValueError(f"align_anneal must be >= 0, not {self.align_anneal!r}")
        if self.align_anneal > 0 and self.align_prior <= 0:
            raise ValueError("align_anneal fades out the word-order prior, so it needs align_prior > 0")
        if self.align_warp not in ("none", "frames", "both"):
            raise ValueError(f"align_warp must be 'none', 'frames' or 'both', not {self.align_warp!r}")
        if self.align_warp != "none" and self.align_prior <= 0 and self.align_local <= 0:
            raise ValueError("align_warp moves the word-order window's positions, so it needs align_prior > 0 or align_local > 0")
        if self.select not in ("last", "val"):
            raise ValueError(f"select must be 'last' or 'val', not {self.select!r}")
        object.__setattr__(self, "kernel_sizes", tuple(self.kernel_sizes))  # a config read from JSON holds lists
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd so lengths are kept, got {self.kernel_sizes}")
        object.__setattr__(self, "text_kernels", tuple(self.text_kernels))
        if any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in self.text_kernels):
            raise ValueError(f"text_kernels must be positive odd sizes so lengths are kept, got {self.text_kernels}")
        if self.speech_stride < 1 or self.n_frames % self.speech_stride:
            raise ValueError(f"speech_stride={self.speech_stride} must divide n_frames={self.n_frames}")

    @property
    def pooled_speech_dim(self) -> int:
        """Width of a pooled speech block, what Eq. 1's LSTM reads (``2 * speech_dim`` for ``"mean_std"``)."""
        return 2 * self.speech_dim if self.speech_pool == "mean_std" else self.speech_dim

    @property
    def speech_dim(self) -> int:
        """Width F of a speech frame: log-Mel, delta and delta-delta, ``3 * n_mels``."""
        return 3 * self.n_mels

    @property
    def num_classes(self) -> int:
        """C, the number of emotions (``EMOTIONS``)."""
        return len(EMOTIONS)

    def replace(self, **changes: Any) -> TSINConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["kernel_sizes"] = list(self.kernel_sizes)
        d["text_kernels"] = list(self.text_kernels)
        return d

    def to_json(self) -> str:
        """The settings as sorted JSON."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def legacy_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` under the field names of the first results on disk (retired fields at their values).

        Results folders are named by a digest of this, so folders written before fields were renamed, retired or
        added keep their names (an added field enters the digest only away from its old behaviour).
        """
        old = {new: old for old, new in RENAMED_FIELDS.items()}
        d = {old.get(k, k): v for k, v in self.to_dict().items()
             if k not in ADDED_FIELDS or v != ADDED_FIELDS[k]}
        return {**d, **RETIRED_FIELDS, "speech_dim": self.speech_dim, "num_classes": self.num_classes}

    @classmethod
    def preset(cls, name: str, **changes: Any) -> TSINConfig:
        """``paper`` (Section III/IV values), ``cpu`` (small, minutes on 2 cores) or ``tiny`` (tests)."""
        base = cls()
        if name == "paper":
            cfg = base
        elif name == "cpu":
            cfg = base.replace(  # widths and pooling sized for 2 cores; the rest chosen in docs/TUNING.md
                n_words=32, text_dim=384, d_model=48, d_fusion=48, speech_stride=10,
                epochs=24, batch_size=64, lr=3e-3, lr_step=16, classifier_dropout=0.1, si_scale="mean", text_dropout=0.7,
                trim_db=40.0, speech_pool="mean_std", align_prior=0.05, si_pairing="printed", speech_norm="speaker",
                mec_pool="both", text_kernels=(1,),
            )
        elif name == "tiny":
            cfg = base.replace(
                n_mels=8, n_frames=40, n_words=8, text_dim=16, d_model=16, d_fusion=12,
                speech_stride=2, epochs=2, batch_size=8, lr=1e-2, lr_step=10, align_prior=0.1,
            )
        else:
            raise ValueError(f"unknown preset {name!r}; choose 'paper', 'cpu' or 'tiny'")
        return cfg.replace(**changes) if changes else cfg


def upgrade_config_dict(d: dict[str, Any]) -> dict[str, Any]:
    """A config dict read from an older file, in today's field names.

    Renamed fields take their new names; a retired field is dropped when it holds the value that behaves as
    today, and kept (so a comparison names it) when it does not; derived widths are dropped.
    """
    out = {RENAMED_FIELDS.get(k, k): v for k, v in d.items() if k not in ("speech_dim", "num_classes", "extra")}
    return {k: v for k, v in out.items() if k not in RETIRED_FIELDS or v != RETIRED_FIELDS[k]}
