"""Words of a transcript and their time spans in frames.

- Words: whitespace tokens with leading/trailing punctuation stripped, original case kept; pure
  punctuation is dropped. An empty transcript becomes one placeholder word ``EMPTY_WORD`` with a zero vector
  and mask True, so no sequence is ever empty.
- Word spans: half-open [start, end) frame ranges; a frame belongs to a word when its centre lies in the
  word's time. Bracketed tags such as ``[LAUGHTER]`` that the alignment lacks span the gap between
  their neighbours.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from tsin_nb.core import TSINConfig
from tsin_nb.features.speech import frame_lengths

#: Word shown for an empty transcript; its vector is zero and its mask True.
EMPTY_WORD = "<empty>"

_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_VARIANT = re.compile(r"\(\d+\)$")  # pronunciation variants in forced alignments: WORD(2)
_NON_WORDS = {"<s>", "</s>", "<sil>", "sil", "<sp>"}
_ANNOTATION = re.compile(r"^(\[.*\]|<.*>|\{.*\}|\+\+.*\+\+)$")  # [LAUGHTER], <laugh>, ++BREATHING++


def normalize_word(token: str) -> str:
    """``token`` without leading/trailing punctuation (case kept); empty when it is all punctuation."""
    return _EDGE_PUNCT.sub("", token)


def split_tokens(text: str) -> list[tuple[str, bool]]:
    """(word, is_annotation) per kept token; annotations are bracketed tags such as ``[LAUGHTER]``."""
    if not isinstance(text, str):
        return []
    out = []
    for token in text.split():
        word = normalize_word(token)
        if word:
            out.append((word, bool(_ANNOTATION.match(token.rstrip(".,!?;:")))))
    return out


def split_words(text: str) -> list[str]:
    """Words of a transcript: whitespace split, edge punctuation stripped, pure punctuation dropped."""
    return [w for w, _ in split_tokens(text)]


def time_to_frame(t: float, cfg: TSINConfig) -> int:
    """Index of the first frame whose centre lies at or after ``t`` seconds (center=False framing)."""
    win, hop = frame_lengths(cfg)
    return max(0, math.ceil((t * cfg.sample_rate - win / 2) / hop - 1e-9))


def word_spans(
    timings: Sequence[tuple[str, float, float]] | None,
    words: Sequence[str],
    cfg: TSINConfig,
    annotations: Sequence[bool] | None = None,
) -> list[tuple[int, int]] | None:
    """Half-open frame spans [start, end) of ``words`` from forced-alignment timings, clipped to n_frames.

    Timing words get the transcript's normalization (``<s>``, ``<sil>`` dropped, ``WORD(2)`` -> ``WORD``)
    and are paired by order. When the counts differ only by annotation tags (``[LAUGHTER]``, flagged in
    ``annotations``) that the alignment lacks, each tag spans the gap between its neighbours. Otherwise,
    or without timings, None.
    """
    if timings is None or not isinstance(timings, (list, tuple)) or not words:
        return None
    timed: list[tuple[float, float, bool]] = []  # (start_s, end_s, is_filler)
    for item in timings:
        token = str(item[0]).strip()
        if token.lower() in _NON_WORDS or not normalize_word(_VARIANT.sub("", token)):
            continue
        timed.append((float(item[1]), float(item[2]), bool(_ANNOTATION.match(token))))
    flags = list(annotations) if annotations is not None else [False] * len(words)
    if len(timed) == len(words):
        times = [(a, b) for a, b, _ in timed]
    else:
        real = [(a, b) for a, b, filler in timed if not filler]
        if len(real) != len(words) - sum(flags):
            return None
        it, times, prev_end = iter(real), [], 0.0
        pending: list[int] = []
        for j, flag in enumerate(flags):
            if flag:
                pending.append(j)
                times.append((prev_end, prev_end))
                continue
            a, b = next(it)
            for k in pending:  # tags before this word: the gap since the previous word
                times[k] = (times[k][0], a)
            pending, prev_end = [], b
            times.append((a, b))
    spans = []
    for j, (start_s, end_s) in enumerate(times):
        start = min(time_to_frame(start_s, cfg), cfg.n_frames)
        end = min(time_to_frame(end_s, cfg), cfg.n_frames)
        if not flags[j] or len(timed) == len(words):
            end = min(max(end, start + 1), cfg.n_frames)  # a timed word covers at least one frame
        spans.append((start, max(start, end)))
    return spans
