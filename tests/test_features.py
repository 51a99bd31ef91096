"""Speech and text features, the feature store and its cache (tsin_nb.features)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from tsin_nb.core import TSINConfig
from tsin_nb.data import AudioError, load_audio
from tsin_nb.features import (
    EMPTY_WORD,
    FeatureStore,
    TextEmbedder,
    add_deltas,
    build_feature_store,
    config_for_store,
    delta_width,
    features_main,
    frame_lengths,
    logmel_features,
    logmel_steps,
    minilm_path,
    num_frames,
    pad_or_truncate,
    split_tokens,
    split_words,
    time_to_frame,
    word_spans,
)
from tsin_nb.features import build as F

SR = 16000
CFG = TSINConfig.preset("tiny")  # n_mels 8, n_frames 40, n_words 8
CPU = TSINConfig.preset("cpu")  # n_mels 40


def tone(freq: float, seconds: float, sr: int = SR) -> np.ndarray:
    """A pure sine, float32."""
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- speech ---------------------------------------------------------------------------------------------


def test_frame_lengths_match_paper():
    assert frame_lengths(CPU) == (400, 160)


@pytest.mark.parametrize("band", [5, 15, 30])
def test_pure_tone_energy_lands_in_expected_mel_band(band):
    centers = librosa.mel_frequencies(n_mels=CPU.n_mels + 2, fmin=0.0, fmax=SR / 2)[1:-1]  # filter centres
    freq = float(centers[band]) + 7.0  # near, not exactly on, a centre
    expected = int(np.argmin(np.abs(centers - freq)))
    logmel = logmel_steps(tone(freq, 0.5), CPU, norm="none")["logmel"]  # (n_mels, T)
    assert int(logmel.mean(axis=1).argmax()) == expected


def test_power_spectrum_is_rfft_of_hamming_windowed_frames():
    steps = logmel_steps(tone(440, 0.2), CPU)
    manual = np.abs(np.fft.rfft(steps["frames"] * steps["window"], axis=1)).T ** 2  # (K, T)
    np.testing.assert_allclose(steps["power"], manual, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(steps["window"], np.hamming(401)[:-1], atol=1e-6)  # periodic Hamming


def test_mel_spectrum_matches_librosa_melspectrogram():
    y = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    expected = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=400, hop_length=160, win_length=400,
                                              window="hamming", center=False, n_mels=CPU.n_mels)
    got = logmel_steps(y, CPU, norm="none")["mel"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-8)


def test_deltas_of_linear_ramp_are_constant_in_interior():
    ramp = np.tile(0.5 * np.arange(30.0), (4, 1))  # (n_mels, T) rising 0.5 per frame
    d1, d2 = add_deltas(ramp)
    np.testing.assert_allclose(d1[:, 4:-4], 0.5, atol=1e-9)
    np.testing.assert_allclose(d2[:, 4:-4], 0.0, atol=1e-9)


@pytest.mark.parametrize("frames,width", [(1, 0), (2, 0), (3, 3), (6, 5), (9, 9), (50, 9)])
def test_delta_width_fits_short_clips(frames, width):
    assert delta_width(frames) == width
    d1, d2 = add_deltas(np.random.default_rng(0).standard_normal((3, frames)))
    assert d1.shape == d2.shape == (3, frames) and np.isfinite(d1).all() and np.isfinite(d2).all()


def test_features_shape_and_normalization():
    x = logmel_features(np.random.default_rng(0).standard_normal(SR).astype(np.float32), CPU)
    assert x.shape == (num_frames(SR, CPU), 3 * CPU.n_mels) == (98, 120)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-3)
    raw = logmel_features(np.random.default_rng(0).standard_normal(SR).astype(np.float32), CPU, norm="none")
    assert abs(raw[:, :40].mean()) > 1  # dB values, not standardized
    with pytest.raises(ValueError, match="speech_norm"):
        logmel_features(np.zeros(SR), CPU, norm="global")


@pytest.mark.parametrize("norm", ["utterance", "none"])
def test_silent_audio_gives_finite_features(norm):
    x = logmel_features(np.zeros(SR), CPU, norm=norm)
    assert np.isfinite(x).all()
    assert x[:, :40].min() >= -100.0 - 1e-3  # the -100 dB floor, never -inf


def test_nan_samples_raise_value_error_and_audio_error_names_file(tmp_path):
    y = tone(300, 0.1)
    y[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        logmel_features(y, CPU)
    path = tmp_path / "broken.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="broken.wav"):
        load_audio(path)


@pytest.mark.parametrize(
    "n_samples,real",
    [
        (100, 1),  # shorter than one window: padded to one window -> one frame
        (400, 1),  # exactly one window
        ((40 - 1) * 160 + 400, 40),  # exactly n_frames
        (SR, 40),  # 98 frames: truncated to n_frames
    ],
)
def test_pad_or_truncate_shapes_and_masks(n_samples, real):
    feats = logmel_features(tone(500, n_samples / SR), CFG)
    assert len(feats) == num_frames(n_samples, CFG)
    padded, mask = pad_or_truncate(feats, CFG.n_frames)
    assert padded.shape == (CFG.n_frames, 3 * CFG.n_mels) and mask.shape == (CFG.n_frames,)
    assert mask.sum() == real and mask[:real].all()  # a prefix
    assert not padded[~mask].any()
    np.testing.assert_array_equal(padded[:real], feats[:real])


# --- words ----------------------------------------------------------------------------------------------


def test_split_words_strips_edge_punctuation_and_keeps_case():
    assert split_words('Hello, WORLD -- "don\'t" ... ok!?') == ["Hello", "WORLD", "don't", "ok"]
    assert split_words(" ... !! ") == [] and split_words(None) == []


def test_word_spans_from_timings():
    words = ["Oh", "hello", "there"]
    timings = [("<s>", 0.0, 0.1), ("OH", 0.1, 0.3), ("<sil>", 0.3, 0.35), ("HELLO(2)", 0.35, 0.6),
               ("THERE", 0.6, 0.9), ("</s>", 0.9, 1.0)]
    spans = word_spans(timings, words, CPU)
    assert spans == [(time_to_frame(0.1, CPU), time_to_frame(0.3, CPU)),
                     (time_to_frame(0.35, CPU), time_to_frame(0.6, CPU)),
                     (time_to_frame(0.6, CPU), time_to_frame(0.9, CPU))]
    assert spans == [(9, 29), (34, 59), (59, 89)]  # frame i is centred at (160 i + 200) / 16000 s
    assert word_spans(timings[:3], words, CPU) is None  # counts differ
    assert word_spans(None, words, CPU) is None
    clipped = word_spans(timings, words, CFG)  # n_frames = 40
    assert clipped == [(9, 29), (34, 40), (40, 40)]  # past the kept frames: clipped, then empty


def test_annotation_tags_span_the_gap_when_the_alignment_lacks_them():
    tokens = split_tokens("Well [LAUGHTER] okay.")
    assert tokens == [("Well", False), ("LAUGHTER", True), ("okay", False)]
    words, flags = [w for w, _ in tokens], [a for _, a in tokens]
    tf = lambda t: time_to_frame(t, CPU)  # noqa: E731
    no_fillers = [("<s>", 0, .1), ("well", .1, .3), ("okay", .5, .8)]  # fillers dropped by the parser
    assert word_spans(no_fillers, words, CPU, flags) == [(tf(.1), tf(.3)), (tf(.3), tf(.5)), (tf(.5), tf(.8))]
    with_fillers = [("WELL", .1, .3), ("++LAUGHTER++", .32, .48), ("OKAY", .5, .8)]
    assert word_spans(with_fillers, words, CPU, flags)[1] == (tf(.32), tf(.48))
    assert word_spans(no_fillers, words, CPU) is None  # without flags the counts simply differ


# --- text embeddings ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> TextEmbedder:
    return TextEmbedder("minilm")


def test_subword_pooling_equals_mean_of_subtoken_vectors(minilm):
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    words = ["That", "was", "unbelievably", "good"]
    assert len(tok.tokenize("unbelievably")) > 1  # WordPiece splits it
    longer = ["a", "much", "longer", "sentence", "so", "that", "the", "batch", "is", "padded"]
    pooled = minilm.embed_words([words, longer])[0]  # (4, 384)
    enc = tok(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]  # (T, 384)
    word_ids = enc.word_ids(0)
    assert sum(w == 2 for w in word_ids) == len(tok.tokenize("unbelievably"))
    for j in range(len(words)):
        expected = hidden[[t for t, w in enumerate(word_ids) if w == j]].mean(0)
        np.testing.assert_allclose(pooled[j], expected.numpy(), atol=1e-4)
    assert pooled.shape == (4, 384) and minilm.dim == 384


def test_transformer_is_frozen_and_empty_list_gives_no_rows(minilm):
    out = minilm.embed_words([[], ["fine"]])
    assert out[0].shape == (0, 384) and out[1].shape == (1, 384)
    assert not minilm._model.training
    assert not any(p.requires_grad for p in minilm._model.parameters())


def test_words_beyond_the_model_token_limit_get_zero_vectors_and_a_warning(minilm):
    with pytest.warns(UserWarning, match="beyond the text model"):
        vecs = minilm.embed_words([["hello"] * 600])[0]  # 600 words > 510 tokens
    assert vecs.shape == (600, 384)
    assert vecs[:500].any(axis=1).all() and not vecs[520:].any()


def test_minilm_loads_with_hf_hub_offline():
    code = ("from tsin_nb.features import TextEmbedder; e = TextEmbedder('minilm'); "
            "print(e.embed_words([['hello', 'world']])[0].shape)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "(2, 384)" in res.stdout


def test_onehot_uses_training_vocabulary_only():
    emb = TextEmbedder("onehot").fit(["I am happy", "happy happy day!"])
    assert emb.dim == 4 + 1  # {am, day, happy, i} + OOV slot
    vecs = emb.embed_words([["Happy", "sad"]])[0]  # (2, 5)
    assert vecs.sum(1).tolist() == [1.0, 1.0]
    assert vecs[0, 0] == 0 and vecs[1, 0] == 1  # "sad" is unseen -> OOV slot 0
    capped = TextEmbedder("onehot:2").fit(["I am happy", "happy happy day!"])
    assert capped.dim == 3 and "happy" in capped.vocab
    with pytest.raises(RuntimeError, match="fit"):
        _ = TextEmbedder("onehot").dim


def test_random_vectors_are_stable_per_word():
    a = TextEmbedder("random:16").embed_words([["cat", "dog", "Cat"]])[0]
    b = TextEmbedder("random:16").embed_words([["cat"]])[0]
    assert a.shape == (3, 16)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], a[2])  # case-insensitive
    assert not np.allclose(a[0], a[1])


@pytest.mark.parametrize("header", [True, False])
def test_static_vectors_from_text_file(tmp_path, header):
    lines = ["hello 1 2 3", "world 4 5 6", "Paris 7 8 9"]
    path = tmp_path / "vectors.vec"
    path.write_text(("3 3\n" if header else "") + "\n".join(lines) + "\n")
    emb = TextEmbedder(f"static:{path}")
    assert emb.dim == 3
    vecs = emb.embed_words([["Hello", "unknown", "Paris"], ["world"]])
    np.testing.assert_array_equal(vecs[0], [[1, 2, 3], [0, 0, 0], [7, 8, 9]])  # lowercase fallback, OOV zeros
    np.testing.assert_array_equal(vecs[1], [[4, 5, 6]])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        _ = TextEmbedder(f"static:{tmp_path / 'missing.txt'}").dim


# --- feature store and cache ----------------------------------------------------------------------------


def write_corpus(root: Path) -> pd.DataFrame:
    """Four short wavs and a manifest with an empty, a long and a timed transcript."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        ("u0", "ang", "Oh, hello there!", tone(200, 0.3), [("<s>", 0, .05), ("OH", .05, .1), ("HELLO", .1, .2),
                                                             ("THERE", .2, .3)]),
        ("u1", "hap", "... --", tone(400, 0.02), None),  # empty transcript, clip shorter than one window
        ("u2", "sad", " ".join(f"w{i}" for i in range(12)), tone(800, 1.0), None),  # long text and clip
        ("u3", "neu", "fine", np.zeros(3200, dtype=np.float32), [("FINE", 0, .1), ("EXTRA", .1, .2)]),
    ]
    records = []
    for utt, label, text, y, words in rows:
        sf.write(root / f"{utt}.wav", y, SR)
        records.append({"utt_id": utt, "session": "all", "speaker": "s", "gender": "", "dialog": "",
                        "label": label, "text": text, "wav_path": str(root / f"{utt}.wav"),
                        "start": np.nan, "end": np.nan, "words": words})
    return pd.DataFrame(records)


