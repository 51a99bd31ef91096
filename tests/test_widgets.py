"""The alignment viewer follows its controls, and records drop every padded word and frame."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch

from tsin_nb.features import FeatureStore
from tsin_nb.show import AlignmentRecord, AlignmentViewer, records_from_arrays

N_MELS, N, M, STRIDE = 4, 12, 5, 2


def _store() -> FeatureStore:
    """Two utterances: 9 real frames / 3 words, and 12 real frames / 5 words (no spans)."""
    speech = torch.arange(2 * N * 3 * N_MELS, dtype=torch.float32).reshape(2, N, 3 * N_MELS)
    speech_mask = torch.zeros(2, N, dtype=torch.bool)
    speech_mask[0, :9] = True
    speech_mask[1, :] = True
    text_mask = torch.zeros(2, M, dtype=torch.bool)
    text_mask[0, :3] = True
    text_mask[1, :] = True
    return FeatureStore(
        ids=["a", "b"], speech=speech, speech_mask=speech_mask, text=torch.zeros(2, M, 6), text_mask=text_mask,
        labels=torch.tensor([0, 2]), words=[["oh", "no", "way"], ["one", "two", "three", "four", "five"]],
        word_frames=[[(0, 3), (3, 6), (6, 9)], None], settings={"n_mels": N_MELS},
    )


def _outputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    align = rng.random((2, M, N // STRIDE))  # (U, M, N')
    sw, tw = rng.random((2, M)), rng.random((2, M))
    return align, sw, tw


def test_records_from_arrays_trims_padding() -> None:
    store = _store()
    align, sw, tw = _outputs()
    recs = records_from_arrays(["b", "a"], [2, 0], [2, 1], align[::-1], sw[::-1], tw[::-1], store, STRIDE)
    a, b = recs[1], recs[0]
    assert (a.utt_id, a.label, a.pred) == ("a", "ang", "hap")
    assert (b.label, b.pred) == ("sad", "sad")
    assert a.n_real_frames == 9 and a.spectrogram.shape == (N_MELS, 9)
    np.testing.assert_array_equal(a.spectrogram, store.speech[0, :9, :N_MELS].numpy().T)  # static log-Mel only
    assert a.words == ["oh", "no", "way"] and a.word_frames == [(0, 3), (3, 6), (6, 9)]
    assert a.alignment.shape == (3, 5)  # 3 real words, ceil(9 / 2) strided frames
    np.testing.assert_allclose(a.alignment, align[0, :3, :5])
    np.testing.assert_allclose(a.speech_weights, sw[0, :3])
    np.testing.assert_allclose(a.text_weights, tw[0, :3])
    assert b.alignment.shape == (5, 6) and b.word_frames is None and len(b.words) == 5


def test_records_without_alignment_and_wrong_stride() -> None:
    store = _store()
    recs = records_from_arrays(["a"], ["ang"], ["sad"], None, None, None, store, STRIDE)
    assert recs[0].alignment is None and recs[0].speech_weights is None and recs[0].words == ["oh", "no", "way"]
    align, sw, tw = _outputs()
    with pytest.raises(ValueError, match="stride"):
        records_from_arrays(["a"], [0], [0], torch.from_numpy(align[:, :, :2]), None, None, store, STRIDE)


def _title(viewer: AlignmentViewer) -> str:
    return viewer.figure.axes[0].get_title()


def test_viewer_follows_its_controls() -> None:
    store = _store()
    align, sw, tw = _outputs()
    viewer = AlignmentViewer(records_from_arrays(["a", "b"], [0, 2], [1, 2], align, sw, tw, store, STRIDE))
    assert viewer.dropdown.options[0][0] == "a (ang -> hap)"
    assert viewer.utterance.utt_id == "a" and viewer.word == 0 and viewer.slider.max == 2
    assert [o[1] for o in viewer.word_list.options] == [0, 1, 2]
    assert '"oh"' in _title(viewer) and "wrong" in viewer.info.value
    first = viewer.figure
    assert viewer.output.outputs[0]["data"]["image/png"]

    viewer.slider.value = 2
    assert viewer.word == 2 and viewer.word_text == "way" and viewer.word_list.value == 2
    assert viewer.figure is not first and '"way"' in _title(viewer)
    span = [p for p in viewer.figure.axes[0].patches if p.get_gid() == "selected-span"][0]
    xs = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((0.06, 0.09))

    viewer.word_list.value = 1
    assert viewer.slider.value == 1 and '"no"' in _title(viewer)

    viewer.dropdown.value = 1
    assert viewer.utterance.utt_id == "b" and viewer.word == 0
    assert viewer.slider.max == 4 and len(viewer.word_list.options) == 5
    assert "(correct)" in viewer.figure.get_suptitle() and "correct" in viewer.info.value
    assert "no true span" in _title(viewer)
    viewer.slider.value = 4
    assert '"five"' in _title(viewer)

    fig = viewer.show("a", 1)
    assert fig is viewer.figure and viewer.utterance.utt_id == "a" and viewer.word == 1
    assert viewer.slider.max == 2
    with pytest.raises(KeyError):
        viewer.show("zzz")


def test_viewer_handles_utterance_without_words() -> None:
    spec = np.zeros((N_MELS, 6))
    empty = AlignmentRecord("e", spec, [], None, None, None, None, label="neu", pred="neu")
    viewer = AlignmentViewer([empty])
    assert viewer.word is None and viewer.slider.disabled and viewer.figure is not None
    assert empty.n_real_frames == 6
    with pytest.raises(ValueError):
        AlignmentViewer([])


def test_viewer_displays_a_static_picture_beside_the_widget() -> None:
    """A page that runs no widgets (an executed notebook not yet trusted, a repository viewer) shows the PNG."""
    import base64

    store = _store()
    align, sw, tw = _outputs()
    viewer = AlignmentViewer(records_from_arrays(["a", "b"], [0, 2], [1, 2], align, sw, tw, store, STRIDE))
    bundle = viewer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == viewer.widget.model_id
    png = base64.b64decode(bundle["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert bundle["image/png"] == viewer.output.outputs[0]["data"]["image/png"]  # the view the widget shows
    assert "VBox" not in bundle["text/plain"] and "showing a" in bundle["text/plain"]
    viewer.dropdown.value = 1
    assert viewer._repr_mimebundle_()["image/png"] != bundle["image/png"]
