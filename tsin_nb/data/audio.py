"""Reading audio the same way everywhere: mono float32 at the requested rate, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

#: Sample formats that can hold NaN or infinite values (integer PCM cannot).
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def probe_audio(path: str | os.PathLike) -> str | None:
    """Return why ``path`` is unusable (missing, unreadable, empty, NaN / inf samples), or None when it reads."""
    p = Path(path)
    if not p.is_file():
        return "wav file missing"
    if p.stat().st_size == 0:
        return "zero-length file"
    try:
        info = sf.info(str(p))
    except (RuntimeError, sf.LibsndfileError) as err:  # corrupted header or bytes
        return f"cannot be decoded ({err})"
    if info.frames == 0:
        return "no audio samples"
    if info.subtype in FLOAT_SUBTYPES:  # only float files can hold NaN / inf: read them through
        try:
            y, _ = sf.read(str(p), dtype="float64", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as err:
            return f"cannot be decoded ({err})"
        bad = int((~np.isfinite(y)).sum())
        if bad:
            return f"contains NaN or infinite samples ({bad} of {y.size})"
    return None


def load_audio(path: str | os.PathLike, sr: int = 16000) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sr`` Hz: channels averaged, other rates resampled (soxr)."""
    reason = probe_audio(path)
    if reason:
        raise AudioError(path, reason + "; re-extract or remove this utterance")
    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(path, f"cannot be decoded ({err})") from err
    y = y.mean(axis=1)  # (samples,)
    if file_sr != sr:
        import soxr

        y = soxr.resample(y, file_sr, sr).astype(np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioError(path, "contains NaN or infinite samples")
    return y
