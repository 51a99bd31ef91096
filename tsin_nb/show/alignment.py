"""Alignment quality: how much of each word's attention alpha' (Eq. 4) falls inside its true time span.

The paper never measures this. A word's score is the share of its attention over the real frames that
lies inside the word's true span; a uniform alignment over the real frames scores span length / frames.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_WORD_COLUMNS = ["word_index", "word", "start", "end", "mass_in_span", "uniform_share", "ratio"]
_UTT_COLUMNS = ["n_words", "mass_in_span", "uniform_share", "ratio"]


def upsample_alignment(alignment: np.ndarray, stride: int = 1, n_frames: int | None = None) -> np.ndarray:
    """(M, N') attention over strided frames -> (M, n_frames), each column's weight spread over its frames."""
    a = np.asarray(alignment, dtype=float)  # (M, N')
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    up = np.repeat(a, stride, axis=1) / stride  # (M, N' * stride)
    if n_frames is not None:
        if up.shape[1] < n_frames:
            up = np.pad(up, ((0, 0), (0, n_frames - up.shape[1])))
        up = up[:, :n_frames]  # (M, n_frames)
    return up


def attention_in_span(alignment: np.ndarray, word_frames: Sequence[Any] | None, n_real_frames: int,
                      stride: int = 1, words: Sequence[str] | None = None) -> pd.DataFrame:
    """Per word: share of its attention over the real frames inside its true span, and the uniform share."""
    n_real_frames = int(n_real_frames)
    if n_real_frames < 1:
        raise ValueError(f"n_real_frames must be >= 1, got {n_real_frames}")
    up = upsample_alignment(alignment, stride, n_real_frames)  # (M, T)
    rows = []
    for j, span in enumerate(list(word_frames or [])[: up.shape[0]]):
        if span is None:
            continue
        s, e = max(0, int(span[0])), min(n_real_frames, int(span[1]))
        if e <= s:
            continue
        total = up[j].sum()
        mass = up[j, s:e].sum() / total if total > 0 else np.nan
        uniform = (e - s) / n_real_frames
        word = str(words[j]) if words is not None and j < len(words) else ""
        rows.append((j, word, s, e, mass, uniform, mass / uniform))
    return pd.DataFrame(rows, columns=_WORD_COLUMNS).astype({"word_index": int, "start": int, "end": int})


def span_table(records: Iterable[Any]) -> pd.DataFrame:
    """:func:`attention_in_span` for every record with an alignment and word spans, with an ``utt_id`` column."""
    parts = []
    for r in records:
        if getattr(r, "alignment", None) is None or getattr(r, "word_frames", None) is None:
            continue
        df = attention_in_span(r.alignment, r.word_frames, r.n_real_frames, r.stride, words=r.words)
        df.insert(0, "utt_id", r.utt_id)
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["utt_id", *_WORD_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def alignment_quality(records: Iterable[Any]) -> pd.DataFrame:
    """Mean mass-in-span, mean uniform share and their ratio per utterance, then an ``overall`` row (all words)."""
    words = span_table(records)
    words = words[np.isfinite(words["mass_in_span"].astype(float))]
    if words.empty:
        out = pd.DataFrame(columns=_UTT_COLUMNS, index=pd.Index([], name="utt_id"))
    else:
        out = words.groupby("utt_id", sort=False).agg(
            n_words=("word_index", "size"), mass_in_span=("mass_in_span", "mean"),
            uniform_share=("uniform_share", "mean"))
    overall = pd.DataFrame({"n_words": [len(words)], "mass_in_span": [words["mass_in_span"].mean()],
                            "uniform_share": [words["uniform_share"].mean()]}, index=["overall"])
    out = pd.concat([out, overall]) if len(out) else overall
    out.index.name = "utt_id"
    out["n_words"] = out["n_words"].astype(int)
    out["ratio"] = out["mass_in_span"] / out["uniform_share"]
    return out[_UTT_COLUMNS]


#: The rows notebook 09 adds beside the variants: TSIN trained with the alignment loss, TSIN trained without the
#: word-order prior, and the prior alone (Eq. 4 with every score set to 0: no training).
ALIGNED_ROW = "tsin + alignment loss"
NO_PRIOR_ROW = "tsin without word-order prior"
PRIOR_ONLY_ROW = "word-order prior alone (untrained)"


@dataclass
class AlignmentRows:
    """The alignment records of each row of notebook 09's tables (a variant or an extra run), in order.

    ``untrained`` names the rows no training shaped (their predictions are another row's: no accuracy of their
    own); ``left_out`` says, per row asked for but not run, why; ``align_loss`` is the alignment-loss weight that
    was run (0 when that row was left out).
    """

    records: dict[str, list[Any]]
    untrained: frozenset[str] = frozenset()
    left_out: dict[str, str] = field(default_factory=dict)
    align_loss: float = 0.0

    @property
    def first(self) -> list[Any]:
        """The records of the first row (the first variant asked for)."""
        return next(iter(self.records.values()))

    def quality(self, ids: Collection[str] | None = None) -> dict[str, pd.DataFrame]:
        """:func:`alignment_quality` of each row (of the utterances in ``ids`` when given)."""
        return {name: alignment_quality(_among(recs, ids)) for name, recs in self.records.items()}

    def overview(self, ids: Collection[str] | None = None) -> pd.DataFrame | None:
        """One row per alignment: the ``overall`` row of :func:`alignment_quality` and ``accuracy %`` beside it
        (NaN for an untrained row), over the utterances in ``ids`` when given; None when no record is among them."""
        if ids is not None and not any(r.utt_id in ids for recs in self.records.values() for r in recs):
            return None
        rows = {}
        for name, q in self.quality(ids).items():
            recs = _among(self.records[name], ids)
            rows[name] = {**q.loc["overall"].to_dict(), "accuracy %": np.nan if name in self.untrained or not recs
                          else 100 * float(np.mean([r.label == r.pred for r in recs]))}
        out = pd.DataFrame(rows).T
        out["n_words"] = out["n_words"].astype(int)
        return out


def _among(records: Sequence[Any], ids: Collection[str] | None) -> list[Any]:
    return list(records) if ids is None else [r for r in records if r.utt_id in ids]
