"""The "What this shows" notes of the input notebooks (00-02): the corpus, its folds, the features.

As in :mod:`tsin_nb.show.notes`: ``X_facts(...)`` gives the numbers of what a cell computed (and of the run's
config), ``X_text(...)`` renders them in one to three sentences; fixed context is in the notebooks' markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tsin_nb.core import EMOTIONS, TSINConfig
from tsin_nb.data import KNOWN_COUNTS


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
    """The note under the cue table, rendered from :func:`cue_share_facts`."""
    f = cue_share_facts(meta)
    return (f"**What this shows.** {f['text']:.0%} of these utterances carry their emotion in the words only, "
            f"{f['voice']:.0%} in the voice only, {f['both']:.0%} in both. A text-only model can be right on at most "
            f"{f['text_ceiling']:.0%}, a speech-only one on {f['speech_ceiling']:.0%}.")


def folds_facts(folds: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, int]]:
    """Per protocol: the number of folds and the smallest and largest test set and validation part."""
    facts = {}
    for protocol, fs in folds.items():
        test, val = [len(f.test) for f in fs], [len(f.val) for f in fs]
        facts[protocol] = {"n_folds": len(fs), "test_min": min(test), "test_max": max(test),
                           "val_min": min(val), "val_max": max(val)}
    return facts


def _span(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def folds_text(folds: Mapping[str, Sequence[Any]]) -> str:
    """The note under the fold tables, rendered from :func:`folds_facts`."""
    lines = ["**What this shows.**"]
    for protocol, p in folds_facts(folds).items():
        lines.append(f"- {protocol}: {p['n_folds']} folds; test sets of {_span(p['test_min'], p['test_max'])} "
                     f"utterances, validation parts of {_span(p['val_min'], p['val_max'])}.")
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
    """Utterances stored, how many exceed m words or fill all n frames (and lose their end), and m and n."""
    return {"utterances": int(n_utt), "over_words": int(n_truncated_words), "over_frames": int(n_truncated_frames),
            "m": cfg.n_words, "n": cfg.n_frames}


def store_text(n_utt: int, n_truncated_words: int, n_truncated_frames: int, cfg: TSINConfig) -> str:
    """The note under the feature store, rendered from :func:`store_facts`."""
    f = store_facts(n_utt, n_truncated_words, n_truncated_frames, cfg)
    return (f"**What this shows.** {f['utterances']} utterances are stored; {f['over_words']} have more than "
            f"m = {f['m']} words and {f['over_frames']} fill all n = {f['n']} frames: they lose their end.")


def padding_facts(n_real: int, cfg: TSINConfig) -> dict[str, int | float]:
    """One utterance against the n frame slots: its frames, frames cut, padding slots; the LSTM's steps."""
    return {"frames": int(n_real), "slots": cfg.n_frames, "cut": max(int(n_real) - cfg.n_frames, 0),
            "padding": max(cfg.n_frames - int(n_real), 0), "stride": cfg.speech_stride,
            "lstm_steps": cfg.n_frames // cfg.speech_stride, "step_ms": cfg.hop_ms * cfg.speech_stride}


def padding_text(n_real: int, cfg: TSINConfig) -> str:
    """The note under the padding cell, rendered from :func:`padding_facts`."""
    f = padding_facts(n_real, cfg)
    fit = (f"has {f['frames']} frames for n = {f['slots']} slots: the last {f['cut']} are cut" if f["cut"] else
           f"fills {f['frames']} of the n = {f['slots']} frame slots; {f['padding']} are padding")
    return (f"**What this shows.** The utterance {fit}. The speech LSTM reads N = {f['lstm_steps']} steps of "
            f"{f['step_ms']:g} ms ({_pooling(f['stride'])}).")
