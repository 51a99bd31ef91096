"""Corpus readers: IEMOCAP's folder layout or a manifest CSV/TSV -> one manifest table (docs/INTERFACES.md).

Rows that cannot be used are never dropped silently: each lands in ``manifest.attrs["skipped"]``
with its reason; things that are kept but worth knowing land in ``manifest.attrs["notes"]``.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from tsin_nb.audio import probe_audio
from tsin_nb.config import EMOTIONS
from tsin_nb.progress import show_progress
from tsin_nb.safety import drop_summary, unsafe_names

#: Columns of the manifest, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "utt_id", "session", "speaker", "gender", "dialog", "label", "text", "wav_path", "start", "end", "words",
)

#: The paper's 4-class set (Section IV-A): excitement is merged into happiness.
DEFAULT_LABEL_MAP: dict[str, str] = {"ang": "ang", "hap": "hap", "exc": "hap", "sad": "sad", "neu": "neu"}

#: IEMOCAP codes that exist but are outside the 4-class set.
EXCLUDED_CODES: tuple[str, ...] = ("xxx", "fru", "sur", "dis", "fea", "oth")

#: Default label map for manifest corpora: the four codes plus common long names.
MANIFEST_LABEL_MAP: dict[str, str] = {
    "ang": "ang", "anger": "ang", "angry": "ang",
    "hap": "hap", "happy": "hap", "happiness": "hap", "joy": "hap", "exc": "hap", "excited": "hap",
    "excitement": "hap",
    "sad": "sad", "sadness": "sad",
    "neu": "neu", "neutral": "neu",
}

#: Usable utterances of the full IEMOCAP release under the default map (Section IV-A; DESIGN.md).
KNOWN_COUNTS: dict[str, Any] = {
    "total": 5531,
    "label": {"ang": 1103, "hap": 1636, "sad": 1084, "neu": 1708},
    "session": {"Ses01": 1085, "Ses02": 1023, "Ses03": 1151, "Ses04": 1031, "Ses05": 1241},
}

#: IEMOCAP has five session folders.
IEMOCAP_SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)

#: Utterance id grammar: session, dialog-owner letter, dialog name (may hold ``_``), speaker letter, number.
UTT_ID_RE = re.compile(r"^(?P<session>Ses\d\d)(?P<owner>[FM])_(?P<name>.+)_(?P<gender>[FM])(?P<num>\w*\d+)$")

_STRICT_NUM_RE = re.compile(r"^\d+$")
_LABEL_LINE_RE = re.compile(r"^\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<id>\S+)\s+(?P<code>\S+)")
_TRANS_LINE_RE = re.compile(
    r"^(?P<id>Ses\d\d[FM]_[^\s:\[]+)\s*(?:\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\])?\s*:?[ \t]*(?P<text>.*)$"
)
_SESSION_DIR_RE = re.compile(r"^Session(\d+)$")
_FILLER_RE = re.compile(r"^(<.*>|\+\+.*\+\+)$")  # <s>, </s>, <sil>, ++BREATHING++
_VARIANT_RE = re.compile(r"\(\d+\)$")  # EXCUSE(2) -> EXCUSE
_WORD_CHAR_RE = re.compile(r"[^\W_]")  # a transcript has a word iff some token keeps a letter or digit
_MARKER = ".tsin_synth.json"  # written by tsin_nb.synth on a complete synthetic corpus

_LAYOUT = (
    "expected IEMOCAP's layout: ROOT/Session1..Session5, each with dialog/EmoEvaluation/<dialog>.txt, "
    "dialog/transcriptions/<dialog>.txt and sentences/wav/<dialog>/<utt_id>.wav "
    "(e.g. the folder IEMOCAP_full_release), or a manifest .csv/.tsv file"
)


class CorpusError(ValueError):
    """A corpus that cannot be read; the message names the path and what to do."""


# ---------------------------------------------------------------------------------------------
# small helpers


def parse_utt_id(utt_id: str) -> dict[str, str]:
    """Split an IEMOCAP id into session, speaker (session + speaker letter), gender and dialog."""
    m = UTT_ID_RE.match(utt_id)
    if not m:
        raise ValueError(f"{utt_id!r} is not an IEMOCAP utterance id (expected e.g. Ses01F_impro05a_M003)")
    return {
        "session": m["session"],
        "speaker": m["session"] + m["gender"],
        "gender": m["gender"],
        "dialog": utt_id.rsplit("_", 1)[0],
    }


def read_text(path: str | os.PathLike) -> tuple[str, bool]:
    """Read a text file as UTF-8, falling back to Latin-1; also return whether the fallback was used."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("latin-1"), True


