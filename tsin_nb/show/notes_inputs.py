"""The "What this shows" notes of the input notebooks (00-02): the corpus, its folds, the features.

Like :mod:`tsin_nb.narrate` (which re-exports them), every sentence is computed from what it describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tsin_nb.core import EMOTIONS, TSINConfig


def dataset_text(manifest: pd.DataFrame) -> str:
    """Class balance of the corpus against IEMOCAP's four-class counts."""
    counts = manifest["label"].value_counts().reindex(list(EMOTIONS), fill_value=0)
    share = counts / max(counts.sum(), 1)
    iemocap = pd.Series({"ang": 1103, "hap": 1636, "sad": 1084, "neu": 1708})
    return (f"**What this shows.** {len(manifest)} utterances; the rarest class is {share.idxmin()} "
            f"({share.min():.0%}), the most frequent {share.idxmax()} ({share.max():.0%}). IEMOCAP's four classes range "
            f"from {iemocap.min() / iemocap.sum():.0%} (sad) to {iemocap.max() / iemocap.sum():.0%} (neu), which is why the "
            "paper reports UA (the mean per-class recall) beside WA.")


def cue_share_text(meta: pd.DataFrame) -> str:
    """The embedded corpus: how many utterances carry their emotion in the words, the voice, or both."""
    share = meta["cue"].value_counts(normalize=True)
    names = {"text": "the words only", "voice": "the voice only", "both": "both"}
    parts = [f"{share.get(k, 0):.0%} in {v}" for k, v in names.items()]
    return (f"**What this shows.** Of these utterances, {', '.join(parts)}. A text-only model can at best be right on "
            f"the words and both groups ({share.get('text', 0) + share.get('both', 0):.0%}), a speech-only model on "
            f"voice and both ({share.get('voice', 0) + share.get('both', 0):.0%}); only a model that uses both can "
            "approach 100 %. IEMOCAP has no such labels.")


def _span(values: Sequence[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def folds_text(folds: Mapping[str, Sequence[Any]]) -> str:
    """Fold sizes per protocol (test, and the validation part carved from the training side)."""
    lines = ["**What this shows.**"]
    for protocol, fs in folds.items():
        test = [len(f.test) for f in fs]
        val = [len(f.val) for f in fs]
        lines.append(f"- {protocol}: {len(fs)} folds; test sets of {_span(test)} utterances, validation parts "
                     f"of {_span(val)} taken from the training side.")
    lines.append("Every utterance is tested exactly once per protocol. SesI and SpkI keep the test speakers out of "
                 "training; SpkD's random groups do not, which is why the paper's SpkD scores are the highest.")
    return "\n".join(lines)


def speech_steps_text(n_samples: int, n_frames: int, cfg: TSINConfig) -> str:
    """Notebook 01: how many frames this utterance gave and what the model will see of them."""
    seconds = n_samples / cfg.sample_rate
    kept = min(n_frames, cfg.n_frames)
    return (f"**What this shows.** {seconds:.2f} s of audio give {n_frames} frames of {cfg.win_ms:g} ms every "
            f"{cfg.hop_ms:g} ms, each described by {cfg.speech_dim} numbers ({cfg.n_mels} log-Mel bands, their deltas "
            f"and delta-deltas). The model keeps {kept} of the n = {cfg.n_frames} frame slots"
            + (f" and, in this preset, averages every {cfg.speech_stride} frames before the speech LSTM, so Eq. 4 "
               f"aligns each word with {cfg.n_frames // cfg.speech_stride} steps of "
               f"{cfg.hop_ms * cfg.speech_stride:g} ms, not with 10 ms frames as in the paper."
               if cfg.speech_stride > 1 else "; the LSTM reads every frame, as in the paper."))


def text_steps_text(n_words: int, n_subwords: int, n_split: int, width: int) -> str:
    """Notebook 02: sub-words against words, and the width of T."""
    return (f"**What this shows.** The tokenizer turned {n_words} words into {n_subwords} sub-words ({n_split} "
            f"word(s) cut into pieces); averaging brings them back to {n_words} word vectors, so each row of T "
            f"(width d = {width}) belongs to one spoken word that Eq. 4 can align. The convolution weights are "
            "untrained here, so the colours show shapes and pooling, not meaning.")


def store_text(n_utt: int, n_truncated_words: int, n_truncated_frames: int, cfg: TSINConfig) -> str:
    """Notebook 02: what the fixed lengths cut off."""
    return (f"**What this shows.** {n_utt} utterances are stored; {n_truncated_words} have more than m = {cfg.n_words} "
            f"words and {n_truncated_frames} more than n = {cfg.n_frames} frames, and lose their end. Everything "
            "else is padding, masked so it gets no attention, no weight and never enters a mean.")


def padding_text(n_real: int, cfg: TSINConfig) -> str:
    """Notebook 01: how one utterance fits the n frame slots, and what the speech LSTM reads."""
    n_steps = cfg.n_frames // cfg.speech_stride
    fit = (f"has {n_real} frames, more than n = {cfg.n_frames}: the last {n_real - cfg.n_frames} are cut"
           if n_real > cfg.n_frames else
           f"fills {n_real} of the n = {cfg.n_frames} frame slots; the other {cfg.n_frames - n_real} are padding")
    pool = (f"After pooling by {cfg.speech_stride}, the speech LSTM reads N = {n_steps} steps of "
            f"{cfg.hop_ms * cfg.speech_stride:g} ms." if cfg.speech_stride > 1 else
            f"The speech LSTM reads all N = {n_steps} frames.")
    return f"**What this shows.** The utterance {fit}. {pool}"

