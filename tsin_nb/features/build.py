"""The feature store of a manifest: speech and word-level text features, padded, masked and cached (Section III-B).

This module orchestrates the stages, each in its own module (their docstrings give the choices where the
paper is silent, README "Choices the paper leaves open", each a setting recorded in ``store.settings``):
``speech`` (framing, log-Mel, deltas, normalisation, silence trimming), ``text`` (words and their frame
spans), ``embedders`` (word vectors, one class per kind) and ``cache`` (the keyed, checksummed entries).
Every public name of those modules is importable from here too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from tsin_nb.core import EMOTIONS, TSINConfig, show_progress
from tsin_nb.data import DAMAGED_FILE, DROPPED_FILE, blank_cells, load_audio, report_damaged, report_drops
from tsin_nb.features.cache import FEATURES_VERSION, cached_entry, hash_key, wav_stamp
from tsin_nb.features.embedders import TextEmbedder, make_embedder
from tsin_nb.features.speech import (
    DELTA_WIDTH,
    LOG_FLOOR,
    SPEECH_NORMS,
    frame_lengths,
    logmel_features,
    pad_or_truncate,
    trim_silence,
)
from tsin_nb.features.store import FeatureStore
from tsin_nb.features.text import EMPTY_WORD, split_tokens, word_spans

#: The config fields the feature store depends on (``speech_dim`` follows from ``n_mels``; ``text_dim`` is the
#: embedder's own width). Runs whose configs differ elsewhere (seed, model, training) share one store.
FEATURE_FIELDS = ("sample_rate", "win_ms", "hop_ms", "n_mels", "n_frames", "n_words", "text_model", "speech_norm",
                  "trim_db")


def feature_settings(cfg: TSINConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that :func:`build_feature_store` reads (``FEATURE_FIELDS``), by name."""
    return {name: getattr(cfg, name) for name in FEATURE_FIELDS}


def speech_settings(cfg: TSINConfig, speech_norm: str) -> dict[str, Any]:
    """Every setting that changes the speech numbers."""
    win, hop = frame_lengths(cfg)
    return {
        "sample_rate": cfg.sample_rate, "win_ms": cfg.win_ms, "hop_ms": cfg.hop_ms, "win_length": win,
        "hop_length": hop, "n_fft": win, "window": "hamming", "center": False, "n_mels": cfg.n_mels,
        "log": f"power_to_db(amin={LOG_FLOOR})", "delta_width": DELTA_WIDTH, "speech_norm": speech_norm,
        "n_frames": cfg.n_frames, "speech_dim": 3 * cfg.n_mels, "features_version": FEATURES_VERSION,
        **({"trim_db": cfg.trim_db} if cfg.trim_db > 0 else {}),
    }


def _compute_speech(wav_paths: Sequence[str], cfg: TSINConfig, speech_norm: str,
                    progress: bool) -> dict[str, torch.Tensor]:
    """Speech tensors for every wav: padded features, masks and raw frame counts."""
    n_utt, n, f = len(wav_paths), cfg.n_frames, 3 * cfg.n_mels
    speech = torch.zeros(n_utt, n, f)  # (U, N, F)
    mask = torch.zeros(n_utt, n, dtype=torch.bool)  # (U, N)
    raw = torch.zeros(n_utt, dtype=torch.long)  # (U,) frames before truncation
    offset = torch.zeros(n_utt, dtype=torch.long)  # (U,) samples trimmed at the start
    for i, wav in enumerate(tqdm(wav_paths, desc="speech features", disable=not show_progress(progress))):
        y, offset[i] = trim_silence(load_audio(wav, sr=cfg.sample_rate), cfg)
        feats = logmel_features(y, cfg, norm=speech_norm)  # (T, F)
        padded, m = pad_or_truncate(feats, n)
        speech[i], mask[i], raw[i] = torch.from_numpy(padded), torch.from_numpy(m), len(feats)
    return {"speech": speech, "mask": mask, "raw_len": raw, "offset": offset}


def _compute_text(word_lists: Sequence[Sequence[str]], embedder: TextEmbedder, n_words: int,
                  progress: bool) -> dict[str, torch.Tensor]:
    """Text tensors for every (already truncated) word list; an empty list becomes one zero word."""
    vectors = embedder.embed_words(word_lists, progress=progress)
    text = torch.zeros(len(word_lists), n_words, embedder.dim)  # (U, M, E)
    mask = torch.zeros(len(word_lists), n_words, dtype=torch.bool)  # (U, M)
    for i, vec in enumerate(vectors):
        if len(vec) == 0:
            mask[i, 0] = True  # placeholder word: zero vector, mask True
            continue
        padded, m = pad_or_truncate(vec, n_words)
        text[i], mask[i] = torch.from_numpy(padded), torch.from_numpy(m)
    return {"text": text, "mask": mask}