@pytest.fixture
def counted(monkeypatch):
    """Count calls of the speech and text compute functions."""
    calls = {"speech": 0, "text": 0}
    real_speech, real_text = F._compute_speech, F._compute_text

    def speech(*a, **k):
        calls["speech"] += 1
        return real_speech(*a, **k)

    def text(*a, **k):
        calls["text"] += 1
        return real_text(*a, **k)

    monkeypatch.setattr(F, "_compute_speech", speech)
    monkeypatch.setattr(F, "_compute_text", text)
    return calls


def test_store_contents(tmp_path):
    man = write_corpus(tmp_path / "corpus")
    store = build_feature_store(man, CFG, tmp_path / "cache", text_model="random:16", progress=False)
    assert store.ids == ["u0", "u1", "u2", "u3"]
    assert store.speech.shape == (4, 40, 24) and store.speech.dtype == torch.float32
    assert store.text.shape == (4, 8, 16) and store.labels.tolist() == [0, 1, 2, 3]
    assert store.speech_mask.sum(1).tolist() == [28, 1, 40, 18]  # 0.3 s, < 1 window, truncated, 0.2 s
    assert store.text_mask.sum(1).tolist() == [3, 1, 8, 1]
    assert store.words[1] == [EMPTY_WORD] and not store.text[1].any()  # placeholder: zero vector, mask True
    assert store.words[2] == [f"w{i}" for i in range(8)]
    assert store.word_frames[0] == [(4, 9), (9, 19), (19, 29)]
    assert store.word_frames[1] is None and store.word_frames[3] is None  # no timings / counts differ
    assert store.settings["stats"]["speech_truncated"] == 1
    assert store.settings["stats"]["text_truncated"] == 1 and store.settings["stats"]["empty_transcripts"] == 1
    for key in ("sample_rate", "win_ms", "hop_ms", "n_mels", "n_frames", "n_words", "speech_norm", "text_dim",
                "text_model", "center"):
        assert key in store.settings
    assert torch.isfinite(store.speech).all()
    config_for_store(CFG, store)  # already consistent
    store.check(CFG)