def read_wdseg(path: str | os.PathLike) -> list[tuple[str, float, float]]:
    """Words of a ``.wdseg`` file as (lower-cased word, start_s, end_s); frames are 10 ms, end inclusive."""
    text, _ = read_text(path)
    words: list[tuple[str, float, float]] = []
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) < 4 or not parts[0].lstrip("-").isdigit():
            continue  # header ' SFrm EFrm SegAScr Word', ' Total score: ...', blank lines
        try:
            s_frm, e_frm = int(parts[0]), int(parts[1])
        except ValueError as err:
            raise ValueError(f"{path}:{i}: cannot read frames from {line.strip()!r}") from err
        word = _VARIANT_RE.sub("", parts[3])
        if _FILLER_RE.match(word) or not word:
            continue
        words.append((word.lower(), s_frm / 100.0, (e_frm + 1) / 100.0))
    return words


def has_word(text: str) -> bool:
    """Whether ``text`` holds a word once punctuation is stripped (``...`` and ``?!`` do not)."""
    return bool(_WORD_CHAR_RE.search(str(text)))


def _hidden(p: Path) -> bool:
    """True for macOS resource forks (``._*``) and dot files."""
    return p.name.startswith(".")


def _check_label_map(label_map: Mapping[str, str]) -> dict[str, str]:
    """Validate that every target of ``label_map`` is one of EMOTIONS."""
    bad = {k: v for k, v in label_map.items() if v not in EMOTIONS}
    if bad:
        raise ValueError(f"label_map targets must be among {EMOTIONS}; got {bad}")
    return dict(label_map)


def _rel(path: str | os.PathLike, root: str | os.PathLike | None) -> str:
    """``path`` relative to ``root`` when it lies below it, else unchanged."""
    if not root:
        return str(path)
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _examples(items: list[str], k: int = 5) -> str:
    """First ``k`` items joined, with a count of the rest."""
    head = ", ".join(items[:k])
    return head + (f" and {len(items) - k} more" if len(items) > k else "")


class _Log:
    """Collects skipped rows, notes and audio facts while a corpus is read."""

    def __init__(self) -> None:
        self.skipped: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.multichannel: list[str] = []
        self.rates: dict[int, list[str]] = defaultdict(list)
        self.no_id_lines: list[str] = []
        self.latin1: list[str] = []

    def skip(self, utt_id: str, file: str | os.PathLike, reason: str) -> None:
        self.skipped.append({"utt_id": utt_id, "file": str(file), "reason": reason})

    def read(self, path: Path) -> str:
        """Read a text file, remembering when it was not valid UTF-8."""
        text, fallback = read_text(path)
        if fallback:
            self.latin1.append(str(path))
        return text

    def audio_ok(self, utt_id: str, wav: Path) -> bool:
        """Probe ``wav``: skip it with a reason when unusable, note channels and rate when unusual."""
        reason = probe_audio(wav)
        if reason is None:
            try:
                info = sf.info(str(wav))
            except (RuntimeError, sf.LibsndfileError) as err:
                reason = f"cannot be decoded ({err})"
        if reason is not None:
            self.skip(utt_id, wav, reason if reason.startswith("wav") else f"wav: {reason}")
            return False
        if info.channels != 1:
            self.multichannel.append(f"{utt_id} ({info.channels} ch)")
        if info.samplerate != 16000:
            self.rates[int(info.samplerate)].append(utt_id)
        return True

    def finish(self) -> None:
        """Turn the collected facts into notes."""
        if self.latin1:
            self.notes.append(
                f"{len(self.latin1)} text file(s) are not valid UTF-8 and were decoded as Latin-1: "
                + _examples(self.latin1)
            )
        if self.no_id_lines:
            self.notes.append(
                f"{len(self.no_id_lines)} transcription line(s) without an utterance id were ignored: "
                + _examples(self.no_id_lines)
            )
        if self.multichannel:
            self.notes.append(
                f"{len(self.multichannel)} wav file(s) have more than one channel (kept; load_audio mixes "
                "them down to mono): " + _examples(self.multichannel)
            )
        for rate, ids in sorted(self.rates.items()):
            self.notes.append(
                f"{len(ids)} wav file(s) are at {rate} Hz (kept; load_audio resamples them to 16 kHz, "
                "i.e. 16000 Hz): " + _examples(ids)
            )


