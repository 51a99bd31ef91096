"""Small corpora written by the tests: manifests of 3 sessions x 2 speakers (the four classes in turn), and
IEMOCAP-layout trees of a few utterances (``build``)."""

from __future__ import annotations

import math
from collections import defaultdict
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


# (utt_id, code, text)
UTTS = [
    ("Ses01F_impro01_F000", "neu", "Excuse me."),
    ("Ses01F_impro01_M000", "ang", "Do you have your forms?"),
    ("Ses01F_impro05a_M003", "exc", "That is great news!"),
    ("Ses01M_script01_1b_F001", "sad", "I miss him so much."),
    ("Ses01M_script02_2_M002", "hap", "What a lovely day."),
    ("Ses01M_impro08b_F004", "fru", "This is so annoying."),
    ("Ses02F_impro08b_F000", "neu", "Okay."),
    ("Ses02M_script01_1_M001", "ang", "Get out of here."),
]


def write_wav(path: Path, sr: int = 16000, channels: int = 1, seconds: float = 0.05) -> None:
    """A short sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    sf.write(str(path), y, sr)


def wdseg_text(text: str) -> str:
    """A .wdseg file for ``text``: <s>, one variant-marked word, a <sil>, </s>."""
    words = [w.strip(".,!?").upper() for w in text.split()]
    rows = [" SFrm  EFrm    SegAScr Word", "    0    9     -1000 <s>"]
    frame = 10
    for i, w in enumerate(words):
        name = f"{w}(2)" if i == 0 else w
        rows.append(f"{frame:5d} {frame + 19:5d}    -2000 {name}")
        frame += 20
        if i == 0:
            rows.append(f"{frame:5d} {frame + 4:5d}    -100 <sil>")
            frame += 5
    rows.append(f"{frame:5d} {frame + 9:5d}    -1000 </s>")
    rows.append(" Total score: -12345")
    return "\n".join(rows) + "\n"


def build(root: Path, utts=UTTS, sessions=None, wdseg: bool = True) -> Path:
    """Write an IEMOCAP-like tree for ``utts``; ``sessions`` adds empty SessionN folders."""
    by_dialog = defaultdict(list)
    for uid, code, text in utts:
        by_dialog[uid.rsplit("_", 1)[0]].append((uid, code, text))
    for dialog, items in by_dialog.items():
        s = root / f"Session{int(dialog[3:5])}"
        emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        trans = []
        for j, (uid, code, text) in enumerate(items):
            start, end = 1.5 + 3 * j, 3.25 + 3 * j
            emo += [f"[{start:.4f} - {end:.4f}]\t{uid}\t{code}\t[2.5000, 2.5000, 2.5000]",
                    f"C-E2:\t{code};\t()", "A-E1:\tval 3; act 2; dom  2;\t()", ""]
            trans.append(f"{uid} [{start:08.4f}-{end:08.4f}]: {text}")
            write_wav(s / "sentences" / "wav" / dialog / f"{uid}.wav")
            if wdseg:
                p = s / "sentences" / "ForcedAlignment" / dialog / f"{uid}.wdseg"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(wdseg_text(text))
        trans.append(f"{dialog}_MXX0 [100.0000-101.0000]: [LAUGHTER]")
        (s / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (s / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (s / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(emo) + "\n")
        (s / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans) + "\n")
    for n in sessions or ():
        (root / f"Session{n}").mkdir(parents=True, exist_ok=True)
    return root
