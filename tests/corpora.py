"""Small manifest corpora written by the tests: 3 sessions x 2 speakers, the four classes in turn."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from tsin_nb.core import EMOTIONS

#: A wav for (rng, label, k): float samples at 16 kHz.
Speaker = Callable[[np.random.Generator, str, int], np.ndarray]


def noise_by_class(rng: np.random.Generator, label: str, k: int) -> np.ndarray:
    """0.3 s of noise whose loudness follows the class index."""
    return 0.1 * (1 + k % 4) * rng.standard_normal(4800)


def write_corpus(root: Path, text: Callable[[str], str], per_speaker: int = 8, speak: Speaker = noise_by_class,
                 seed: int = 0) -> pd.DataFrame:
    """Write the wavs under ``root``; the manifest as ``load_corpus`` returns it (absolute wav paths)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in (1, 2, 3):
        for g in "FM":
            for k in range(per_speaker):
                label = EMOTIONS[k % 4]
                utt = f"Ses0{s}F_impro01_{g}{k:03d}"
                sf.write(root / f"{utt}.wav", np.asarray(speak(rng, label, k), dtype=np.float32), 16000)
                rows.append({"utt_id": utt, "session": f"Ses0{s}", "speaker": f"Ses0{s}{g}", "gender": g,
                             "dialog": "", "label": label, "text": text(label), "wav_path": str(root / f"{utt}.wav"),
                             "start": math.nan, "end": math.nan, "words": None})
    df = pd.DataFrame(rows).sort_values("utt_id").reset_index(drop=True)
    df.attrs.update(root=str(root), kind="manifest")
    return df