def test_store_with_minilm_sets_text_dim(tmp_path, minilm):
    man = write_corpus(tmp_path / "corpus")
    store = build_feature_store(man, CFG, tmp_path / "cache", text_model=minilm, progress=False)
    assert store.text.shape == (4, 8, 384) and store.settings["text_dim"] == 384
    with pytest.raises(ValueError, match="text_dim"):
        store.check(CFG)
    cfg = config_for_store(CFG, store)
    assert cfg.text_dim == 384
    store.check(cfg)


def test_cache_hit_and_misses(tmp_path, counted):
    man = write_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    first = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 1, "text": 1}
    second = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 1, "text": 1}  # loaded, not recomputed
    assert torch.equal(first.speech, second.speech) and torch.equal(first.text, second.text)
    build_feature_store(man, CFG, cache, text_model="random:32", progress=False)
    assert counted == {"speech": 1, "text": 2}  # text model changed: speech reused
    build_feature_store(man, CFG.replace(n_mels=10), cache, text_model="random:16", progress=False)
    assert counted == {"speech": 2, "text": 2}
    build_feature_store(man, CFG, cache, text_model="random:16", progress=False, speech_norm="utterance")
    assert counted == {"speech": 3, "text": 2}
    man2 = man.copy()
    man2.loc[0, "text"] = "Oh, goodbye there!"
    build_feature_store(man2, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 3, "text": 3}
    sf.write(man.loc[3, "wav_path"], tone(300, 0.25), SR)  # a wav rewritten with new content
    changed = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 4, "text": 3}
    assert changed.speech_mask[3].sum() == num_frames(4000, CFG)