def _frame(rows: list[dict[str, Any]], log: _Log, root: Path, kind: str) -> pd.DataFrame:
    """Build the sorted manifest with its attrs."""
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    df = df.sort_values("utt_id", kind="stable").reset_index(drop=True)
    df["start"] = df["start"].astype(float)
    df["end"] = df["end"].astype(float)
    df["words"] = df["words"].astype(object)
    log.finish()
    df.attrs["skipped"] = log.skipped
    df.attrs["notes"] = log.notes
    df.attrs["root"] = str(root)
    df.attrs["kind"] = kind
    return df


# ---------------------------------------------------------------------------------------------
# IEMOCAP


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
        if p.is_dir() and not _hidden(p) and (m := _SESSION_DIR_RE.match(p.name))
    }
    if not sessions:
        hint = ""
        below = sorted(
            p for p in root.iterdir()
            if p.is_dir() and not _hidden(p) and any(_SESSION_DIR_RE.match(q.name) for q in p.iterdir())
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
        if _hidden(p):
            continue
        if suffix is None and p.is_dir():
            out[p.name] = p
        elif suffix is not None and p.is_file() and p.suffix.lower() == suffix:
            out[p.stem] = p
    return out


def _parse_labels(path: Path, log: _Log) -> list[tuple[str, str, float, float, int]]:
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
                         f"(lines {_examples(bad)})")
    return out


def _parse_transcription(path: Path, log: _Log) -> dict[str, str]:
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


def _unlabelled_ids(trans: Path | None, wav_dir: Path | None, log: _Log) -> list[str]:
    """Utterance ids of a dialog known from its transcription and wav folder."""
    ids = set()
    if trans is not None:
        for uid in _parse_transcription(trans, log):
            m = UTT_ID_RE.match(uid)
            if m and _STRICT_NUM_RE.match(m["num"]):
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
    lmap = _check_label_map(DEFAULT_LABEL_MAP if label_map is None else label_map)
    log = _Log()

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
                         + _examples(no_wdseg))
    if bad_wdseg:
        log.notes.append(f"{len(bad_wdseg)} .wdseg file(s) could not be read (words=None): " + _examples(bad_wdseg))
    manifest = _frame(rows, log, root, "iemocap")
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


# ---------------------------------------------------------------------------------------------
# manifest CSV/TSV

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
    lmap = _check_label_map(MANIFEST_LABEL_MAP if label_map is None else label_map)
    log = _Log()
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
                         f"refuses this manifest until they are filled): {_examples(blank_sessions)}")
    for col in ("session", "speaker"):
        renamed = unsafe_names(r[col] for r in rows if r[col])
        if renamed:
            log.notes.append(f"{len(renamed)} {col} value(s) are not plain folder names; their fold folders are "
                             f"named {_examples(renamed)}")
    manifest = _frame(rows, log, base, "manifest")
    if manifest.empty:
        msg = f"{path}: no usable utterance found; see manifest.attrs['skipped']"
        manifest.attrs["notes"].append(msg)
        warnings.warn(msg, stacklevel=2)
    return manifest


# ---------------------------------------------------------------------------------------------
# entry points


