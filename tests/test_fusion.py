"""Speech normalisation from the training part, the linear baselines, the auxiliary alignment loss."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from corpora import write_corpus
from test_train import make_store

from tsin_nb.core import TSINConfig, set_seed
from tsin_nb.features import FeatureStore, build_feature_store, config_for_store, speaker_standardised
from tsin_nb.model import build_model, span_alignment, uniform_alignment, word_match_loss
from tsin_nb.runs import Fold, format_tables, load_outputs, make_folds, run_experiment
from tsin_nb.train import alignment_loss, fit, fold_speech_stats, span_targets

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = TSINConfig.preset("tiny", epochs=3, batch_size=8)
FOLD = Fold("f", "SesI", [f"utt{i:03d}" for i in range(32)], [f"utt{i:03d}" for i in range(32, 40)],
            [f"utt{i:03d}" for i in range(40, 48)])


def _model(cfg: TSINConfig, variant: str) -> torch.nn.Module:
    """A model with the seeded initial weights every run starts from."""
    set_seed(cfg.seed)
    return build_model(cfg, variant)


def _copy(store: FeatureStore) -> FeatureStore:
    return FeatureStore(list(store.ids), store.speech.clone(), store.speech_mask.clone(), store.text.clone(),
                        store.text_mask.clone(), store.labels.clone(), store.words, list(store.word_frames),
                        dict(store.settings))


def test_fold_statistics_come_from_the_training_part_only() -> None:
    store = make_store(CFG)
    train = store.index(FOLD.train)
    mean, std = fold_speech_stats(store, train)
    frames = store.speech[train][store.speech_mask[train]].double()  # (real frames, F)
    assert torch.allclose(mean.double(), frames.mean(0), atol=1e-5)
    assert torch.allclose(std.double(), frames.std(0, unbiased=False), atol=1e-5)

    changed = _copy(store)
    other = changed.index(FOLD.val + FOLD.test)
    changed.speech[other] = changed.speech[other] * 7.0 + 100.0  # val and test features change a lot
    r1 = fit(_model(CFG, "speech"), store, FOLD, CFG, progress=False, log=None)
    r2 = fit(_model(CFG, "speech"), changed, FOLD, CFG, progress=False, log=None)
    for key in ("mean", "std"):
        np.testing.assert_array_equal(r1.speech_stats[key], r2.speech_stats[key])
    np.testing.assert_allclose(r1.speech_stats["mean"], mean.numpy(), rtol=1e-6)
    everything = fold_speech_stats(changed, changed.index(store.ids))[0]
    assert not torch.allclose(everything, mean), "statistics over all rows must differ from training-only ones"


def test_a_store_normalised_otherwise_is_refused() -> None:
    store = make_store(CFG)
    store.settings["speech_norm"] = "utterance"
    with pytest.raises(ValueError, match="speech_norm='utterance'"):
        fit(_model(CFG, "speech"), store, FOLD, CFG, progress=False, log=None)


def _timed_store(cfg: TSINConfig) -> FeatureStore:
    """make_store with a true span for every word: word j covers frames [2j, 2j + 2)."""
    store = make_store(cfg)
    store.word_frames = [[(2 * j, 2 * j + 2) for j in range(len(w))] for w in store.words]
    return store


def test_alignment_loss_off_is_bit_identical_to_no_timings() -> None:
    with_timings, without = _timed_store(CFG), make_store(CFG)
    a = fit(_model(CFG, "tsin"), with_timings, FOLD, CFG, progress=False, log=None)
    b = fit(_model(CFG, "tsin"), without, FOLD, CFG, progress=False, log=None)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.alignments, b.alignments)


def test_alignment_loss_pulls_attention_into_the_spans() -> None:
    cfg = CFG.replace(epochs=6, lr=3e-2, align_prior=0.0)  # Eq. 4 as printed: the loss alone moves it
    store = _timed_store(cfg)
    target = span_targets(store, cfg.speech_stride)  # (U, M, N')
    assert target.shape == (len(store), cfg.n_words, cfg.n_frames // cfg.speech_stride)
    assert target[0, 0, 0] and not target[0, 0, 1 + 2 // cfg.speech_stride]

    def mass(result: object) -> float:
        rows = store.index(result.ids)
        t = target[rows].numpy()
        return float((result.alignments * t).sum(-1)[t.any(-1)].mean())

    off = fit(_model(cfg, "tsin"), store, FOLD, cfg, progress=False, log=None)
    on = fit(_model(cfg, "tsin"), store, FOLD, cfg.replace(align_loss=1.0), progress=False, log=None)
    assert mass(on) > mass(off) + 0.1
    perfect = torch.tensor([[[0.5, 0.5, 0.0]]])
    assert alignment_loss(perfect, torch.tensor([[[True, True, False]]])).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("bad", [{"text_dropout": 1.0}, {"classifier_dropout": -0.1}, {"si_scale": "max"},
                                 {"speech_norm": "global"}, {"align_loss": -1.0}, {"trim_db": -3.0},
                                 {"align_nce": -0.5}, {"align_ctc": -1.0}, {"mec_pool": "max"}])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        TSINConfig.preset("cpu", **bad)


def test_word_match_loss_is_trained_and_needs_no_timings() -> None:
    """align_nce: fit adds the word-match loss (no word timings needed) and training lowers it."""
    cfg = CFG.replace(epochs=6, lr=3e-2)
    store = make_store(cfg)  # no word timings at all
    rows = store.index(FOLD.train)

    def loss_of(model: torch.nn.Module) -> float:
        model.eval()
        with torch.no_grad():
            o = model(store.speech[rows], store.speech_mask[rows], store.text[rows], store.text_mask[rows])
        return word_match_loss(o.word_match, store.text_mask[rows]).item()

    set_seed(0)
    model = _model(cfg.replace(align_nce=1.0), "tsin")
    before = loss_of(model)
    fit(model, store, FOLD, cfg.replace(align_nce=1.0), progress=False, log=None)
    assert loss_of(model) < before - 0.1
    off = fit(_model(cfg, "tsin"), store, FOLD, cfg, progress=False, log=None)
    assert off.history[0]["train_loss"] != pytest.approx(fit(_model(cfg.replace(align_nce=1.0), "tsin"), store, FOLD,
                                                               cfg.replace(align_nce=1.0), progress=False,
                                                               log=None).history[0]["train_loss"])


def _forward_sum_of(model: torch.nn.Module, store: FeatureStore, rows: torch.Tensor) -> float:
    """The model's forward-sum loss (``cfg.align_ctc``) over ``rows`` of the store, in eval mode."""
    model.eval()
    with torch.no_grad():
        return model(store.speech[rows], store.speech_mask[rows], store.text[rows], store.text_mask[rows]
                     ).forward_sum.item()


