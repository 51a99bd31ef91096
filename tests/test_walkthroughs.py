"""The one-call walk-throughs behind notebooks 00-02: cue table, fold coverage, speech path, sub-words, the store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from corpora import write_corpus
from matplotlib.figure import Figure

from tsin_nb.core import TSINConfig
from tsin_nb.data import CUE_COLUMNS, synthetic_cues
from tsin_nb.features import (
    RandomEmbedder,
    Subwords,
    TextEmbedder,
    build_feature_store,
    build_store_twice,
    frame_lengths,
    split_words,
)
from tsin_nb.features import build as F
from tsin_nb.show import (
    SPEECH_PANELS,
    cue_share_text,
    folds_facts,
    folds_text,
    plot_speech_walkthrough,
    speech_walkthrough,
    store_text,
)

CFG = TSINConfig.preset("tiny")  # n_mels 8, n_frames 40


# ------------------------------------------------------------------ 00: cues and folds


def test_synthetic_cues_keeps_the_manifests_utterances_and_is_empty_elsewhere(tmp_path: Path) -> None:
    pd.DataFrame({"utt_id": ["a", "b", "c"], "cue": ["text", "voice", "both"], "label_code": ["ang", "exc", "sad"],
                  "text": ["x", "y", "z"]}).to_csv(tmp_path / "synthetic_meta.csv", index=False)
    cues = synthetic_cues(tmp_path, pd.DataFrame({"utt_id": ["c", "a"]}))
    assert list(cues.columns) == list(CUE_COLUMNS)
    assert sorted(cues["utt_id"]) == ["a", "c"] and dict(zip(cues["utt_id"], cues["label_code"])) == {"a": "ang",
                                                                                                      "c": "sad"}
    other = synthetic_cues(tmp_path / "elsewhere", pd.DataFrame({"utt_id": ["a"]}))
    assert other.empty and list(other.columns) == list(CUE_COLUMNS)
    assert other["cue"].value_counts().to_dict() == {}
    assert "not the embedded corpus" in cue_share_text(other)
    assert "33%" in cue_share_text(synthetic_cues(tmp_path, pd.DataFrame({"utt_id": ["a", "b", "c"]})))


def test_folds_text_says_when_every_utterance_is_tested_once_and_when_not() -> None:
    good = [SimpleNamespace(train=["b", "c"], val=[], test=["a"]), SimpleNamespace(train=["a"], val=["c"], test=["b"]),
            SimpleNamespace(train=["a", "b"], val=[], test=["c"])]
    twice = [SimpleNamespace(train=["c"], val=[], test=["a", "b"]), SimpleNamespace(train=["c"], val=[], test=["a"])]
    facts = folds_facts({"SesI": good, "SpkD": twice})
    assert (facts["SesI"]["utterances"], facts["SesI"]["tested"], facts["SesI"]["tested_twice"]) == (3, 3, 0)
    assert (facts["SpkD"]["utterances"], facts["SpkD"]["tested"], facts["SpkD"]["tested_twice"]) == (3, 2, 1)
    text = folds_text({"SesI": good, "SpkD": twice})
    assert "SesI: every utterance is tested exactly once" in text
    assert "2 of 3 utterances tested, 1 of them more than once" in text
    assert "every utterance" not in folds_text({"SpkD": twice})


# ------------------------------------------------------------------ 01: the speech path


def _clip(seconds_silent: float, seconds_tone: float, sr: int = 16000) -> np.ndarray:
    silent = np.zeros(int(seconds_silent * sr), dtype=np.float32)
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(int(seconds_tone * sr)) / sr).astype(np.float32)
    return np.concatenate([silent, tone, silent])


def test_speech_walkthrough_trims_frames_pads_and_pools_as_the_run_does() -> None:
    cfg = CFG.replace(trim_db=30.0, speech_stride=4, speech_pool="mean", speech_norm="fold")
    y = _clip(0.3, 0.5)
    walk = speech_walkthrough(y, cfg)
    win, hop = frame_lengths(cfg)
    assert walk["clip"] is y and walk["start"] > 0 and len(walk["trimmed"]) < len(y)
    T = 1 + (len(walk["signal"]) - win) // hop
    assert walk["features"].shape == (T, 3 * cfg.n_mels) and walk["frames"].shape == (T, win)
    assert walk["padded"].shape == (cfg.n_frames, 3 * cfg.n_mels) and walk["mask"].sum() == min(T, cfg.n_frames)
    n = min(T, cfg.n_frames)
    np.testing.assert_allclose(walk["padded"][:n], walk["features"][:n])  # fold: stored raw, not normalised
    assert walk["pooled"].shape == (cfg.n_frames // 4, 3 * cfg.n_mels)
    np.testing.assert_allclose(walk["pooled"][0], walk["padded"][:4].mean(0), rtol=1e-5, atol=1e-5)
    assert "trimming (trim_db = 30)" in walk["text"] and f"reads ({cfg.n_frames // 4}, {3 * cfg.n_mels})" in walk["text"]
    assert "training fold's statistics" in walk["text"]


def test_speech_walkthrough_keeps_the_clip_without_trimming_and_normalises_per_utterance() -> None:
    cfg = CFG.replace(trim_db=0.0, speech_stride=1, speech_norm="utterance", speech_pool="mean_std")
    walk = speech_walkthrough(_clip(0.1, 0.2), cfg)
    assert walk["start"] == 0 and len(walk["trimmed"]) == len(walk["clip"])
    np.testing.assert_allclose(walk["features"].mean(0), 0, atol=1e-4)
    assert walk["pooled"].shape == (cfg.n_frames, 6 * cfg.n_mels)  # mean and std of one-frame blocks
    assert "normalised per utterance" in walk["text"] and "every frame" in walk["text"]


def test_plot_speech_walkthrough_draws_one_panel_per_step() -> None:
    fig = plot_speech_walkthrough(speech_walkthrough(_clip(0.1, 0.3), CFG), CFG)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert isinstance(fig, Figure) and [ax.get_title() for ax in panels] == list(SPEECH_PANELS)


# ------------------------------------------------------------------ 02: sub-words and the store


def test_subwords_count_real_tokens_and_words_cut_into_pieces() -> None:
    sub = Subwords(["[CLS]", "liv", "##id", "me", "[SEP]"], np.array([-1, 0, 0, 1, -1]), np.zeros((5, 2)))
    assert sub.n_subwords == 3 and sub.n_split == 1


def test_a_kind_without_sub_words_gives_one_token_per_word() -> None:
    emb = RandomEmbedder("random:6")
    sub = emb.subwords(["so", "livid"])
    assert sub.tokens == ["so", "livid"] and sub.word_ids.tolist() == [0, 1]
    np.testing.assert_array_equal(sub.vectors, emb.embed_words([["so", "livid"]])[0])
    assert (sub.n_subwords, sub.n_split) == (2, 0) and emb.first_split(["so livid", "x"]) == 0


def test_minilm_word_vectors_are_the_mean_of_their_sub_word_vectors() -> None:
    emb = TextEmbedder("minilm", device="cpu")
    texts = ["I am fine.", "They expected me to be normal, but I was livid."]
    i = emb.first_split(texts)
    words = split_words(texts[i])
    sub = emb.subwords(words)
    assert i == 1 and sub.n_split >= 1 and sub.word_ids[0] == -1 and sub.word_ids[-1] == -1
    assert len(sub.tokens) == len(sub.vectors) == len(sub.word_ids) > len(words)
    means = np.stack([sub.vectors[sub.word_ids == j].mean(0) for j in range(len(words))])
    np.testing.assert_allclose(emb.embed_words([words])[0], means, atol=1e-4)
    assert emb.first_split(["I am fine."]) == 0


def test_build_store_twice_computes_once_then_reads_the_cache(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wavs").mkdir()
    manifest = write_corpus(tmp_path / "wavs", lambda label: f"I feel {label} today", per_speaker=2)
    calls = []
    compute = F._compute_speech
    monkeypatch.setattr(F, "_compute_speech", lambda *a, **k: calls.append(1) or compute(*a, **k))
    store, (first, second) = build_store_twice(manifest, CFG, tmp_path / "cache", text_model="random:4",
                                               progress=False)
    assert len(calls) == 1 and first >= 0 and second >= 0
    again = build_feature_store(manifest, CFG, tmp_path / "cache", text_model="random:4", progress=False)
    assert torch.equal(store.speech, again.speech) and store.ids == again.ids
    assert store.stats == store.settings["stats"] and store.stats is not store.settings["stats"]
    assert store.stats["speech_truncated"] == int((store.speech_mask.sum(1) == CFG.n_frames).sum())
    assert "more than n = 40 frames" in store_text(len(store), 0, store.stats["speech_truncated"], CFG)


def test_speech_walkthrough_reads_an_audio_file(tmp_path: Path) -> None:
    import soundfile as sf

    y = _clip(0.0, 0.2)
    sf.write(tmp_path / "a.wav", y, 16000)
    walk = speech_walkthrough(tmp_path / "a.wav", CFG)
    assert isinstance(walk["clip"], np.ndarray) and len(walk["clip"]) == len(y)
    np.testing.assert_allclose(walk["clip"], y, atol=1e-3)