def _check_manifest(manifest: pd.DataFrame) -> None:
    missing = [c for c in ("utt_id", "label", "text", "wav_path") if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest lacks columns {missing}; build it with tsin_nb.data.load_corpus")
    bad = manifest.loc[~manifest["label"].isin(EMOTIONS), ["utt_id", "label"]]
    if len(bad):
        raise ValueError(f"{len(bad)} utterances have labels outside {EMOTIONS}, e.g. {bad.head(3).values.tolist()}")


def frame_statistics(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (F,), float64, of (real frames, F); the std floored at 1e-5 so a steady feature is not blown up."""
    frames = frames.double()
    return frames.mean(dim=0), frames.std(dim=0, unbiased=False).clamp(min=1e-5)


def speaker_standardised(speech: torch.Tensor, mask: torch.Tensor, speakers: Sequence[str]) -> torch.Tensor:
    """(U, N, F) features standardised per speaker: each feature minus the mean, over the std, of the real frames
    of all that speaker's utterances (``speech_norm="speaker"``); padded frames stay 0.

    Label-free, and it uses every utterance of a speaker, those of a test fold included: what a system that
    has heard a new speaker talk for a while can do. It removes what makes a voice that speaker's (pitch
    level, timbre, loudness of the recording) and keeps how each utterance departs from it.
    """
    if len(speakers) != len(speech):
        raise ValueError(f"{len(speakers)} speakers for {len(speech)} utterances")
    out = torch.zeros_like(speech)
    order = np.asarray(speakers)
    for who in dict.fromkeys(speakers):
        rows = torch.from_numpy(np.flatnonzero(order == who))
        x, m = speech[rows].double(), mask[rows].bool()  # (u, N, F), (u, N)
        if not m.any():
            continue
        mean, std = frame_statistics(x[m])  # (F,) x2, from the speaker's real frames
        out[rows] = torch.where(m[..., None], (x - mean) / std, torch.zeros_like(x)).to(speech.dtype)
    return out


def build_feature_store(
    manifest: pd.DataFrame,
    cfg: TSINConfig,
    cache_dir: str | os.PathLike,
    text_model: str | TextEmbedder | None = None,
    progress: bool = True,
    train_ids: Sequence[str] | None = None,
    *,
    speech_norm: str | None = None,
) -> FeatureStore:
    """Speech and text features of every manifest row, loaded from ``cache_dir`` or computed and cached.

    ``train_ids`` (the fold's training utterances) is required for ``onehot`` and unused otherwise.
    ``speech_norm=None`` follows ``cfg.speech_norm``; ``"fold"`` stores raw features (the model standardises).
    """
    _check_manifest(manifest)
    speech_norm = speech_norm or cfg.speech_norm
    per_speaker = speech_norm == "speaker"
    if speech_norm in ("fold", "speaker"):
        speech_norm = "none"  # cached raw; "speaker" standardises on loading, "fold" in the model
    if speech_norm not in SPEECH_NORMS:
        raise ValueError(f"speech_norm must be one of {SPEECH_NORMS}, not {speech_norm!r}")
    if per_speaker and ("speaker" not in manifest.columns or blank_cells(manifest["speaker"]).any()):
        raise ValueError("speech_norm='speaker' needs a speaker for every utterance (a 'speaker' column, none empty)")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    ids = manifest["utt_id"].astype(str).tolist()
    texts = manifest["text"].fillna("").astype(str).tolist()
    wavs = manifest["wav_path"].astype(str).tolist()

    embedder = make_embedder(text_model, cfg)
    if embedder.needs_fit:
        if train_ids is None:
            raise ValueError("onehot embeddings need train_ids (the fold's training utterances) to fit the "
                             "vocabulary without seeing test words")
        by_id = dict(zip(ids, texts))
        unknown = [u for u in train_ids if u not in by_id]
        if unknown:
            raise KeyError(f"{len(unknown)} train_ids are not in the manifest, e.g. {unknown[:3]}")
        embedder.fit(by_id[u] for u in train_ids)

    s_settings = speech_settings(cfg, speech_norm)
    s_key = {"settings": s_settings, "wavs": [[u, *wav_stamp(w)] for u, w in zip(ids, wavs)]}
    speech = cached_entry(cache, "speech", s_key, lambda: _compute_speech(wavs, cfg, speech_norm, progress),
                     {"settings": s_settings, "n_utterances": len(ids)})
    tokens = [split_tokens(t) for t in texts]
    all_words = [[w for w, _ in tk] for tk in tokens]
    kept = [ws[: cfg.n_words] for ws in all_words]
    t_settings = {"text_model": embedder.spec, "text_kind": embedder.kind, "text_dim": embedder.dim,
                  "n_words": cfg.n_words, "empty_word": EMPTY_WORD, "features_version": FEATURES_VERSION}
    t_key = {"settings": t_settings, "identity": embedder.identity, "texts": list(zip(ids, texts))}
    text = cached_entry(cache, "text", t_key, lambda: _compute_text(kept, embedder, cfg.n_words, progress),
                   {"settings": t_settings, "identity": embedder.identity, "n_utterances": len(ids)})

    timings = manifest["words"].tolist() if "words" in manifest.columns else [None] * len(ids)
    if cfg.trim_db > 0:  # word times relative to the trimmed clip
        shifts = (speech["offset"].double() / cfg.sample_rate).tolist()
        timings = [tm if not isinstance(tm, (list, tuple)) else [(w, max(0.0, a - sh), max(0.0, b - sh)) for w, a, b in tm]
                   for tm, sh in zip(timings, shifts)]
    word_frames = [word_spans(tm, [w for w, _ in tk], cfg, [a for _, a in tk]) for tm, tk in zip(timings, tokens)]
    word_frames = [None if sp is None else sp[: cfg.n_words] for sp in word_frames]
    stats = {
        "speech_truncated": int((speech["raw_len"] > cfg.n_frames).sum()),
        "speech_frames_max": int(speech["raw_len"].max()) if len(ids) else 0,
        "text_truncated": sum(len(ws) > cfg.n_words for ws in all_words),
        "empty_transcripts": sum(not ws for ws in all_words),
        "word_frames_known": sum(sp is not None for sp in word_frames),
    }
    ident = embedder.identity
    speech_values = speech["speech"]
    if per_speaker:
        speech_values = speaker_standardised(speech_values, speech["mask"], manifest["speaker"].astype(str).tolist())
        s_settings = {**s_settings, "speech_norm": "speaker"}
    settings = {**s_settings, **t_settings, "text_model_path": ident.get("path"),
                "text_identity": hash_key(ident)[:16], "stats": stats}
    return FeatureStore(
        ids=ids,
        speech=speech_values,
        speech_mask=speech["mask"],
        text=text["text"],
        text_mask=text["mask"],
        labels=torch.tensor([EMOTIONS.index(lab) for lab in manifest["label"]], dtype=torch.long),
        words=[ws if ws else [EMPTY_WORD] for ws in kept],
        word_frames=word_frames,
        settings=settings,
    )


def build_store_twice(manifest: pd.DataFrame, cfg: TSINConfig, cache_dir: str | os.PathLike,
                      **options: Any) -> tuple[FeatureStore, tuple[float, float]]:
    """:func:`build_feature_store` called twice with the same arguments, and the seconds each call took.

    The first call computes what the cache lacks (with a progress bar unless ``progress=False``); the second finds
    every entry cached and only reads it, which is what every later notebook does.
    """
    seconds = []
    for progress in (options.pop("progress", True), False):
        start = time.perf_counter()
        store = build_feature_store(manifest, cfg, cache_dir, progress=progress, **options)
        seconds.append(time.perf_counter() - start)
    return store, (seconds[0], seconds[1])


def config_for_store(cfg: TSINConfig, store: FeatureStore) -> TSINConfig:
    """``cfg`` with n_frames, n_words, n_mels / speech_dim and text_dim taken from ``store``."""
    n_frames, speech_dim = store.speech.shape[1:]
    return cfg.replace(n_frames=int(n_frames), n_words=int(store.text.shape[1]), n_mels=int(speech_dim) // 3,
                       text_dim=int(store.text.shape[2]))


def summarize(store: FeatureStore) -> str:
    """A few lines describing a feature store (sizes, truncation, model)."""
    s = store.settings
    st = s.get("stats", {})
    return "\n".join([
        f"utterances: {len(store)}   speech {tuple(store.speech.shape)}   text {tuple(store.text.shape)}",
        f"text model: {s.get('text_model')} ({s.get('text_kind')}, text_dim={s.get('text_dim')})",
        f"speech: {s.get('n_mels')} Mel bands x 3, {s.get('win_ms')} ms Hamming / {s.get('hop_ms')} ms hop, "
        + (f"silence {s['trim_db']:g} dB below the peak trimmed, " if s.get("trim_db") else "no trimming, ")
        + ("stored unnormalised (a model with speech_norm='fold' standardises with its training fold's statistics)"
           if s.get("speech_norm") == "none" else f"normalised per {s.get('speech_norm')}"),
        f"truncated: {st.get('speech_truncated')} clips > {s.get('n_frames')} frames, "
        f"{st.get('text_truncated')} transcripts > {s.get('n_words')} words; "
        f"empty transcripts: {st.get('empty_transcripts')}; word timings: {st.get('word_frames_known')}",
    ])


def features_main(corpus_path: str | os.PathLike, cache_dir: str | os.PathLike, preset: str = "cpu",
                  text_model: str | None = None) -> FeatureStore:
    """``tsin-nb features ROOT --cache DIR``: load the corpus, build (or load) its store, print a summary."""
    from tsin_nb.data import load_corpus

    cfg = TSINConfig.preset(preset)
    manifest = load_corpus(corpus_path)
    print(report_drops(manifest, Path(cache_dir) / DROPPED_FILE))
    damaged = report_damaged(manifest, Path(cache_dir) / DAMAGED_FILE)
    if damaged:
        print(damaged)
    store = build_feature_store(manifest, cfg, cache_dir, text_model=text_model)
    print(summarize(store))
    print(f"cache: {Path(cache_dir).resolve()}")
    return store
