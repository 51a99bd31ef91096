"""The "paper / this run" table every notebook shows: each setting's value in the paper and in this run.

Importable from :mod:`tsin_nb.show` (``paper_vs_run``, ``TOPICS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tsin_nb.core import TSINConfig
from tsin_nb.data import KNOWN_COUNTS


def _steps_ms(cfg: TSINConfig) -> str:
    step = cfg.hop_ms * cfg.speech_stride
    pooled = "pooled to mean and std" if cfg.speech_pool == "mean_std" else "mean-pooled"
    return f"{step:g} ms" + (f" ({cfg.speech_stride} frames of {cfg.hop_ms:g} ms {pooled})" if cfg.speech_stride > 1
                             else " (every frame)")


def _forward_sum(cfg: TSINConfig) -> str:
    """How ``cfg.align_ctc`` and its modifiers are set, in a few words."""
    if cfg.align_ctc <= 0:
        return "none"
    return (f"weight {cfg.align_ctc:g}" + (", position score only" if cfg.align_ctc_detach else "")
            + (f", {cfg.align_ctc_warmup} epochs alone first" if cfg.align_ctc_warmup else ""))


def _settings(cfg: TSINConfig) -> dict[str, str]:
    """The settings a reader should see, formatted, for one config."""
    return {
        "speech frames n": f"{cfg.n_frames} ({cfg.n_frames * cfg.hop_ms / 1000:g} s)",
        "speech step seen by the LSTM (and by Eq. 4)": _steps_ms(cfg),
        "Mel bands (features 3 x bands)": f"{cfg.n_mels} ({cfg.speech_dim})",
        "speech normalisation": cfg.speech_norm,
        "leading / trailing silence": f"trimmed below peak - {cfg.trim_db:g} dB" if cfg.trim_db > 0 else "kept",
        "words m": str(cfg.n_words),
        "word vectors (width E)": f"{cfg.text_model} ({cfg.text_dim})",
        "Eq. 2 kernels": ", ".join(map(str, cfg.text_kernels or cfg.kernel_sizes)),
        "model width d": str(cfg.d_model),
        "fusion width d'": str(cfg.d_fusion),
        "Eq. 8 normalisation": "divide by the sum" if cfg.si_weights == "literal" else "softmax over words",
        "Eq. 4 prior on word order": (f"Gaussian, width {cfg.align_prior:g} of the utterance"
                                      + (f", faded out over the first {cfg.align_anneal} epochs" if cfg.align_anneal
                                         else "")) if cfg.align_prior > 0 else "none",
        "Eq. 9 weights applied": "as normalised (sum 1)" if cfg.si_scale == "sum" else "x m words (mean 1)",
        "Eq. 9 pairing": "w^t on speech, w^s on text (prose)" if cfg.si_pairing == "prose"
        else "w^t on text, w^s on speech (superscripts)",
        "Eq. 11 pooling over words": {"mean": "mean (f_mean)", "si": "sum weighted by Eq. 9's weights on the meaning",
                                      "both": "mean, and beside it the sum weighted by Eq. 9's weights on the meaning",
                                      }[cfg.mec_pool],
        "Eq. 11: the frames' own summary beside f'": {
            "none": "none", "mean": "mean of Eq. 1's outputs over the frames",
            "mec": "Eq. 1's outputs through their own Eq. 11 block, then their mean"}[cfg.mec_speech],
        "Eq. 4 learned window on word order": f"Gaussian, width learned from {cfg.align_local:g} of the utterance"
        if cfg.align_local > 0 else "none",
        "Eq. 4 window on learned clocks": {"frames": "frames (words keep equal shares)",
                                           "both": "frames and words"}.get(cfg.align_warp, "none"),
        "Eq. 3 learned position score": f"{cfg.align_pos} frequencies" if cfg.align_pos > 0 else "none",
        "Eq. 5 word-match loss": f"weight {cfg.align_nce:g}" if cfg.align_nce > 0 else "none",
        "Eq. 4 softmax temperature": f"{cfg.align_temp:g}",
        "Eq. 4 forward-sum loss (words in order, no timings)": _forward_sum(cfg),
        "LSTM": f"{'bi' if cfg.bidirectional else 'uni'}directional, {cfg.lstm_layers} layer(s)",
        "epochs": str(cfg.epochs),
        "batch size": str(cfg.batch_size),
        "learning rate": f"{cfg.lr:g}, x {cfg.lr_gamma:g} every {cfg.lr_step} epochs",
        "Adam weight decay": f"{cfg.weight_decay:g}",
        "classifier dropout": f"{cfg.classifier_dropout:g}",
        "text dropout (whole text, fused variants)": f"{cfg.text_dropout:g}",
        "noise on the word vectors (training)": (f"Gaussian, {cfg.text_noise:g} x each word vector's RMS"
                                                 if cfg.text_noise > 0 else "none"),
        "reported model": "last epoch" if cfg.select == "last" else "best validation UA",
    }


#: What the paper says where it gives no number (the config default is this workbook's choice).
_PAPER_SILENT = {
    "Mel bands (features 3 x bands)": "not given",
    "speech normalisation": "not given",
    "leading / trailing silence": "not mentioned",
    "Eq. 4 prior on word order": "none",
    "Eq. 9 pairing": "prose and superscripts disagree",
    "Eq. 3 learned position score": "none",
    "word vectors (width E)": "BERT-base (768)",
    "Eq. 8 normalisation": "divide by the sum",
    "LSTM": "\"LSTM\"",
    "classifier dropout": "not given",
    "text dropout (whole text, fused variants)": "not given",
    "reported model": "not described",
}


#: Settings in ``_PAPER_SILENT`` that the paper does state (only not as a config default).
_PAPER_GIVEN = ("word vectors (width E)", "Eq. 8 normalisation", "Eq. 4 prior on word order", "Eq. 3 learned position score")


#: Rows of :func:`paper_vs_run` per topic, for notebooks that touch only part of the pipeline.
TOPICS: dict[str, tuple[str, ...]] = {
    "speech": ("speech frames n", "speech step seen by the LSTM (and by Eq. 4)", "Mel bands (features 3 x bands)",
               "speech normalisation", "leading / trailing silence"),
    "text": ("words m", "word vectors (width E)", "Eq. 2 kernels", "model width d"),
    "training": ("epochs", "batch size", "learning rate", "Adam weight decay", "classifier dropout",
                 "text dropout (whole text, fused variants)", "noise on the word vectors (training)", "reported model"),
    "fusion": ("model width d", "fusion width d'", "Eq. 4 prior on word order", "Eq. 3 learned position score",
               "Eq. 8 normalisation", "Eq. 9 weights applied", "Eq. 9 pairing", "Eq. 11 pooling over words",
               "Eq. 11: the frames' own summary beside f'", "text dropout (whole text, fused variants)", "epochs"),
    "alignment": ("speech step seen by the LSTM (and by Eq. 4)", "Eq. 4 prior on word order",
                  "Eq. 3 learned position score", "Eq. 8 normalisation", "Eq. 9 pairing", "epochs"),
    "protocol": ("model width d", "epochs", "reported model"),
    "none": (),
}


def paper_vs_run(cfg: TSINConfig, corpus: str = "", extra: Mapping[str, tuple[str, str]] | None = None,
                 only: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per setting: the paper's value, this run's, and whether this run departs from the paper.

    ``only`` keeps the named settings (or a :data:`TOPICS` name's); ``extra`` adds rows ``name: (paper, run)``.
    """
    paper = {**_settings(TSINConfig()), **_PAPER_SILENT}
    run = _settings(cfg)
    if only is not None:
        keep = [k for name in only for k in TOPICS.get(name, (name,))]
        unknown = [k for k in keep if k not in run]
        if unknown:
            raise ValueError(f"unknown settings {unknown}; choose from {list(run)} or a topic {list(TOPICS)}")
        run = {k: run[k] for k in keep}
    rows = []
    if corpus:
        rows.append(("corpus", f"IEMOCAP, {KNOWN_COUNTS['total']} utterances", corpus))
    rows += [(k, paper[k], run[k]) for k in run]
    rows += [(k, p, r) for k, (p, r) in (extra or {}).items()]
    df = pd.DataFrame(rows, columns=["setting", "paper", "this run"])
    silent = [k in _PAPER_SILENT and k not in _PAPER_GIVEN for k in df["setting"]]
    df["differs"] = np.where(df["paper"] == df["this run"], "", np.where(silent, "paper silent", "yes"))
    return df.set_index("setting")