def test_forward_sum_loss_is_trained_and_needs_no_timings() -> None:
    """align_ctc: fit adds the forward-sum loss (the words' order only, no timings) and training lowers it."""
    cfg = CFG.replace(epochs=6, lr=3e-2, align_prior=0.0)
    store = make_store(cfg)  # no word timings at all
    rows = store.index(FOLD.train)

    set_seed(0)
    model = _model(cfg.replace(align_ctc=1.0), "tsin")
    before = _forward_sum_of(model, store, rows)
    on = fit(model, store, FOLD, cfg.replace(align_ctc=1.0), progress=False, log=None)
    assert _forward_sum_of(model, store, rows) < before - 0.1
    set_seed(0)
    off = fit(_model(cfg, "tsin"), store, FOLD, cfg, progress=False, log=None)
    assert on.history[0]["train_loss"] > off.history[0]["train_loss"]  # the added loss is in what is minimised


def test_forward_sum_warmup_trains_the_position_score_before_any_emotion_epoch() -> None:
    """align_ctc_warmup with align_ctc_detach: before the first emotion epoch only Eq. 3's position score has moved,
    the forward-sum loss has fallen, and no label was read (shuffled labels give the same warmed-up model)."""
    cfg = CFG.replace(lr=3e-2, align_prior=0.0, align_ctc=1.0, align_pos=4, align_ctc_detach=True, align_ctc_warmup=4)
    store = make_store(cfg)
    rows = store.index(FOLD.train)

    states = []
    for labels in (store.labels, store.labels[torch.randperm(len(store.labels), generator=torch.Generator().manual_seed(1))]):
        set_seed(0)
        model = _model(cfg, "tsin")
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        loss_before = _forward_sum_of(model, store, rows)
        shuffled = dataclasses.replace(store, labels=labels)
        fit(model, shuffled, FOLD, cfg, progress=False, log=None, max_epochs_this_call=0)  # the warm-up, no epoch
        moved = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}  # buffers: fold statistics
        assert moved and all(k.startswith("position.") for k in moved)
        assert _forward_sum_of(model, store, rows) < loss_before
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    with pytest.raises(ValueError, match="align_ctc_warmup"):
        CFG.replace(align_ctc_warmup=2)  # a warm-up of nothing


