"""Speech features, step by step: framing, Hamming window, power spectrum, log-Mel, deltas, normalisation.

Choices where the paper is silent (README, "Choices the paper leaves open"), each a setting recorded in ``store.settings``:

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
"""

from __future__ import annotations

import functools

import librosa
import numpy as np

from tsin_nb.core import TSINConfig

#: Power floor before the log (librosa's ``amin``): -100 dB.
LOG_FLOOR = 1e-10
#: Delta regression width (librosa's default), narrowed for short clips.
DELTA_WIDTH = 9
#: Word shown for an empty transcript; its vector is zero and its mask True.
#: Normalisations applied while computing features (``cfg.speech_norm="fold"`` caches ``"none"``).
SPEECH_NORMS = ("utterance", "none")
#: Default caps for the Fig. 4 embeddings.


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


def trim_silence(y: np.ndarray, cfg: TSINConfig) -> tuple[np.ndarray, int]:
    """The clip without leading / trailing parts ``cfg.trim_db`` dB below its peak, and the samples cut at the start."""
    if cfg.trim_db <= 0:
        return y, 0
    win, hop = frame_lengths(cfg)
    trimmed, (start, _) = librosa.effects.trim(y, top_db=cfg.trim_db, frame_length=win, hop_length=hop)
    return (trimmed, int(start)) if len(trimmed) else (y, 0)
