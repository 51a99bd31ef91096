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


#: The alignments :func:`candidate_energy` compares, in its row order.
ENERGY_ALIGNMENTS = ("true span", "equal segment (w/o TA)", "word-order prior")


def candidate_energy(store: Any, meta: pd.DataFrame, prior_width: float, confidence: float = 0.95) -> pd.DataFrame:
    """What each alignment leaves in the input features for the ``focus`` cue, before any training.

    For every ``focus`` utterance of ``meta`` (indexed by utt_id, with ``salient_index`` and ``other_index``)
    that is in ``store`` and whose two candidates have known word spans: is the mean log-Mel energy (the mean
    over bands of ``store.speech``) over the emphasised candidate's frames above the other candidate's? Each
    word's frames are its true span (the word timings), its equal segment (the "w/o TA" alignment,
    :func:`tsin_nb.model.uniform_alignment`) or the word-order prior's window (Eq. 4 with every score 0,
    :func:`tsin_nb.model.prior_alignment` of width ``prior_width``, a weighted mean; no row when the width is 0,
    a run without the prior). The share is how often loudness alone, read through that alignment, names the
    emphasised word: a ceiling set by the alignment. Rows :data:`ENERGY_ALIGNMENTS`; columns ``louder`` (%), ``low``, ``high`` (its Wilson interval, %),
    ``utterances``. No row when there is no such utterance.
    """
    import torch
    from scipy.stats import binomtest

    from tsin_nb.model import prior_alignment, uniform_alignment
    from tsin_nb.train import span_targets

    columns = ["louder", "low", "high", "utterances"]
    if meta is None or "other_index" not in meta or not len(store):
        return pd.DataFrame(columns=columns, index=pd.Index([], name="alignment"))
    focus = meta[(meta["cue"] == "focus") & meta.index.isin(store.ids)]
    rows = list(zip(store.index(list(focus.index)).tolist(), focus["salient_index"].astype(int),
                    focus["other_index"].astype(int)))
    spans = span_targets(store, 1)  # (U, M, N) bool
    rows = [(r, s, o) for r, s, o in rows if s < spans.shape[1] and o < spans.shape[1]
            and bool(spans[r, s].any()) and bool(spans[r, o].any())]
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="alignment"))
    r = torch.tensor([x[0] for x in rows])
    energy = store.speech[r].mean(dim=-1, keepdim=True)  # (U, N, 1)
    s_mask, t_mask = store.speech_mask[r].bool(), store.text_mask[r].bool()  # (U, N), (U, M)
    weights = [spans[r].float(), uniform_alignment(energy, s_mask, t_mask)[1]]  # (U, M, N) each
    if prior_width > 0:
        weights.append(prior_alignment(s_mask, t_mask, 1, prior_width))
    k = torch.arange(len(rows))
    out = []
    for w in weights:
        w = w * s_mask[:, None, :]  # (U, M, N): real frames only
        mean = torch.bmm(w, energy)[..., 0] / w.sum(dim=-1).clamp(min=1e-9)  # (U, M)
        louder = int((mean[k, [x[1] for x in rows]] > mean[k, [x[2] for x in rows]]).sum())
        ci = binomtest(louder, len(rows)).proportion_ci(confidence, method="wilson")
        out.append([100 * louder / len(rows), 100 * ci.low, 100 * ci.high, len(rows)])
    return pd.DataFrame(out, columns=columns, index=pd.Index(ENERGY_ALIGNMENTS[:len(out)], name="alignment"))
