"""The in-memory feature store that crosses from ``features`` to ``train`` (see docs/INTERFACES.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from tsin_nb.core import TSINConfig

T = TypeVar("T")


@dataclass
class FeatureStore:
    """Padded speech and text features, masks and labels for every utterance of a manifest."""

    ids: list[str]
    speech: torch.Tensor  # (U, N, F) float32
    speech_mask: torch.Tensor  # (U, N) bool, True on real frames
    text: torch.Tensor  # (U, M, E) float32
    text_mask: torch.Tensor  # (U, M) bool, True on real words
    labels: torch.Tensor  # (U,) int64, index into EMOTIONS
    words: list[list[str]]
    word_frames: list[list[tuple[int, int]] | None]
    settings: dict[str, Any] = field(default_factory=dict)
    _derived: dict[Hashable, tuple[tuple[torch.Tensor, ...], tuple[int, ...], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._pos = {u: i for i, u in enumerate(self.ids)}
        if len(self._pos) != len(self.ids):
            raise ValueError("FeatureStore ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def stats(self) -> dict[str, Any]:
        """What building the store counted (``settings["stats"]``): e.g. ``speech_truncated``, clips over n frames,
        and ``text_truncated``, transcripts over m words; empty for a store built without them."""
        return dict(self.settings.get("stats", {}))

    def index(self, ids: Sequence[str]) -> torch.Tensor:
        """Row positions of ``ids``; an unknown id is a KeyError naming it."""
        missing = [u for u in ids if u not in self._pos]
        if missing:
            raise KeyError(f"{len(missing)} ids are not in the feature store, e.g. {missing[:3]}")
        return torch.tensor([self._pos[u] for u in ids], dtype=torch.long)

    def check(self, cfg: TSINConfig) -> None:
        """Raise ValueError naming every setting where the store and ``cfg`` disagree."""
        expected = {
            "n_frames": cfg.n_frames,
            "n_words": cfg.n_words,
            "speech_dim": cfg.speech_dim,
            "text_dim": cfg.text_dim,
        }
        actual = {
            "n_frames": self.speech.shape[1],
            "n_words": self.text.shape[1],
            "speech_dim": self.speech.shape[2],
            "text_dim": self.text.shape[2],
        }
        bad = [f"{k}: store has {actual[k]}, config has {expected[k]}" for k in expected if actual[k] != expected[k]]
        if bad:
            raise ValueError(
                "feature store does not match the model config (" + "; ".join(bad) + "). "
                "Rebuild the store with this config, or set the config from the store "
                "(cfg.replace(text_dim=store.text.shape[2], ...))."
            )

    def derived(self, name: Hashable, sources: Sequence[torch.Tensor], compute: Callable[[], T]) -> T:
        """``compute()``, kept under ``name`` and returned again while ``sources`` are unchanged.

        For values computed from the store's tensors with no parameter (pooled frames, utterance statistics), which
        every fold of a run would otherwise recompute: a worker keeps one store from job to job. ``sources`` are the
        tensors the value is computed from; replacing one, or changing it in place (torch counts in-place writes in
        ``Tensor._version``), computes the value anew.
        """
        sources = tuple(sources)
        versions = tuple(t._version for t in sources)
        kept = self._derived.get(name)
        if kept is not None and versions == kept[1] and all(a is b for a, b in zip(sources, kept[0])):
            return kept[2]
        value = compute()
        self._derived[name] = (sources, versions, value)
        return value

    def subset(self, ids: Sequence[str]) -> FeatureStore:
        """A new store with only ``ids``, in that order (tensors are indexed copies)."""
        pos = self.index(ids)
        rows = pos.tolist()
        return FeatureStore(
            ids=list(ids),
            speech=self.speech[pos],
            speech_mask=self.speech_mask[pos],
            text=self.text[pos],
            text_mask=self.text_mask[pos],
            labels=self.labels[pos],
            words=[self.words[i] for i in rows],
            word_frames=[self.word_frames[i] for i in rows],
            settings=dict(self.settings),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the store atomically as a torch file of tensors and plain lists (no pickled objects)."""
        from tsin_nb.core import atomic_torch_save

        atomic_torch_save(
            {
                "ids": self.ids,
                "speech": self.speech,
                "speech_mask": self.speech_mask,
                "text": self.text,
                "text_mask": self.text_mask,
                "labels": self.labels,
                "words": self.words,
                "word_frames": [None if f is None else [list(span) for span in f] for f in self.word_frames],
                "settings_json": json.dumps(self.settings, default=str),
            },
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStore:
        """Read a store written by :meth:`save` (``weights_only=True``)."""
        d = torch.load(path, weights_only=True)
        return cls(
            ids=list(d["ids"]),
            speech=d["speech"],
            speech_mask=d["speech_mask"],
            text=d["text"],
            text_mask=d["text_mask"],
            labels=d["labels"],
            words=[list(w) for w in d["words"]],
            word_frames=[None if f is None else [tuple(span) for span in f] for f in d["word_frames"]],
            settings=json.loads(d["settings_json"]),
        )