def test_speaker_norm_reuses_the_raw_speech_cache(tmp_path, counted):
    man = write_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    raw = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    per_speaker = build_feature_store(man, CFG, cache, text_model="random:16", progress=False, speech_norm="speaker")
    assert counted == {"speech": 1, "text": 1}  # the same cached raw features, standardised on loading
    assert raw.settings["speech_norm"] == "none" and per_speaker.settings["speech_norm"] == "speaker"
    m = raw.speech_mask
    frames = raw.speech[m].double()  # write_corpus has one speaker
    std = frames.std(0, unbiased=False).clamp(min=1e-5)  # the deltas of steady tones hardly vary: the floor of fold stats
    torch.testing.assert_close(per_speaker.speech[m].double(), (frames - frames.mean(0)) / std, rtol=1e-4, atol=1e-4)
    assert per_speaker.speech[~m].abs().sum() == 0
    assert "normalised per speaker" in F.summarize(per_speaker)


def test_corrupted_cache_entry_is_detected_and_rebuilt(tmp_path, counted):
    man = write_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    first = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    (entry,) = cache.glob("speech-*.pt")
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.warns(UserWarning, match=entry.name):
        again = build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 2, "text": 1}
    assert torch.equal(first.speech, again.speech)
    build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 2, "text": 1}  # the rebuilt entry is good
    (text_entry,) = cache.glob("text-*.pt")
    raw = bytearray(text_entry.read_bytes())
    raw[-100] ^= 0xFF  # same size, one flipped byte
    text_entry.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="checksum"):
        build_feature_store(man, CFG, cache, text_model="random:16", progress=False)
    assert counted == {"speech": 2, "text": 2}


