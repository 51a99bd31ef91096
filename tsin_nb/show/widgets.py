"""Interactive alignment viewer: a thin ipywidgets wrapper over :func:`tsin_nb.show.plot_alignment`."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from tsin_nb.core import EMOTIONS
from tsin_nb.show.alignment_plots import plot_alignment, plot_alignment_record
from tsin_nb.show.plotting import figure_png


@dataclass
class AlignmentRecord:
    """Everything the alignment picture needs for one utterance, trimmed to its real words and frames."""

    utt_id: str
    spectrogram: np.ndarray  # (n_mels, T) static log-Mel of the real frames
    words: list[str]  # the M real words
    word_frames: list[tuple[int, int]] | None  # true word spans in frames, or None
    alignment: np.ndarray | None  # (M, ceil(T / stride)) alpha' (Eq. 4), or None
    speech_weights: np.ndarray | None  # (M,) weights applied to the speech side (Eq. 8)
    text_weights: np.ndarray | None  # (M,) weights applied to the text side (Eq. 8)
    stride: int = 1
    label: str = ""
    pred: str = ""
    n_real_frames: int = 0

    def __post_init__(self) -> None:
        if not self.n_real_frames:
            self.n_real_frames = int(self.spectrogram.shape[1])


def _np(x: Any) -> np.ndarray:
    """A numpy array from a numpy array, a list or a (possibly CUDA) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _name(value: Any, emotions: Sequence[str]) -> str:
    """A class index or name as the class name."""
    if isinstance(value, (int, np.integer)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return emotions[int(value)]
    if hasattr(value, "item"):
        return _name(value.item(), emotions)
    return str(value)


def records_from_arrays(ids: Sequence[str], labels: Sequence[Any], preds: Sequence[Any],
                        alignments: Any, speech_weights: Any, text_weights: Any, store: Any, stride: int,
                        emotions: Sequence[str] = EMOTIONS) -> list[AlignmentRecord]:
    """One :class:`AlignmentRecord` per id from padded model outputs and the feature store, padding trimmed."""
    ids = list(ids)
    rows = store.index(ids).tolist()
    n_mels = int(store.speech.shape[2]) // 3
    records = []
    for k, (utt, i) in enumerate(zip(ids, rows)):
        n_real = int(_np(store.speech_mask[i]).sum())
        n_words = min(len(store.words[i]), int(_np(store.text_mask[i]).sum()))
        spec = _np(store.speech[i, :n_real, :n_mels]).astype(np.float32).T  # (n_mels, T)
        align = None
        if alignments is not None and alignments[k] is not None:
            align = _np(alignments[k]).astype(np.float32)  # (M, N')
            n_cols = -(-n_real // stride)
            if align.shape[1] < n_cols:
                raise ValueError(
                    f"{utt}: alignment has {align.shape[1]} frame columns but {n_real} real frames need "
                    f"{n_cols} at stride {stride}; pass the stride the model used (cfg.speech_stride)")
            n_words = min(n_words, align.shape[0])
            align = align[:n_words, :n_cols]
        sw = None if speech_weights is None or speech_weights[k] is None else _np(speech_weights[k])[:n_words]
        tw = None if text_weights is None or text_weights[k] is None else _np(text_weights[k])[:n_words]
        spans = store.word_frames[i]
        records.append(AlignmentRecord(
            utt_id=str(utt), spectrogram=spec, words=list(store.words[i][:n_words]),
            word_frames=None if spans is None else [tuple(map(int, s)) for s in spans[:n_words]],
            alignment=align, speech_weights=sw, text_weights=tw, stride=int(stride),
            label=_name(labels[k], emotions), pred=_name(preds[k], emotions), n_real_frames=n_real,
        ))
    return records


@dataclass
class Example:
    """One utterance to draw: its record, the word to select, the other candidate word, and where it came from."""

    record: AlignmentRecord
    salient: int  # index of the corpus's salient (emphasised) word; 0 when the corpus names none
    other: int | None  # index of the other candidate word of a ``focus`` utterance, else None
    pool: list[AlignmentRecord]  # the records it was chosen from (those of ``cue`` when one was given)
    description: str  # one line: id, label, prediction and the words named by the corpus

    def plot(self, cfg: Any = None) -> Figure:
        """The alignment picture of the record with the salient word selected (:func:`plot_alignment_record`)."""
        return plot_alignment_record(self.record, self.salient, cfg)


def pick_example(records: Sequence[AlignmentRecord], meta: Any = None, example: str = "",
                 cue: str | None = None) -> Example:
    """The utterance to draw: ``example`` when it is among ``records``, else the first correctly classified one with
    word timings (preferring five words or more), else the first.

    ``meta`` is the embedded corpus's ``synthetic_meta.csv`` indexed by ``utt_id`` (None for another corpus): it
    names the salient word (and for ``focus`` the other candidate); with ``cue``, only that cue's records count.
    """
    known = meta is not None
    pool = [r for r in records if cue is None or (known and r.utt_id in meta.index and meta.loc[r.utt_id, "cue"] == cue)]
    if not pool:
        raise ValueError(f"no record to draw{f' of cue {cue!r}' if cue else ''} among {len(records)}")
    right = [r for r in pool if r.label == r.pred and r.word_frames is not None]
    chosen = next((r for r in pool if r.utt_id == example), ([r for r in right if len(r.words) >= 5] or right or pool)[0])
    row = meta.loc[chosen.utt_id] if known and chosen.utt_id in meta.index else None
    salient = int(row["salient_index"]) if row is not None else 0
    other = _index(row.get("other_index")) if row is not None else None
    text = f"{chosen.utt_id}: label {chosen.label}, predicted {chosen.pred}"
    if row is not None and other is not None:
        text += (f"; emphasised word {row['salient_word']!r} (index {salient}), other candidate "
                 f"{row['other_word']!r} (index {other})")
    elif row is not None:
        text += f"; salient word {row['salient_word']!r} (index {salient})"
    if row is not None and max(salient, other or 0) >= len(chosen.words):
        text += f"; the model sees only the first {len(chosen.words)} words"
    return Example(chosen, salient, other, pool, text)


def _index(value: Any) -> int | None:
    """A word index from a ``synthetic_meta.csv`` cell, None for an empty one ("" or NaN)."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class AlignmentViewer:
    """Choose an utterance and a word; see the alignment picture and the predicted vs true label."""

    def __init__(self, records: Sequence[AlignmentRecord], hop_s: float = 0.01, dpi: int = 90,
                 figsize: tuple[float, float] | None = None) -> None:
        if not records:
            raise ValueError("AlignmentViewer needs at least one AlignmentRecord (see records_from_arrays)")
        self.records = list(records)
        self.hop_s, self.dpi, self.figsize = hop_s, dpi, figsize
        self.figure: Figure | None = None
        self._syncing = False
        self.dropdown = widgets.Dropdown(
            options=[(f"{r.utt_id} ({r.label} -> {r.pred})", i) for i, r in enumerate(self.records)],
            value=0, description="utterance", layout=widgets.Layout(width="520px"))
        # the left column is as wide as its widest control, so the slider's number is never cut off
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="word", continuous_update=False,
                                        style={"description_width": "40px"}, layout=widgets.Layout(width="260px"))
        self.word_list = widgets.Select(options=[], rows=10, description="", layout=widgets.Layout(width="260px"))
        self.info = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        self._set_words()
        self.dropdown.observe(self._on_utterance, names="value")
        self.slider.observe(self._on_slider, names="value")
        self.word_list.observe(self._on_word_list, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.dropdown, self.info]),
            widgets.HBox([widgets.VBox([self.slider, self.word_list],
                                       layout=widgets.Layout(flex="0 0 270px", width="270px", overflow="visible")),
                          self.output]),
        ])
        self._png = ""
        self._draw()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, plus a PNG of the view shown when it was displayed, for readers whose page runs no widgets."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["image/png"] = self._png
        bundle["text/plain"] = f"<AlignmentViewer: {len(self.records)} utterances; showing {self.utterance.utt_id}>"
        return bundle

    @property
    def utterance(self) -> AlignmentRecord:
        """The record shown now."""
        return self.records[self.dropdown.value]

    @property
    def word(self) -> int | None:
        """Index of the selected word, or None when the utterance has no words."""
        return self.slider.value if self.utterance.words else None

    @property
    def word_text(self) -> str | None:
        """The selected word, or None."""
        return None if self.word is None else self.utterance.words[self.word]

    def show(self, utt_id: str, word: int = 0) -> Figure | None:
        """Select an utterance by id and a word by index, as the controls would; return the figure."""
        ids = [r.utt_id for r in self.records]
        if utt_id not in ids:
            raise KeyError(f"{utt_id!r} is not among the viewer's {len(ids)} utterances")
        self.dropdown.value = ids.index(utt_id)
        self.slider.value = word
        return self.figure

    def _set_words(self) -> None:
        """Refill the word controls for the current utterance and select its first word."""
        words = self.utterance.words
        self._syncing = True
        try:
            self.slider.value = 0
            self.slider.max = max(0, len(words) - 1)
            self.slider.disabled = not words
            self.word_list.options = [(f"{j}: {w}", j) for j, w in enumerate(words)]
            self.word_list.value = 0 if words else None
        finally:
            self._syncing = False

    def _on_utterance(self, change: dict[str, Any]) -> None:
        self._set_words()
        self._draw()

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.word_list.value = change["new"]
        finally:
            self._syncing = False
        self._draw()

    def _on_word_list(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self.slider.value = change["new"]  # draws through _on_slider

    def _draw(self) -> None:
        """Redraw the picture for the current selection and update the label line."""
        r = self.utterance
        mark = "correct" if r.label == r.pred else "wrong"
        self.info.value = (f"<b>true:</b> {html.escape(r.label)} &nbsp; <b>predicted:</b> "
                           f"{html.escape(r.pred)} ({mark})")
        self.figure = plot_alignment(
            r.spectrogram, r.alignment, r.words, word_frames=r.word_frames, speech_weights=r.speech_weights,
            text_weights=r.text_weights, stride=r.stride, n_real_frames=r.n_real_frames, label=r.label,
            pred=r.pred, selected_word=self.word, hop_s=self.hop_s, title=r.utt_id, figsize=self.figsize)
        self._png = png = base64.b64encode(figure_png(self.figure, dpi=self.dpi)).decode("ascii")
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": png, "text/plain": f"<alignment of {r.utt_id}>"}},)
