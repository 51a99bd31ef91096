"""The IEMOCAP reader: its folder layout (sessions, EmoEvaluation, transcriptions, wavs, .wdseg) -> a manifest."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from tsin_nb.core import show_progress
from tsin_nb.data.corpus import (
    DEFAULT_LABEL_MAP,
    EXCLUDED_CODES,
    STRICT_NUM_RE,
    UTT_ID_RE,
    CorpusError,
    SkipLog,
    check_label_map,
    examples,
    has_word,
    is_hidden,
    manifest_frame,
    parse_utt_id,
    read_wdseg,
)

#: IEMOCAP's usable 4-class utterances under the default map (Section IV-A): the one place these counts live.
KNOWN_COUNTS: dict[str, Any] = {
    "total": 5531,
    "exc": 1041,  # of the 1636 "hap": 595 happy + 1041 excited
    "label": {"ang": 1103, "hap": 1636, "sad": 1084, "neu": 1708},
    "session": {"Ses01": 1085, "Ses02": 1023, "Ses03": 1151, "Ses04": 1031, "Ses05": 1241},
}

#: IEMOCAP has five session folders.
IEMOCAP_SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)

_LABEL_LINE_RE = re.compile(r"^\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<id>\S+)\s+(?P<code>\S+)")
_TRANS_LINE_RE = re.compile(
    r"^(?P<id>Ses\d\d[FM]_[^\s:\[]+)\s*(?:\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\])?\s*:?[ \t]*(?P<text>.*)$"
)
_SESSION_DIR_RE = re.compile(r"^Session(\d+)$")
_MARKER = ".tsin_synth.json"  # written by tsin_nb.data.synth on a complete synthetic corpus

_LAYOUT = (
    "expected IEMOCAP's layout: ROOT/Session1..Session5, each with dialog/EmoEvaluation/<dialog>.txt, "
    "dialog/transcriptions/<dialog>.txt and sentences/wav/<dialog>/<utt_id>.wav "
    "(e.g. the folder IEMOCAP_full_release), or a manifest .csv/.tsv file"
)


def _find_sessions(root: str | os.PathLike) -> tuple[Path, dict[int, Path]]:
    """Resolve ``root`` and its ``SessionN`` folders, or raise CorpusError describing the layout."""
    root = Path(root).expanduser()
    if not root.exists():
        raise CorpusError(f"{root}: does not exist; {_LAYOUT}")
    if not root.is_dir():
        raise CorpusError(f"{root}: is not a directory; {_LAYOUT}")
    root = root.resolve()
    sessions = {
        int(m.group(1)): p
        for p in root.iterdir()
        if p.is_dir() and not is_hidden(p) and (m := _SESSION_DIR_RE.match(p.name))
    }
    if not sessions:
        hint = ""
        below = sorted(
            p for p in root.iterdir()
            if p.is_dir() and not is_hidden(p) and any(_SESSION_DIR_RE.match(q.name) for q in p.iterdir())
        )
        if below:
            hint = f" (did you mean {below[0]}?)"
        raise CorpusError(f"{root}: no Session1..Session5 folder inside{hint}; {_LAYOUT}")
    return root, dict(sorted(sessions.items()))


def _listing(folder: Path, suffix: str | None) -> dict[str, Path]:
    """Names (stems) of visible files with ``suffix`` (or of sub-folders when None) in ``folder``."""
    if not folder.is_dir():
        return {}
    out = {}
    for p in folder.iterdir():
        if is_hidden(p):
            continue
        if suffix is None and p.is_dir():
            out[p.name] = p
        elif suffix is not None and p.is_file() and p.suffix.lower() == suffix:
            out[p.stem] = p
    return out


def _parse_labels(path: Path, log: SkipLog) -> list[tuple[str, str, float, float, int]]:
    """Label lines of an EmoEvaluation file as (utt_id, code, start, end, line number)."""
    out = []
    bad = []
    for i, line in enumerate(log.read(path).splitlines(), 1):
        if not line.startswith("["):
            continue  # '%' header, evaluator lines 'C-E2:', 'A-E1:', blanks
        m = _LABEL_LINE_RE.match(line)
        if not m:
            bad.append(str(i))
            continue
        out.append((m["id"], m["code"], float(m["start"]), float(m["end"]), i))
    if bad:
        log.notes.append(f"{path}: {len(bad)} line(s) starting with '[' could not be read as labels "
                         f"(lines {examples(bad)})")
    return out


def _parse_transcription(path: Path, log: SkipLog) -> dict[str, str]:
    """Utterance id -> text of a transcription file; lines without an id are remembered in ``log``."""
    texts: dict[str, str] = {}
    for i, line in enumerate(log.read(path).splitlines(), 1):
        if not line.strip():
            continue
        m = _TRANS_LINE_RE.match(line.strip())
        if not m:
            log.no_id_lines.append(f"{path}:{i}")
            continue
        texts.setdefault(m["id"], m["text"].strip())
    return texts


def _unlabelled_ids(trans: Path | None, wav_dir: Path | None, log: SkipLog) -> list[str]:
    """Utterance ids of a dialog known from its transcription and wav folder."""
    ids = set()
    if trans is not None:
        for uid in _parse_transcription(trans, log):
            m = UTT_ID_RE.match(uid)
            if m and STRICT_NUM_RE.match(m["num"]):
                ids.add(uid)
    if wav_dir is not None:
        ids.update(_listing(wav_dir, ".wav"))
    return sorted(ids)


def load_iemocap(
    root: str | os.PathLike, progress: bool = True, label_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read IEMOCAP's folder layout into a manifest (4 classes by default: exc merged into hap)."""
    root, sessions = _find_sessions(root)
    default_map = label_map is None
    lmap = check_label_map(DEFAULT_LABEL_MAP if label_map is None else label_map)
    log = SkipLog()

    missing = [n for n in IEMOCAP_SESSIONS if n not in sessions]
    if missing:
        msg = (f"{root}: session folder(s) {', '.join(f'Session{n}' for n in missing)} missing; "
               "reading the others (re-extract the corpus for the full set)")
        warnings.warn(msg, stacklevel=2)
        log.notes.append(msg)

    dialogs: list[tuple[Path, str, Path | None, Path | None, Path | None]] = []
    for sdir in sessions.values():
        emo_dir = sdir / "dialog" / "EmoEvaluation"
        if not emo_dir.is_dir():
            log.notes.append(f"{sdir}: no dialog/EmoEvaluation folder; its utterances have no labels")
        emos = _listing(emo_dir, ".txt")
        trans = _listing(sdir / "dialog" / "transcriptions", ".txt")
        wavs = _listing(sdir / "sentences" / "wav", None)
        for name in sorted(set(emos) | set(trans) | set(wavs)):
            dialogs.append((sdir, name, emos.get(name), trans.get(name), wavs.get(name)))

    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    no_wdseg: list[str] = []
    bad_wdseg: list[str] = []
    for sdir, name, emo, trans, wav_dir in tqdm(dialogs, desc="IEMOCAP dialogs", disable=not show_progress(progress)):
        if emo is None:
            expected = sdir / "dialog" / "EmoEvaluation" / f"{name}.txt"
            for uid in _unlabelled_ids(trans, wav_dir, log):
                log.skip(uid, expected, f"no EmoEvaluation file for dialog {name} (expected {expected}); "
                                        "utterance has no label")
            continue
        labels = _parse_labels(emo, log)
        texts = _parse_transcription(trans, log) if trans is not None else None
        for uid, code, start, end, line_no in labels:
            where = f"{emo}:{line_no}"
            if uid in seen:
                log.skip(uid, emo, f"duplicate utterance id (first in {seen[uid]}; this copy in {where} skipped)")
                continue
            seen[uid] = where
            try:
                parts = parse_utt_id(uid)
            except ValueError as err:
                log.skip(uid, emo, str(err))
                continue
            if code not in lmap:
                if code in EXCLUDED_CODES:
                    log.skip(uid, emo, f"label '{code}' not in label map (excluded from the 4-class set)")
                else:
                    log.skip(uid, emo, f"label '{code}' not in label map (unknown code; pass label_map to use it)")
                continue
            if texts is None:
                expected = sdir / "dialog" / "transcriptions" / f"{name}.txt"
                log.skip(uid, expected, f"no transcription file (expected {expected})")
                continue
            if uid not in texts:
                log.skip(uid, trans, "no transcription line for this utterance")
                continue
            if not texts[uid]:
                log.skip(uid, trans, "empty transcript")
                continue
            if not has_word(texts[uid]):
                log.skip(uid, trans, f"transcript has no word (only punctuation: {texts[uid][:40]!r})")
                continue
            wav = sdir / "sentences" / "wav" / parts["dialog"] / f"{uid}.wav"
            if not log.audio_ok(uid, wav):
                continue
            wdseg = sdir / "sentences" / "ForcedAlignment" / parts["dialog"] / f"{uid}.wdseg"
            words = None
            if wdseg.is_file():
                try:
                    words = read_wdseg(wdseg)
                except ValueError as err:
                    bad_wdseg.append(str(err))
            else:
                no_wdseg.append(uid)
            rows.append({
                "utt_id": uid, "session": parts["session"], "speaker": parts["speaker"],
                "gender": parts["gender"], "dialog": parts["dialog"], "label": lmap[code],
                "text": texts[uid], "wav_path": str(wav), "start": start, "end": end, "words": words,
            })

    if no_wdseg:
        log.notes.append(f"{len(no_wdseg)} utterance(s) have no .wdseg word timings (words=None): "
                         + examples(no_wdseg))
    if bad_wdseg:
        log.notes.append(f"{len(bad_wdseg)} .wdseg file(s) could not be read (words=None): " + examples(bad_wdseg))
    manifest = manifest_frame(rows, log, root, "iemocap")
    if manifest.empty:
        msg = f"{root}: no usable utterance found; see manifest.attrs['skipped']"
        manifest.attrs["notes"].append(msg)
        warnings.warn(msg, stacklevel=2)
    elif not missing and default_map and not (root / _MARKER).exists():
        diffs = check_known_counts(manifest)
        if diffs:
            manifest.attrs["notes"].append(_counts_message(diffs))
    return manifest


def check_known_counts(manifest: pd.DataFrame, expected: Mapping[str, Any] | None = None) -> list[str]:
    """Compare counts with ``KNOWN_COUNTS`` (or ``expected``); warn naming each difference and return them."""
    expected = KNOWN_COUNTS if expected is None else expected
    diffs = []
    if "total" in expected and len(manifest) != expected["total"]:
        diffs.append(f"total {len(manifest)} != {expected['total']}")
    for col in ("label", "session"):
        want = expected.get(col, {})
        have = manifest[col].value_counts().to_dict() if len(manifest) else {}
        for key in list(want) + sorted(k for k in have if k not in want):
            if have.get(key, 0) != want.get(key, 0):
                diffs.append(f"{col} {key} {have.get(key, 0)} != {want.get(key, 0)}")
    if diffs:
        warnings.warn(_counts_message(diffs), stacklevel=2)
    return diffs


def _counts_message(diffs: list[str]) -> str:
    """The warning text for count differences."""
    return (
        "corpus counts differ from the known IEMOCAP counts (paper Section IV-A): " + "; ".join(diffs)
        + ". Check manifest.attrs['skipped'] for missing or broken files."
    )
