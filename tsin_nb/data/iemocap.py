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
    check_id_form,
    check_label_map,
    check_word_timings,
    examples,
    has_word,
    inside,
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
_LOOSE_LABEL_RE = re.compile(r"^\[[^\]]*\]\s+(\S+)")
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
    sessions: dict[int, Path] = {}
    for p in sorted(root.iterdir()):
        m = _SESSION_DIR_RE.match(p.name)
        if m and p.is_dir() and not is_hidden(p):
            if int(m.group(1)) in sessions:
                raise CorpusError(f"{root}: {sessions[int(m.group(1))].name} and {p.name} both name session "
                                  f"{int(m.group(1))}; keep one of them")
            sessions[int(m.group(1))] = p
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
    """Names (stems) of visible entries ending in ``suffix`` (or of sub-folders when None) in ``folder``.

    With a suffix every entry counts, whatever it is (a folder, a FIFO or a dangling link named ``x.wav`` is
    an utterance the reader must account for, and ``probe_audio`` names what is wrong with it).
    """
    if not folder.is_dir():
        return {}
    out = {}
    for p in folder.iterdir():
        if is_hidden(p):
            continue
        if suffix is None and p.is_dir():
            out[p.name] = p
        elif suffix is not None and p.suffix.lower() == suffix and (suffix != ".txt" or p.is_file()):
            out[p.stem] = p  # a .txt that is not a regular file (a FIFO would block) is no dialog file
    return out


def _parse_labels(path: Path, log: SkipLog) -> list[tuple[str, str, float, float, int, str]]:
    """Label lines of an EmoEvaluation file as (utt_id, code, start, end, line number, problem or "")."""
    out = []
    bad = []
    for i, line in enumerate(log.read(path).splitlines(), 1):
        if not line.startswith("["):
            continue  # '%' header, evaluator lines 'C-E2:', 'A-E1:', blanks
        m = _LABEL_LINE_RE.match(line)
        if not m:
            loose = _LOOSE_LABEL_RE.match(line)
            if loose:  # an id is there: account for it, dropped with the line named
                out.append((loose[1], "", float("nan"), float("nan"), i,
                            f"label line cannot be read ({path}:{i}: {line[:60]!r}); fix that line"))
            else:
                bad.append(str(i))
            continue
        problem = ""
        try:
            start, end = float(m["start"]), float(m["end"])
        except ValueError:
            start = end = float("nan")
            problem = (f"EmoEvaluation time [{m['start']} - {m['end']}] is not a pair of numbers "
                       f"({path}:{i}); fix that line")
        out.append((m["id"], m["code"], start, end, i, problem))
    if bad:
        log.notes.append(f"{path}: {len(bad)} line(s) starting with '[' could not be read as labels "
                         f"(lines {examples(bad)})")
    return out


def _parse_transcription(path: Path, log: SkipLog) -> dict[str, str]:
    """Utterance id -> text of a transcription file; lines without an id are remembered in ``log``.

    A repeated line (same id, same text) is noted and read once; two lines of one id with different texts
    are recorded in ``log.conflicts`` and that utterance is dropped (no way to tell which one is right).
    """
    texts: dict[str, str] = {}
    where: dict[str, int] = {}
    for i, line in enumerate(log.read(path).splitlines(), 1):
        if not line.strip():
            continue
        m = _TRANS_LINE_RE.match(line.strip())
        if not m:
            log.no_id_lines.append(f"{path}:{i}")
            continue
        uid, text = m["id"], m["text"].strip()
        if uid in texts:
            if texts[uid] == text:
                log.duplicate_lines.append(f"{path}:{i}")
            else:
                log.conflicts.setdefault(uid, f"conflicting transcription lines ({path}:{where[uid]} and line {i} "
                                              "differ); keep one of them")
            continue
        texts[uid], where[uid] = text, i
    return texts


def _is_utterance(uid: str) -> bool:
    """IEMOCAP's utterance id form with a plain number (``..._MXX0`` turns of overlapping speech are not)."""
    m = UTT_ID_RE.match(uid)
    return bool(m) and bool(STRICT_NUM_RE.match(m["num"]))


def _dialog_ids(trans: dict[str, str] | None, wav_dir: Path | None, align_dir: Path | None) -> dict[str, Path | None]:
    """Every utterance id a dialog's transcription, wav folder and ForcedAlignment folder name (-> its wav)."""
    ids: dict[str, Path | None] = {}
    for uid in trans or {}:
        if _is_utterance(uid):
            ids.setdefault(uid, None)
    for folder, suffix in ((wav_dir, ".wav"), (align_dir, ".wdseg")):
        if folder is not None:
            for uid, path in _listing(folder, suffix).items():
                ids.setdefault(uid, path)
    return ids


def _wdseg_words(wdseg: Path, uid: str, text: str, log: SkipLog) -> list[tuple[str, float, float]] | None:
    """Word timings of ``uid`` from ``wdseg``, or None with the damage recorded in ``log``."""
    if not wdseg.exists() and not wdseg.is_symlink():
        log.damage(uid, wdseg, "no .wdseg file")
        return None
    if not wdseg.is_file():
        log.damage(uid, wdseg, "not a regular file (a folder, FIFO or broken link)")
        return None
    try:
        words = read_wdseg(wdseg)
    except (ValueError, OSError) as err:
        log.damage(uid, wdseg, f"cannot be read ({err})")
        return None
    problem = check_word_timings(words, text)
    if problem:
        log.damage(uid, wdseg, problem)
        return None
    return words


