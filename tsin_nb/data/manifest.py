"""The manifest reader: a CSV / TSV file with one row per utterance (any corpus) -> a manifest."""

from __future__ import annotations

import csv
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


def _header(text: str, sep: str) -> list[str] | None:
    """The column names of the first line, stripped and lower-cased (None for an empty file)."""
    line = next((ln for ln in text.splitlines() if ln.strip()), None)
    if line is None:
        return None
    try:
        cells = next(csv.reader([line], delimiter=sep))
    except csv.Error:
        return None
    return [str(c).strip().lower() for c in cells]


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
    """Read a corpus described by a CSV/TSV (``utt_id, wav_path, text, label, speaker`` + optional columns).

    Refused with a reason naming the file: no header, a required column missing (a header separated by
    another delimiter is named), a column name used twice, NUL bytes (UTF-16 without a byte-order mark).
    UTF-16 with a byte-order mark and Latin-1 are read (Latin-1 with a note). A row repeated word for word is
    read once (noted);
    of rows of one id that differ, the first is read and the others are named in a note.
    Relative wav paths are taken from the manifest's folder (or ``root``); absolute ones as written.
    """
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
    kind = "TSV" if sep == "\t" else "CSV"
    if "\x00" in text:
        raise CorpusError(f"{path}: holds NUL bytes, so it is not a text {kind} (UTF-16 without a byte-order "
                          "mark?); save it as UTF-8")
    header = _header(text, sep)
    if header is None:
        raise CorpusError(f"{path}: cannot be read as {kind} (no header line); the first line must name the "
                          f"columns {', '.join(_REQUIRED)}")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        other = next((d for d in (";", "\t", ",", "|") if d != sep and len(_header(text, d) or ()) > len(header)), None)
        hint = (f" The header looks separated by {other!r}, not {sep!r}: save it as "
                f"{'tab-separated .tsv' if other == chr(9) else 'comma-separated .csv'}." if other else "")
        raise CorpusError(
            f"{path}: missing required column(s) {', '.join(missing)}; found {', '.join(header)}. "
            f"A manifest needs {', '.join(_REQUIRED)} (optional: session, gender, start, end).{hint}"
        )
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        where = "; ".join(f"{c!r} is columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == c)}"
                          for c in twice)
        raise CorpusError(f"{path}: column name(s) used twice ({where}); keep one column of each name")
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                            header=0, names=header, engine="python" if len(sep) > 1 else "c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
        raise CorpusError(f"{path}: cannot be read as {kind} ({str(err).strip()}); check the quoting and "
                          f"that every row has {len(header)} fields") from err

    rows: list[dict[str, Any]] = []
    seen: dict[str, tuple[dict[str, str], str]] = {}
    blank_sessions: list[str] = []
    records = table.to_dict("records")
    differing: list[str] = []
    for i, rec in enumerate(tqdm(records, desc="manifest rows", disable=not show_progress(progress)), 2):
        where = f"{path}:{i}"
        uid = str(rec["utt_id"]).strip()
        if not uid:
            log.skip("", where, "empty utt_id")
            continue
        if uid in seen:
            first_rec, first_where = seen[uid]
            if rec == first_rec:
                log.duplicate_lines.append(where)  # the same row again, word for word: read once
            else:
                differing.append(f"{where} ({uid}, first at line {first_where.rsplit(':', 1)[1]})")
            continue
        seen[uid] = (rec, where)
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
    if differing:
        log.notes.append(f"{len(differing)} row(s) repeat an utterance id with other values and were ignored "
                         f"(each id is read from its first row; the later rows differ from the first row): "
                         f"{examples(differing)}")
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


def blank_cells(values: pd.Series) -> pd.Series:
    """True where a manifest cell is missing or only whitespace (a session or speaker nobody filled in)."""
    return values.isna() | (values.astype(str).str.strip() == "")


def unsafe_names(values: Iterable[str]) -> list[str]:
    """``value -> folder`` for every value that is not a plain folder name (for ``inspect``'s notes)."""
    return [f"{v!r} -> {safe_fold_dirname(v)!r}" for v in sorted(set(map(str, values)))
            if safe_fold_dirname(v) != v]