def test_onehot_store_needs_train_ids_and_keys_on_vocabulary(tmp_path, counted):
    man = write_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="train_ids"):
        build_feature_store(man, CFG, cache, text_model="onehot", progress=False)
    store = build_feature_store(man, CFG, cache, text_model="onehot", progress=False, train_ids=["u0", "u3"])
    assert store.text.shape[2] == 4 + 1  # {oh, hello, there, fine} + OOV
    assert store.text[2, :8, 0].tolist() == [1.0] * 8  # u2's words are unseen in training: OOV slot
    build_feature_store(man, CFG, cache, text_model="onehot", progress=False, train_ids=["u0", "u2"])
    assert counted["text"] == 2  # another vocabulary, another entry


def test_store_rejects_unknown_labels(tmp_path):
    man = write_corpus(tmp_path / "corpus")
    man.loc[0, "label"] = "fru"
    with pytest.raises(ValueError, match="fru"):
        build_feature_store(man, CFG, tmp_path / "cache", text_model="random:16", progress=False)


def test_store_save_load_and_subset(tmp_path):
    man = write_corpus(tmp_path / "corpus")
    store = build_feature_store(man, CFG, tmp_path / "cache", text_model="random:16", progress=False)
    store.save(tmp_path / "store.pt")
    back = FeatureStore.load(tmp_path / "store.pt")
    assert back.ids == store.ids and back.words == store.words and back.word_frames == store.word_frames
    assert torch.equal(back.speech, store.speech) and back.settings == store.settings
    sub = store.subset(["u2", "u0"])
    assert sub.ids == ["u2", "u0"] and torch.equal(sub.speech[1], store.speech[0])
    assert sub.words[0] == store.words[2]