def load_corpus(path: str | os.PathLike, **kw: Any) -> pd.DataFrame:
    """A directory -> :func:`load_iemocap`; a .csv/.tsv file -> :func:`load_manifest`."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_iemocap(p, **kw)
    if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".tab"):
        return load_manifest(p, **kw)
    if not p.exists():
        raise CorpusError(f"{p}: does not exist; give an IEMOCAP folder or a manifest .csv/.tsv file")
    raise CorpusError(f"{p}: not a folder nor a .csv/.tsv manifest; give an IEMOCAP folder or a manifest file")


def make_synthetic_corpus(*args: Any, **kwargs: Any) -> Path:
    """Write the synthetic corpus in IEMOCAP's layout (see :func:`tsin_nb.synth.make_synthetic_corpus`)."""
    from tsin_nb.synth import make_synthetic_corpus as _make

    return _make(*args, **kwargs)


def _table(counts: pd.Series, name: str) -> str:
    """A count table with shares, as text."""
    total = int(counts.sum())
    df = pd.DataFrame({name: counts.index, "count": counts.values})
    df["share"] = [f"{100 * c / total:.1f}%" if total else "-" for c in counts.values]
    return df.to_string(index=False)


def corpus_report(manifest: pd.DataFrame) -> str:
    """Validation report: counts per class, session and speaker, every skipped utterance, the notes."""
    root = manifest.attrs.get("root", "")
    skipped = list(manifest.attrs.get("skipped", []))
    notes = list(manifest.attrs.get("notes", []))
    out = [
        f"Corpus: {root} ({manifest.attrs.get('kind', '?')})",
        f"Usable utterances: {len(manifest)}   skipped: {len(skipped)}   notes: {len(notes)}",
        drop_summary(skipped, len(manifest), None),
        "",
    ]
    if len(manifest):
        per_class = manifest["label"].value_counts().reindex(list(EMOTIONS), fill_value=0)
        out += ["Per class", _table(per_class, "label"), ""]
        per_session = manifest["session"].value_counts().sort_index()
        out += ["Per session", _table(per_session, "session"), ""]
        per_speaker = pd.crosstab(manifest["speaker"], manifest["label"]).reindex(columns=list(EMOTIONS), fill_value=0)
        per_speaker["total"] = per_speaker.sum(axis=1)
        out += ["Per speaker", per_speaker.to_string(), ""]
    if skipped:
        sk = pd.DataFrame(skipped)
        sk["file"] = [_rel(f, root) for f in sk["file"]]
        sk["kind"] = sk["reason"].str.split(" (", n=1, regex=False).str[0]
        summary = sk["kind"].value_counts().rename_axis("reason").reset_index()
        out += [f"Skipped utterances: {len(sk)}", summary.to_string(index=False), ""]
        # problems first, then the expected label exclusions
        sk["order"] = sk["reason"].str.startswith("label '").astype(int)
        sk = sk.sort_values(["order", "utt_id"], kind="stable")
        out.append("Every skipped utterance")
        out += [f"- {r.utt_id or '(no id)'}: {r.reason} [{r.file}]" for r in sk.itertuples()]
        out.append("")
    else:
        out += ["Skipped utterances: none", ""]
    out.append("Notes" if notes else "Notes: none")
    out += [f"- {n}" for n in notes]
    return "\n".join(out).rstrip() + "\n"


def inspect(path: str | os.PathLike, progress: bool = True) -> tuple[str, int]:
    """Load ``path`` and return (report, exit code): 0 usable, 1 nothing usable, 2 unreadable corpus."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            manifest = load_corpus(path, progress=progress)
        except CorpusError as err:
            return f"error: {err}\n", 2
    report = corpus_report(manifest)
    notes = manifest.attrs.get("notes", [])
    extra = [str(w.message) for w in caught if not any(str(w.message) in n or n in str(w.message) for n in notes)]
    if extra:
        report += "Warnings\n" + "".join(f"- {m}\n" for m in extra)
    if manifest.empty:
        return report + "error: no usable utterance found\n", 1
    return report, 0