def load_iemocap(
    root: str | os.PathLike, progress: bool = True, label_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read IEMOCAP's folder layout into a manifest (4 classes by default: exc merged into hap).

    Every utterance id named by an EmoEvaluation line, a transcription line, a wav file or a ``.wdseg`` file
    ends up either in the manifest or in ``attrs["skipped"]`` with a reason, never both. An id must have
    IEMOCAP's form and belong to the session folder and dialog file it is listed in before a path is built
    from it. Word timings that are missing or damaged keep the utterance (``words=None``) and are listed in
    ``attrs["damaged"]``.
    """
    root, sessions = _find_sessions(root)
    default_map = label_map is None
    lmap = check_label_map(DEFAULT_LABEL_MAP if label_map is None else label_map)
    log = SkipLog()

    dialogs: list[tuple[int, Path, str, Path | None, Path | None, Path | None, Path | None]] = []
    empty = []
    for n, sdir in sessions.items():
        emo_dir = sdir / "dialog" / "EmoEvaluation"
        emos = _listing(emo_dir, ".txt")
        trans = _listing(sdir / "dialog" / "transcriptions", ".txt")
        wavs = _listing(sdir / "sentences" / "wav", None)
        aligns = _listing(sdir / "sentences" / "ForcedAlignment", None)
        names = sorted(set(emos) | set(trans) | set(wavs) | set(aligns))
        if not names:
            empty.append(n)
            continue
        if not emo_dir.is_dir():
            log.notes.append(f"{sdir}: no dialog/EmoEvaluation folder; its utterances have no labels")
        for name in names:
            dialogs.append((n, sdir, name, emos.get(name), trans.get(name), wavs.get(name), aligns.get(name)))
    missing = [n for n in IEMOCAP_SESSIONS if n not in sessions]
    if missing or empty:
        gone = [f"Session{n}" for n in missing if n not in sessions]
        hollow = [f"Session{n}" for n in empty]
        what = "; ".join(x for x in (f"session folder(s) {', '.join(gone)} missing" if gone else "",
                                     f"session folder(s) {', '.join(hollow)} empty (no dialog inside)" if hollow else "")
                         if x)
        msg = (f"{root}: {what}; reading the others, so SesI has {len(sessions) - len(empty)} fold(s) "
               "(re-extract the corpus for the full set)")
        warnings.warn(msg, stacklevel=2)
        log.notes.append(msg)

    rows: list[dict[str, Any]] = []
    for n, sdir, name, emo, trans, wav_dir, align_dir in tqdm(dialogs, desc="IEMOCAP dialogs",
                                                              disable=not show_progress(progress)):
        texts = _parse_transcription(trans, log) if trans is not None else None
        others = _dialog_ids(texts, wav_dir, align_dir)
        if emo is None:
            expected = sdir / "dialog" / "EmoEvaluation" / f"{name}.txt"
            for uid in sorted(others):
                log.skip(uid, expected, f"no EmoEvaluation file for dialog {name} (expected {expected}); "
                                        "utterance has no label")
            continue
        labelled: dict[str, list[tuple[str, float, float, int, str]]] = {}
        for uid, code, start, end, line_no, problem in _parse_labels(emo, log):
            labelled.setdefault(uid, []).append((code, start, end, line_no, problem))
        for uid in sorted(set(others) - set(labelled)):
            log.skip(uid, others[uid] or trans or emo, f"no label line in {emo.name} (named only by its "
                                                       "transcription, wav or .wdseg)")
        for uid, lines in labelled.items():
            code, start, end, line_no, problem = lines[0]
            where = f"{emo}:{line_no}"
            if len({(c, s, e) for c, s, e, _, _ in lines}) > 1:
                log.skip(uid, emo, "conflicting label lines (" + ", ".join(f"line {ln}: {c!r} [{s:g} - {e:g}]" for c, s, e, ln, _ in lines)
                         + "); keep one of them")
                continue
            if len(lines) > 1:
                log.duplicate_lines += [f"{emo}:{ln}" for _, _, _, ln, _ in lines[1:]]
            if problem:
                log.skip(uid, emo, problem)
                continue
            try:
                parts = parse_utt_id(uid)
                form = check_id_form(uid)
                if form:
                    raise ValueError(form)
            except ValueError as err:
                log.skip(uid, emo, f"{err} ({where})")
                continue
            if parts["session"] != f"Ses{n:02d}" or parts["dialog"] != name:
                log.skip(uid, emo, f"listed in the wrong place: the id names {parts['dialog']} of {parts['session']}, "
                                   f"the line is in {where} (Session{n}, dialog {name})")
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
            if uid in log.conflicts:
                log.skip(uid, trans, log.conflicts[uid])
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
            wav = inside(sdir / "sentences" / "wav" / parts["dialog"] / f"{uid}.wav", root)
            if not log.audio_ok(uid, wav):
                continue
            words = _wdseg_words(sdir / "sentences" / "ForcedAlignment" / parts["dialog"] / f"{uid}.wdseg",
                                 uid, texts[uid], log)
            rows.append({
                "utt_id": uid, "session": parts["session"], "speaker": parts["speaker"],
                "gender": parts["gender"], "dialog": parts["dialog"], "label": lmap[code],
                "text": texts[uid], "wav_path": str(wav), "start": start, "end": end, "words": words,
            })

    no_wdseg = [d["utt_id"] for d in log.damaged if d["reason"] == "no .wdseg file"]
    bad_wdseg = [f"{d['utt_id']} ({d['reason']})" for d in log.damaged if d["reason"] != "no .wdseg file"]
    if no_wdseg:
        log.notes.append(f"{len(no_wdseg)} utterance(s) have no .wdseg word timings (words=None): "
                         + examples(no_wdseg))
    if bad_wdseg:
        log.notes.append(f"{len(bad_wdseg)} .wdseg file(s) are damaged, their word timings are not used "
                         "(words=None): " + examples(bad_wdseg))
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