def test_features_main_on_a_manifest_corpus(tmp_path, capsys):
    man = write_corpus(tmp_path / "corpus")
    csv = tmp_path / "corpus" / "manifest.csv"
    man.assign(text=man["text"].replace("... --", "hmm"))[["utt_id", "wav_path", "text", "label", "speaker"]].to_csv(
        csv, index=False)
    store = features_main(csv, tmp_path / "cache", preset="tiny", text_model="random:16")
    assert store.ids == ["u0", "u2"] and store.text.shape == (2, 8, 16)  # the reader drops u1 and u3, named
    out = capsys.readouterr().out
    assert "utterances: 2" in out and "random:16" in out
    assert "Dropped 2 of 4 utterances" in out and "silent" in out and "too short" in out
    dropped = pd.read_csv(tmp_path / "cache" / "dropped.csv")
    assert sorted(dropped["utt_id"]) == ["u1", "u3"]


# ------------------------------------------------ what the store depends on ---


def test_feature_fields_name_every_config_field_the_features_read() -> None:
    """A setting read while building a store but missing from FEATURE_FIELDS would let two runs with different
    features share one store in a worker; the source of the features stage is the list of what it reads."""
    import re

    read = set()
    for path in Path(F.__file__).parent.glob("*.py"):
        read |= set(re.findall(r"\bcfg\.([a-z_]+)", path.read_text()))
    derived = {"speech_dim"}  # 3 * n_mels
    only_checked = {"text_dim"}  # FeatureStore.check compares it; the embedder decides the width
    methods = {"replace"}
    assert read - derived - only_checked - methods <= set(F.FEATURE_FIELDS), read
    assert set(F.FEATURE_FIELDS) <= set(TSINConfig.__dataclass_fields__)


def test_the_store_key_changes_with_the_features_only(tmp_path: Path) -> None:
    from tsin_nb.runs import store_key

    base = TSINConfig.preset("cpu")
    key = store_key("m", base, tmp_path)
    for change in ({"seed": 3}, {"lr": 1e-3}, {"d_model": 96}, {"align_prior": 0.0}, {"epochs": 2}):
        assert store_key("m", base.replace(**change), tmp_path) == key, change
    for change in ({"n_mels": 20}, {"text_model": "random"}, {"speech_norm": "fold"}, {"trim_db": 0.0},
                   {"n_words": 16}, {"n_frames": 400}, {"hop_ms": 20.0}):
        assert store_key("m", base.replace(**change), tmp_path) != key, change
    assert store_key("other manifest", base, tmp_path) != key
    assert store_key("m", base, tmp_path, train_ids=["a", "b"]) != key


def test_a_derived_value_is_kept_until_its_tensors_change() -> None:
    g = torch.Generator().manual_seed(0)
    store = FeatureStore(["a", "b"], torch.randn(2, 4, 3, generator=g), torch.ones(2, 4, dtype=torch.bool),
                         torch.randn(2, 2, 5, generator=g), torch.ones(2, 2, dtype=torch.bool),
                         torch.tensor([0, 1]), [["x"], ["y"]], [None, None])
    calls: list[str] = []

    def total(name: str) -> float:
        calls.append(name)
        return float(store.speech.sum())

    def kept(name: str = "sum") -> float:
        return store.derived(name, (store.speech,), lambda: total(name))

    first = kept()
    assert kept() == first and calls == ["sum"]  # kept
    assert kept("other") == first and calls == ["sum", "other"]  # each name its own value
    store.speech.mul_(2.0)  # changed in place
    assert kept() == pytest.approx(2 * first) and calls[-1] == "sum" and len(calls) == 3
    store.speech = store.speech.clone()  # replaced, same values
    kept()
    assert len(calls) == 4
    assert store.subset(["b"])._derived == {}  # a subset computes its own
