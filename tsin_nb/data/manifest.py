"""The manifest reader: a CSV / TSV file with one row per utterance (any corpus) -> a manifest."""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from tsin_nb.core import safe_fold_dirname, show_progress
from tsin_nb.data.corpus import (
    MANIFEST_LABEL_MAP,
    CorpusError,
    SkipLog,
    check_label_map,
    examples,
    has_word,
    manifest_frame,
)

_REQUIRED = ("utt_id", "wav_path", "text", "label", "speaker")


def _float_or_nan(value: str) -> float:
    """Parse a float; empty or unreadable values become NaN."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x


def load_manifest(
    path: str | os.PathLike,
    label_map: Mapping[str, str] | None = None,
    root: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Read a corpus described by a CSV/TSV (``utt_id, wav_path, text, label, speaker`` + optional columns)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CorpusError(f"{path}: manifest file does not exist; give a .csv or .tsv file")
    sep = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(path.suffix.lower())
    if sep is None:
        raise CorpusError(f"{path}: unknown manifest extension {path.suffix!r}; use .csv or .tsv")
    path = path.resolve()
    base = Path(root).expanduser().resolve() if root is not None else path.parent
    lmap = check_label_map(MANIFEST_LABEL_MAP if label_map is None else label_map)
    log = SkipLog()
    text = log.read(path)
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CorpusError(f"{path}: cannot be read as {'TSV' if sep == chr(9) else 'CSV'} ({err})") from err
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise CorpusError(
            f"{path}: missing required column(s) {', '.join(missing)}; found {', '.join(table.columns)}. "
            f"A manifest needs {', '.join(_REQUIRED)} (optional: session, gender, start, end)"
        )

    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    blank_sessions: list[str] = []
    records = table.to_dict("records")
    for i, rec in enumerate(tqdm(records, desc="manifest rows", disable=not show_progress(progress)), 2):
        where = f"{path}:{i}"
        uid = str(rec["utt_id"]).strip()
        if not uid:
            log.skip("", where, "empty utt_id")
            continue
        if uid in seen:
            log.skip(uid, where, f"duplicate utterance id (first at {seen[uid]}; this copy at {where} skipped)")
            continue
        seen[uid] = where
        raw = str(rec["label"]).strip()
        label = lmap.get(raw, lmap.get(raw.lower()))
        if label is None:
            log.skip(uid, where, f"label '{raw}' not in label map (pass label_map to use it)")
            continue
        text_ = str(rec["text"]).strip()
        if not text_:
            log.skip(uid, where, "empty transcript")
            continue
        if not has_word(text_):
            log.skip(uid, where, f"transcript has no word (only punctuation: {text_[:40]!r})")
            continue
        speaker = str(rec["speaker"]).strip()
        if not speaker:
            log.skip(uid, where, "empty speaker")
            continue
        wav = Path(str(rec["wav_path"]).strip()).expanduser()
        wav = wav if wav.is_absolute() else base / wav
        if not log.audio_ok(uid, wav):
            continue
        session = str(rec["session"]).strip() if "session" in rec else "all"  # no column: one session "all"
        if not session:
            blank_sessions.append(where)  # kept for SpkI / SpkD; SesI refuses them (splits.make_folds)
        rows.append({
            "utt_id": uid,
            "session": session,
            "speaker": speaker,
            "gender": str(rec.get("gender", "")).strip(),
            "dialog": "",
            "label": label,
            "text": text_,
            "wav_path": str(wav),
            "start": _float_or_nan(rec.get("start", "")),
            "end": _float_or_nan(rec.get("end", "")),
            "words": None,
        })
    if blank_sessions:
        log.notes.append(f"{len(blank_sessions)} row(s) have a blank session cell (kept for SpkI and SpkD; SesI "
                         f"refuses this manifest until they are filled): {examples(blank_sessions)}")
    for col in ("session", "speaker"):
        renamed = unsafe_names(r[col] for r in rows if r[col])
        if renamed:
            log.notes.append(f"{len(renamed)} {col} value(s) are not plain folder names; their fold folders are "
                             f"named {examples(renamed)}")
    manifest = manifest_frame(rows, log, base, "manifest")
    if manifest.empty:
        msg = f"{path}: no usable utterance found; see manifest.attrs['skipped']"
        manifest.attrs["notes"].append(msg)
        warnings.warn(msg, stacklevel=2)
    return manifest


def unsafe_names(values: Iterable[str]) -> list[str]:
    """``value -> folder`` for every value that is not a plain folder name (for ``inspect``'s notes)."""
    return [f"{v!r} -> {safe_fold_dirname(v)!r}" for v in sorted(set(map(str, values)))
            if safe_fold_dirname(v) != v]
