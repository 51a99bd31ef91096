"""Reading audio the same way everywhere: mono float32 at the requested rate, with clear errors.

Every file is checked against its own header before a sample is decoded (``check_header``): a rate outside
4-192 kHz, more than 32 channels, a duration beyond ``max_seconds()`` (600 s unless ``$TSIN_MAX_AUDIO_SECONDS``
says otherwise), more samples than ``MAX_SAMPLES`` or more frames than the file's bytes can hold are refused
with a reason, so no single file can make a reader or the resampler take gigabytes. A path that is a folder,
a FIFO, a broken symlink or a symlink loop is named as such. Degenerate audio is refused too (``probe_audio``):
shorter than one 25 ms analysis window, silent (every sample below 1e-4, -80 dBFS) or constant (a DC offset, no sound).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

#: Sample formats that can hold NaN or infinite values (integer PCM cannot).
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
#: Sample rates a header may claim (Hz); anything else is refused before decoding.
MIN_RATE, MAX_RATE = 4000, 192000
#: Most channels a header may claim.
MAX_CHANNELS = 32
#: Most samples (frames x channels) one file may hold: 64 Mi float32 samples, 256 MiB.
MAX_SAMPLES = 64 * 1024 * 1024
#: Default longest clip in seconds (IEMOCAP's longest utterance is about 35 s).
MAX_SECONDS = 600.0
#: Shortest usable clip: one analysis window of the features (``TSINConfig.win_ms``).
MIN_SECONDS = 0.025
#: A clip whose every sample is below this (in full scale, -80 dBFS, 3 steps of 16-bit PCM) is silent.
SILENCE = 1e-4
#: Bytes per sample of the uncompressed subtypes, to compare a header's frame count with the file size.
_PCM_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
              "ULAW": 1, "ALAW": 1}


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def max_seconds() -> float:
    """The longest clip accepted: ``$TSIN_MAX_AUDIO_SECONDS`` when set to a positive number, else MAX_SECONDS."""
    try:
        value = float(os.environ.get("TSIN_MAX_AUDIO_SECONDS", ""))
    except ValueError:
        return MAX_SECONDS
    return value if value > 0 else MAX_SECONDS


def path_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a regular file (missing, folder, FIFO, broken symlink, symlink loop), or None."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "wav path is a symlink loop"
        if p.is_symlink():
            return f"wav path is a broken symlink (to {os.readlink(p)})"
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return "wav file missing"
        return f"wav file cannot be read ({err.strerror})"
    if stat.S_ISDIR(mode):
        return "wav path is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "wav path is a FIFO (named pipe), not a file"
    if not stat.S_ISREG(mode):
        return "wav path is not a regular file (a device or socket)"
    return None


def check_header(info: Any, size: int) -> str | None:
    """Why the header ``info`` of a file of ``size`` bytes is implausible, or None when it can be decoded."""
    rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"header claims a sample rate of {rate} Hz, outside {MIN_RATE // 1000}-{MAX_RATE // 1000} kHz"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"header claims {channels} channels (at most {MAX_CHANNELS})"
    if frames < 0 or frames * channels > MAX_SAMPLES:
        return f"header claims {frames} frames x {channels} channels, more than {MAX_SAMPLES} samples"
    width = _PCM_BYTES.get(str(info.subtype))
    if width is not None and frames * channels * width > size:
        return f"header claims {frames} frames but the file holds only {size} bytes"
    limit = max_seconds()
    if frames / rate > limit:
        return (f"{frames / rate:.0f} s long, beyond the {limit:.0f} s limit (set TSIN_MAX_AUDIO_SECONDS "
                "to allow longer clips)")
    return None


def signal_problem(y: np.ndarray, rate: int) -> str | None:
    """Why the samples ``y`` (samples, channels) cannot be analysed: too short, silent, constant; or None."""
    if len(y) < MIN_SECONDS * rate:
        return (f"too short: {len(y)} samples ({1000 * len(y) / rate:.1f} ms), less than one "
                f"{1000 * MIN_SECONDS:.0f} ms analysis window")
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE:
        return "silent: every sample is below 1e-4 (-80 dBFS)"
    if float(np.max(np.ptp(y, axis=0))) < SILENCE:
        return f"constant: every sample is {float(y.flat[0]):.4g} (a DC offset, no sound)"
    return None


def probe_audio(path: str | os.PathLike, degenerate: bool = True) -> str | None:
    """Return why ``path`` is unusable, or None when it reads.

    Unusable: not a regular file, empty, an undecodable or implausible header (``check_header``), NaN / inf
    samples, or (``degenerate=True``, what the corpus readers ask) degenerate samples (``signal_problem``: too
    short, silent, constant). Feature extraction asks ``degenerate=False``: a row the reader kept is computed.
    """
    problem = path_problem(path)
    if problem:
        return problem
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        return "zero-length file"
    try:
        info = sf.info(str(p))
    except (RuntimeError, sf.LibsndfileError) as err:  # corrupted header or bytes
        return f"cannot be decoded ({err})"
    if info.frames == 0:
        return "no audio samples"
    bad_header = check_header(info, size)
    if bad_header:
        return bad_header
    try:
        y, _ = sf.read(str(p), dtype="float64" if info.subtype in FLOAT_SUBTYPES else "float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, MemoryError) as err:
        return f"cannot be decoded ({err})"
    if len(y) == 0:
        return "no audio samples"
    bad = int((~np.isfinite(y)).sum())
    if bad:
        return f"contains NaN or infinite samples ({bad} of {y.size})"
    return signal_problem(y, int(info.samplerate)) if degenerate else None


def load_audio(path: str | os.PathLike, sr: int = 16000) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sr`` Hz: channels averaged, other rates resampled (soxr)."""
    reason = probe_audio(path, degenerate=False)
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
