"""The "What this shows" notes of the input notebooks (00-02): the corpus, its folds, the features.

As in :mod:`tsin_nb.show.notes`: ``X_facts(...)`` gives the numbers of what a cell computed (and of the run's
config), ``X_text(...)`` renders them in one to three sentences; fixed context is in the notebooks' markdown.
:func:`speech_walkthrough` runs one clip through the run's speech path for notebook 01 and says what each stage did.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from tsin_nb.core import EMOTIONS, TSINConfig
from tsin_nb.data import KNOWN_COUNTS, load_audio
from tsin_nb.features import frame_lengths, logmel_steps, pad_or_truncate, trim_silence
from tsin_nb.model import pool_frames


def dataset_facts(manifest: pd.DataFrame) -> dict[str, Any]:
    """The corpus's size, its rarest and most frequent class with their shares, and IEMOCAP's (for comparison)."""
    counts = manifest["label"].value_counts().reindex(list(EMOTIONS), fill_value=0)
    share = counts / max(counts.sum(), 1)
    iemocap = pd.Series(KNOWN_COUNTS["label"])
    iemocap = iemocap / iemocap.sum()
    return {"n": len(manifest), "rarest": share.idxmin(), "rarest_share": float(share.min()),
            "commonest": share.idxmax(), "commonest_share": float(share.max()),
            "iemocap_rarest": iemocap.idxmin(), "iemocap_rarest_share": float(iemocap.min()),
            "iemocap_commonest": iemocap.idxmax(), "iemocap_commonest_share": float(iemocap.max())}


def dataset_text(manifest: pd.DataFrame) -> str:
    """The note under the class counts, rendered from :func:`dataset_facts`."""
    f = dataset_facts(manifest)
    return (f"**What this shows.** {f['n']} utterances; the rarest class is {f['rarest']} ({f['rarest_share']:.0%}), "
            f"the most frequent {f['commonest']} ({f['commonest_share']:.0%}). IEMOCAP's range from "
            f"{f['iemocap_rarest_share']:.0%} ({f['iemocap_rarest']}) to {f['iemocap_commonest_share']:.0%} "
            f"({f['iemocap_commonest']}).")


def cue_share_facts(meta: pd.DataFrame) -> dict[str, float]:
    """Shares of utterances whose emotion is in the words only, the voice only or both, and the best a text-only
    (words + both) or speech-only (voice + both) model can do."""
    share = meta["cue"].value_counts(normalize=True)
    f = {k: float(share.get(k, 0.0)) for k in ("text", "voice", "both")}
    return {**f, "text_ceiling": f["text"] + f["both"], "speech_ceiling": f["voice"] + f["both"]}


def cue_share_text(meta: pd.DataFrame) -> str:
    """The note under the cue table, rendered from :func:`cue_share_facts` (a corpus without cues says so)."""
    if meta.empty:
        return "**What this shows.** Nothing: this is not the embedded corpus, so no utterance has a cue label."
    f = cue_share_facts(meta)
    return (f"**What this shows.** {f['text']:.0%} of these utterances carry their emotion in the words only, "
            f"{f['voice']:.0%} in the voice only, {f['both']:.0%} in both. A text-only model can be right on at most "
            f"{f['text_ceiling']:.0%}, a speech-only one on {f['speech_ceiling']:.0%}.")


def folds_facts(folds: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, int]]:
    """Per protocol: the number of folds, the smallest and largest test set and validation part, the utterances
    in the folds (training, validation or test), how many of them some test set holds, and how many two or more."""
    facts = {}
    for protocol, fs in folds.items():
        test, val = [len(f.test) for f in fs], [len(f.val) for f in fs]
        seen = Counter(u for f in fs for u in f.test)
        every = set(seen) | {u for f in fs for part in (getattr(f, "train", ()), f.val) for u in part}
        facts[protocol] = {"n_folds": len(fs), "test_min": min(test), "test_max": max(test),
                           "val_min": min(val), "val_max": max(val), "utterances": len(every),
                           "tested": len(seen), "tested_twice": sum(n > 1 for n in seen.values())}
    return facts


def _span(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def folds_text(folds: Mapping[str, Sequence[Any]]) -> str:
    """The note under the fold tables, rendered from :func:`folds_facts`."""
    lines, facts = ["**What this shows.**"], folds_facts(folds)
    once = {p for p, f in facts.items() if f["tested"] == f["utterances"] and not f["tested_twice"]}
    for protocol, p in facts.items():
        tested = "" if protocol in once else (f"; {p['tested']} of {p['utterances']} utterances tested, "
                                              f"{p['tested_twice']} of them more than once")
        lines.append(f"- {protocol}: {p['n_folds']} folds; test sets of {_span(p['test_min'], p['test_max'])} "
                     f"utterances, validation parts of {_span(p['val_min'], p['val_max'])}{tested}.")
    if once:
        lines.append(f"\n{', '.join(p for p in facts if p in once)}: every utterance is tested exactly once.")
    return "\n".join(lines)


def _pooling(stride: int) -> str:
    return f"frames averaged by {stride}; the paper pools nothing" if stride > 1 else "every frame, as in the paper"


def speech_steps_facts(n_samples: int, n_frames: int, cfg: TSINConfig) -> dict[str, Any]:
    """One utterance's audio length (s) and frames; the run's frame window, hop and feature width; how many of
    the n frame slots it fills; and the speech LSTM's steps and their length after pooling by ``speech_stride``."""
    return {"seconds": n_samples / cfg.sample_rate, "frames": int(n_frames), "win_ms": cfg.win_ms,
            "hop_ms": cfg.hop_ms, "speech_dim": cfg.speech_dim, "n_mels": cfg.n_mels,
            "kept": min(int(n_frames), cfg.n_frames), "slots": cfg.n_frames, "stride": cfg.speech_stride,
            "lstm_steps": cfg.n_frames // cfg.speech_stride, "step_ms": cfg.hop_ms * cfg.speech_stride}


def speech_steps_text(n_samples: int, n_frames: int, cfg: TSINConfig) -> str:
    """The note under the speech feature steps, rendered from :func:`speech_steps_facts`."""
    f = speech_steps_facts(n_samples, n_frames, cfg)
    return (f"**What this shows.** {f['seconds']:.2f} s of audio give {f['frames']} frames of {f['win_ms']:g} ms every "
            f"{f['hop_ms']:g} ms, each {f['speech_dim']} numbers ({f['n_mels']} log-Mel bands, deltas, delta-deltas). "
            f"The model keeps {f['kept']} of n = {f['slots']} frame slots; its speech LSTM (and Eq. 4) sees "
            f"{f['lstm_steps']} steps of {f['step_ms']:g} ms ({_pooling(f['stride'])}).")


def text_steps_facts(n_words: int, n_subwords: int, n_split: int, width: int) -> dict[str, int]:
    """Words, the sub-words they became, the words cut into several pieces, and the width d of T."""
    return {"words": int(n_words), "subwords": int(n_subwords), "split": int(n_split), "width": int(width)}


def text_steps_text(n_words: int, n_subwords: int, n_split: int, width: int) -> str:
    """The note under the text feature steps, rendered from :func:`text_steps_facts`."""
    f = text_steps_facts(n_words, n_subwords, n_split, width)
    return (f"**What this shows.** {f['words']} words became {f['subwords']} sub-words ({f['split']} word(s) cut into "
            f"pieces); averaging gives back {f['words']} word vectors, so T has {f['words']} rows of width "
            f"d = {f['width']}, one per spoken word.")


def store_facts(n_utt: int, n_truncated_words: int, n_truncated_frames: int, cfg: TSINConfig) -> dict[str, int]:
    """Utterances stored, how many exceed m words or n frames (and lose their end), and m and n."""
    return {"utterances": int(n_utt), "over_words": int(n_truncated_words), "over_frames": int(n_truncated_frames),
            "m": cfg.n_words, "n": cfg.n_frames}


def store_text(n_utt: int, n_truncated_words: int, n_truncated_frames: int, cfg: TSINConfig) -> str:
    """The note under the feature store, rendered from :func:`store_facts`."""
    f = store_facts(n_utt, n_truncated_words, n_truncated_frames, cfg)
    return (f"**What this shows.** {f['utterances']} utterances are stored; {f['over_words']} have more than "
            f"m = {f['m']} words and {f['over_frames']} more than n = {f['n']} frames: they lose their end.")


def padding_facts(n_real: int, cfg: TSINConfig) -> dict[str, int | float]:
    """One utterance against the n frame slots: its frames, frames cut, padding slots; the LSTM's steps."""
    return {"frames": int(n_real), "slots": cfg.n_frames, "cut": max(int(n_real) - cfg.n_frames, 0),
            "padding": max(cfg.n_frames - int(n_real), 0), "stride": cfg.speech_stride,
            "lstm_steps": cfg.n_frames // cfg.speech_stride, "step_ms": cfg.hop_ms * cfg.speech_stride}


def padding_text(n_real: int, cfg: TSINConfig) -> str:
    """The note under the padding cell, rendered from :func:`padding_facts`."""
    f = padding_facts(n_real, cfg)
    verb = "is" if f["padding"] == 1 else "are"
    fit = (f"has {f['frames']} frames for n = {f['slots']} slots: the last {f['cut']} are cut" if f["cut"] else
           f"fills {f['frames']} of the n = {f['slots']} frame slots; {f['padding']} {verb} padding")
    return (f"**What this shows.** The utterance {fit}. The speech LSTM reads N = {f['lstm_steps']} steps of "
            f"{f['step_ms']:g} ms ({_pooling(f['stride'])}).")


#: What the stored speech features are, per ``speech_norm``.
_STORED = {"fold": "not normalised (the model standardises them with the training fold's statistics)",
           "utterance": "normalised per utterance", "none": "not normalised",
           "speaker": "standardised with the mean and std of all that speaker's frames (shown here before it)"}


def speech_walkthrough(y: np.ndarray | str | os.PathLike, cfg: TSINConfig) -> dict[str, Any]:
    """One clip through the run's speech path, every intermediate kept, and three lines saying what each stage did.

    Silence trimming (``cfg.trim_db``; 0 keeps the clip), :func:`~tsin_nb.features.logmel_steps` of the trimmed
    clip with the normalisation the store applies (none for ``speech_norm="fold"``: the model standardises later;
    none for ``"speaker"``, whose statistics come from all of a speaker's clips, not from this one),
    cut or zero-padded to ``cfg.n_frames`` with its mask, and pooled by ``cfg.speech_stride`` as the speech LSTM
    reads it. Keys: those of ``logmel_steps`` and ``clip`` (``y``), ``trimmed``, ``start`` (samples cut at the start), ``win``,
    ``hop`` (samples), ``padded`` (n_frames, F), ``mask`` (n_frames,), ``pooled`` (N', F or 2 F),
    ``pooled_mask`` (N',) and ``text``. ``y`` is the clip's samples at ``cfg.sample_rate``, or its audio file.
    """
    if not isinstance(y, np.ndarray):
        y = load_audio(y, cfg.sample_rate)  # (samples,) mono
    sr, (win, hop) = cfg.sample_rate, frame_lengths(cfg)
    trimmed, start = trim_silence(y, cfg)
    steps = logmel_steps(trimmed, cfg, norm="none" if cfg.speech_norm in ("fold", "speaker") else cfg.speech_norm)
    padded, mask = pad_or_truncate(steps["features"], cfg.n_frames)  # (n_frames, F), (n_frames,)
    pooled, pooled_mask = pool_frames(torch.from_numpy(padded)[None], torch.from_numpy(mask)[None],
                                      cfg.speech_stride, cfg.speech_pool)  # (1, N', F or 2 F), (1, N')
    stats = "mean and standard deviation" if cfg.speech_pool == "mean_std" else "their mean"
    text = "\n".join([
        f"trimming (trim_db = {cfg.trim_db:g}): {len(trimmed) / sr:.2f} of {len(y) / sr:.2f} s kept, "
        f"{start / sr:.2f} s cut at the start, {(len(y) - start - len(trimmed)) / sr:.2f} s at the end",
        f"frames of {win} samples every {hop} samples; stored features {_STORED[cfg.speech_norm]}",
        f"the speech LSTM reads {tuple(pooled.shape[1:])} (steps x features), {int(pooled_mask.sum())} of them real: "
        + (f"blocks of {cfg.speech_stride} frames pooled to {stats}" if cfg.speech_stride > 1 else "every frame")
        + (", then standardised with the training fold's statistics" if cfg.speech_norm == "fold" else ""),
    ])
    return {**steps, "clip": y, "trimmed": trimmed, "start": start, "win": win, "hop": hop, "padded": padded, "mask": mask,
            "pooled": pooled[0].numpy(), "pooled_mask": pooled_mask[0].numpy(), "text": text}