def test_alignment_loss_needs_timings() -> None:
    with pytest.raises(ValueError, match="word timings"):
        fit(_model(CFG, "tsin"), make_store(CFG), FOLD, CFG.replace(align_loss=1.0), progress=False, log=None)


# ------------------------------------------------------------------ a loudness-only corpus ---

GAINS = {"ang": 0.5, "hap": 0.2, "neu": 0.06, "sad": 0.02}


@pytest.fixture(scope="module")
def loud_manifest(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Three sessions x 2 speakers; the class is carried by loudness alone (same words, random tones)."""

    def tone(rng: np.random.Generator, label: str, k: int) -> np.ndarray:
        t = np.arange(int(16000 * rng.uniform(0.3, 0.5))) / 16000
        y = np.sin(2 * np.pi * rng.uniform(150, 400) * t) + 0.3 * rng.standard_normal(len(t))
        return GAINS[label] * rng.uniform(0.8, 1.25) * y / 1.5

    return write_corpus(tmp_path_factory.mktemp("loud"), lambda _label: "the same words", per_speaker=24,
                        speak=tone, seed=1)


@pytest.mark.parametrize(("norm", "learns"), [("fold", True), ("utterance", False)])
def test_speech_learns_a_loudness_cue(loud_manifest: pd.DataFrame, tmp_path: Path, norm: str, learns: bool) -> None:
    cfg = TSINConfig.preset("tiny", epochs=8, batch_size=16, lr=1e-2, speech_norm=norm, text_model="random:16")
    store = build_feature_store(loud_manifest, cfg, tmp_path / "cache", progress=False)
    cfg = config_for_store(cfg, store)
    fold = make_folds(loud_manifest, "SesI", val_fraction=0.1)[0]
    ua = fit(_model(cfg, "speech"), store, fold, cfg, progress=False, log=None).metrics["ua"]
    if learns:
        assert ua >= 0.75, f"Speech with fold statistics should read loudness, UA {ua:.2f}"
    else:
        assert ua <= 0.6, f"per-utterance normalisation erases loudness, yet UA {ua:.2f}"


# ------------------------------------------------------------------ speaker normalisation ---


def test_speaker_standardisation_by_hand() -> None:
    """Each speaker's real frames get mean 0 and std 1 per feature from that speaker's own frames; padding stays 0."""
    g = torch.Generator().manual_seed(3)
    speech = torch.randn(4, 5, 2, generator=g) * torch.tensor([2.0, 7.0]) + torch.tensor([30.0, -4.0])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]).bool()
    speech[~mask] = 0.0
    out = speaker_standardised(speech, mask, ["b", "a", "b", "a"])
    for rows in ([1, 3], [0, 2]):  # speaker a, speaker b
        frames = speech[rows][mask[rows]].double()  # (real frames, F)
        expected = (frames - frames.mean(0)) / frames.std(0, unbiased=False)
        torch.testing.assert_close(out[rows][mask[rows]].double(), expected, rtol=1e-5, atol=1e-5)
    assert out[~mask].abs().sum() == 0
    with pytest.raises(ValueError, match="speakers"):
        speaker_standardised(speech, mask, ["a"])


def test_speaker_norm_reads_a_cue_relative_to_the_speaker(tmp_path: Path) -> None:
    """Loudness carries the class, on top of a recording level of each speaker's own (x 1/8 .. x 8).

    Fold statistics leave the speaker's level in the features, so a linear model trained on two sessions reads
    a new session's speakers through their level; per-speaker statistics remove it and leave the cue.
    """
    levels = [8.0, 1 / 8, 1.0, 4.0, 1 / 4, 1 / 2]  # speakers in the order write_corpus speaks them
    calls = [0]

    def speak(rng: np.random.Generator, label: str, k: int) -> np.ndarray:
        level = levels[calls[0] // 24]
        calls[0] += 1
        t = np.arange(int(16000 * rng.uniform(0.3, 0.5))) / 16000
        y = np.sin(2 * np.pi * rng.uniform(150, 400) * t) + 0.3 * rng.standard_normal(len(t))
        return np.clip(level * GAINS[label] * rng.uniform(0.8, 1.25) * y / 12, -1, 1)

    (tmp_path / "corpus").mkdir()
    man = write_corpus(tmp_path / "corpus", lambda _label: "the same words", per_speaker=24, speak=speak, seed=2)
    ua = {}
    for norm in ("fold", "speaker"):
        res = run_experiment(man, tmp_path / norm, protocols="SesI", variants="lin_speech",
                             preset=TSINConfig.preset("tiny", speech_norm=norm), text_model="random:16",
                             cache_dir=tmp_path / "cache", progress=False, log=None)
        ua[norm] = res["ua"].mean()
    assert ua["speaker"] >= 0.7, ua  # 0.75 here; chance is 0.25
    assert ua["speaker"] >= ua["fold"] + 0.3, ua  # fold statistics: 0.35
    for bad in (man.drop(columns="speaker"), man.assign(speaker=[""] + list(man["speaker"][1:]))):
        with pytest.raises(ValueError, match="speaker"):
            build_feature_store(bad, TSINConfig.preset("tiny", speech_norm="speaker"), tmp_path / "cache",
                                text_model="random:16", progress=False)


# --------------------------------------------------------------------------- linear baselines ---


def test_baseline_statistics_are_computed_once_per_store_and_equal_each_fold_s_own() -> None:
    from tsin_nb.core import BASELINES
    from tsin_nb.train import baseline_features, speech_statistics, text_statistics

    store = make_store()
    rows = torch.tensor([5, 3, 40, 0, 17])
    own = {"lin_speech": speech_statistics(store, rows), "lin_text": text_statistics(store, rows)}
    own["lin_fusion"] = np.concatenate([own["lin_speech"], own["lin_text"]], axis=1)
    for variant in BASELINES:
        assert np.array_equal(baseline_features(store, rows, variant), own[variant]), variant
    assert set(store._derived) == {("baseline", "speech"), ("baseline", "text")}
    store.speech.add_(1.0)  # changed features: the table is computed anew
    assert np.array_equal(baseline_features(store, rows, "lin_speech"), speech_statistics(store, rows))
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_features(store, rows, "lin_other")



def test_linear_baselines_run_through_run_and_table(loud_manifest: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "results"
    variants = ("speech", "lin_speech", "lin_text", "lin_fusion")
    res = run_experiment(loud_manifest, out, protocols="SesI", variants=variants, preset="tiny", epochs=1,
                         folds=2, text_model="random:16", progress=False, log=None)
    assert sorted(set(res["variant"])) == sorted(variants)
    for fold in res["fold"].unique():
        ids = {v: list(load_outputs(out, "SesI", v, fold)["ids"]) for v in variants}
        assert all(ids[v] == ids["speech"] for v in variants), "baselines must use the deep models' test folds"
    lin = res[res["variant"] == "lin_speech"]
    # 96 training utterances for 2 F + 1 = 49 statistics: it overfits somewhat, but reads the cue (chance 0.25)
    assert lin["ua"].mean() >= 0.6, "a linear model on utterance statistics reads the loudness cue"
    text = format_tables(out)
    for label in ("Linear speech", "Linear text", "Linear fusion"):
        assert label in text
    again = run_experiment(loud_manifest, out, protocols="SesI", variants=variants, preset="tiny", epochs=1,
                           folds=2, text_model="random:16", progress=False, log=None)
    pd.testing.assert_frame_equal(res, again)


# ------------------------------------------------------------------------------- silence trimming ---


def test_trimming_cuts_silence_and_shifts_word_spans(tmp_path: Path) -> None:
    sr, silence = 16000, np.zeros(4000, dtype=np.float32)  # 0.25 s of digital silence on each side
    t = np.arange(8000) / sr
    speech = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # 0.5 s of "speech"
    sf.write(tmp_path / "u.wav", np.concatenate([silence, speech, silence]), sr)
    timings = [("<s>", 0.0, 0.25), ("HELLO", 0.25, 0.5), ("THERE", 0.5, 0.75), ("</s>", 0.75, 1.0)]
    man = pd.DataFrame([{"utt_id": "u", "session": "Ses01", "speaker": "Ses01F", "gender": "F", "dialog": "",
                         "label": "neu", "text": "hello there", "wav_path": str(tmp_path / "u.wav"),
                         "start": math.nan, "end": math.nan, "words": timings}])
    cfg = TSINConfig.preset("tiny", n_frames=100, text_model="random:16")
    whole = build_feature_store(man, cfg, tmp_path / "cache", progress=False)
    trimmed = build_feature_store(man, cfg.replace(trim_db=40.0), tmp_path / "cache", progress=False)
    n_whole, n_trim = int(whole.speech_mask.sum()), int(trimmed.speech_mask.sum())
    assert n_whole == 98 and 46 <= n_trim <= 54, (n_whole, n_trim)  # about 0.5 s of 10 ms frames are left
    (s0, e0), (s1, e1) = whole.word_frames[0]
    (t0, f0), (t1, f1) = trimmed.word_frames[0]
    assert (s0, e0) == (24, 49) and abs(t0) <= 2 and abs((s1 - s0) - (t1 - t0)) <= 1 and f1 <= n_trim + 1
    assert trimmed.settings["trim_db"] == 40.0 and "trim_db" not in whole.settings


def test_span_alignment_pools_each_words_own_frames_by_hand() -> None:
    """ta_spans: word 0 spans frames 1-2, word 1 has no known span (its equal segment), word 2 is padding."""
    S = torch.arange(12, dtype=torch.float32).reshape(1, 6, 2)  # (B, N, D): frame i is (2i, 2i + 1)
    S_mask = torch.tensor([[True, True, True, True, False, False]])
    T_mask = torch.tensor([[True, True, False]])
    spans = torch.zeros(1, 3, 6, dtype=torch.bool)
    spans[0, 0, 1:3] = True
    spans[0, 0, 4] = True  # over a padded frame: not counted
    U, A = span_alignment(S, S_mask, T_mask, spans)
    torch.testing.assert_close(A[0, 0], torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(A[0, 1], uniform_alignment(S, S_mask, T_mask)[1][0, 1])  # frames 2-3
    assert A[0, 2].abs().sum() == 0 and U[0, 2].abs().sum() == 0
    torch.testing.assert_close(U[0, 0], torch.tensor([3.0, 4.0]))  # the mean of frames 1 and 2
    with pytest.raises(ValueError, match="spans must be"):
        span_alignment(S, S_mask, T_mask, spans[:, :, :5])


def test_ta_spans_makes_no_ta_read_the_true_spans_and_nothing_else() -> None:
    cfg = CFG.replace(ta_spans=True)
    store = _timed_store(cfg)
    target = span_targets(store, cfg.speech_stride)  # (U, M, N')
    result = fit(_model(cfg, "no_ta"), store, FOLD, cfg, progress=False, log=None)
    rows = store.index(result.ids)
    t = target[rows].numpy() & store.speech_mask[rows].reshape(len(rows), -1, cfg.speech_stride).any(-1).numpy()[:, None]
    known = t.any(-1)  # (U, M): real words with a real frame in their span
    expected = t / np.maximum(t.sum(-1, keepdims=True), 1)
    np.testing.assert_allclose(result.alignments[known], expected[known], atol=1e-6)
    equal = fit(_model(CFG, "no_ta"), store, FOLD, CFG, progress=False, log=None)
    assert not np.allclose(equal.alignments[known], expected[known])  # the plain "w/o TA": equal segments
    for variant in ("tsin", "speech"):  # every other model ignores the switch, bit for bit
        a = fit(_model(cfg, variant), store, FOLD, cfg, progress=False, log=None)
        b = fit(_model(CFG, variant), store, FOLD, CFG, progress=False, log=None)
        np.testing.assert_array_equal(a.probs, b.probs)
    with pytest.raises(ValueError, match="ta_spans needs word timings"):
        fit(_model(cfg, "no_ta"), make_store(cfg), FOLD, cfg, progress=False, log=None)
    with pytest.raises(ValueError, match="pass spans"):
        _model(cfg, "no_ta")(store.speech[:2], store.speech_mask[:2], store.text[:2], store.text_mask[:2])
    assert CFG.replace(ta_spans=False).legacy_dict() == CFG.legacy_dict()  # old results keep their folders

