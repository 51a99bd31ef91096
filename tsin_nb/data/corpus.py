"""What both corpus readers share: manifest columns, label maps, file helpers, the skip log, the report.

Rows that cannot be used are never dropped silently: each lands in ``manifest.attrs["skipped"]``
with its reason; things that are kept but worth knowing land in ``manifest.attrs["notes"]``; optional
parts of a kept row that are missing or damaged (word timings) land in ``manifest.attrs["damaged"]``.
Every utterance id a reader meets is accounted for once: kept, or dropped with one reason (``account``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile as sf

from tsin_nb.core import EMOTIONS
from tsin_nb.data.audio import probe_audio
from tsin_nb.data.drops import drop_summary

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

#: Utterance id grammar: session, dialog-owner letter, dialog name (may hold ``_``), speaker letter, number.
UTT_ID_RE = re.compile(r"^(?P<session>Ses\d\d)(?P<owner>[FM])_(?P<name>.+)_(?P<gender>[FM])(?P<num>\w*\d+)$")

#: The characters an utterance id may hold before a path is built from it (no separator, no dot).
SAFE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
#: The optional parts whose damage is reported per row (``manifest.attrs["damaged"]``), and their file.
DAMAGED_FILE = "damaged.csv"

STRICT_NUM_RE = re.compile(r"^\d+$")
_FILLER_RE = re.compile(r"^(<.*>|\+\+.*\+\+)$")  # <s>, </s>, <sil>, ++BREATHING++
_VARIANT_RE = re.compile(r"\(\d+\)$")  # EXCUSE(2) -> EXCUSE
_WORD_CHAR_RE = re.compile(r"[^\W_]")  # a transcript has a word iff some token keeps a letter or digit


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


def check_id_form(utt_id: str) -> str | None:
    """Why ``utt_id`` may not name a file (separators, dots, spaces, too long), or None when it may."""
    if SAFE_ID_RE.match(utt_id):
        return None
    return (f"{utt_id[:80]!r} is not an IEMOCAP utterance id (only letters, digits, '_' and '-' may name a "
            "file; no path is built from it)")


def inside(path: Path, root: Path) -> Path:
    """``path`` when it stays inside ``root`` once ``..`` segments are resolved; ValueError otherwise."""
    normal = Path(os.path.normpath(path))
    if os.path.commonpath([normal, os.path.normpath(root)]) != os.path.normpath(root):
        raise ValueError(f"{path} leaves the corpus folder {root}; no file outside it is read")
    return normal


def check_word_timings(words: list[tuple[str, float, float]], text: str) -> str | None:
    """Why the ``.wdseg`` words do not fit ``text`` (none, out of order, another utterance's), or None."""
    if not words:
        return "no word rows (empty or unreadable .wdseg)"
    bad = [w for w, a, b in words if not (0 <= a < b < 24 * 3600)]
    if bad:
        return f"{len(bad)} word(s) with impossible times (e.g. {bad[0]!r})"
    if any(b0 > a1 + 1e-9 for (_, _, b0), (_, a1, _) in zip(words, words[1:])):
        return "words overlap or are out of order"
    said = {_plain(w) for w in str(text).split()}
    found = sum(_plain(w) in said for w, _, _ in words)
    if found < max(1, len(words) / 2):
        return f"its words do not match the transcript ({found} of {len(words)} found; another utterance's?)"
    return None


def _plain(word: str) -> str:
    """A word lower-cased, with only letters, digits and apostrophes."""
    return "".join(c for c in word.lower() if c.isalnum() or c == "'")


def read_text(path: str | os.PathLike) -> tuple[str, bool]:
    """Read a text file as UTF-8 (or UTF-16 with a byte-order mark), falling back to Latin-1.

    Also return whether the Latin-1 fallback was used.
    """
    data = Path(path).read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            pass
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
        if not parts or parts[0] == "SFrm" or line.strip().startswith("Total score"):
            continue  # header ' SFrm EFrm SegAScr Word', ' Total score: ...', blank lines
        if len(parts) < 4:
            raise ValueError(f"{path}:{i}: a row needs SFrm EFrm SegAScr Word, got {line.strip()!r}")
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


def is_hidden(p: Path) -> bool:
    """True for macOS resource forks (``._*``) and dot files."""
    return p.name.startswith(".")


def check_label_map(label_map: Mapping[str, str]) -> dict[str, str]:
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


def examples(items: list[str], k: int = 5) -> str:
    """First ``k`` items joined, with a count of the rest."""
    head = ", ".join(items[:k])
    return head + (f" and {len(items) - k} more" if len(items) > k else "")


class SkipLog:
    """Collects skipped rows, notes and audio facts while a corpus is read."""

    def __init__(self) -> None:
        self.skipped: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.multichannel: list[str] = []
        self.rates: dict[int, list[str]] = defaultdict(list)
        self.no_id_lines: list[str] = []
        self.latin1: list[str] = []
        self.damaged: list[dict[str, str]] = []
        self.duplicate_lines: list[str] = []
        self.conflicts: dict[str, str] = {}

    def skip(self, utt_id: str, file: str | os.PathLike, reason: str) -> None:
        self.skipped.append({"utt_id": utt_id, "file": str(file), "reason": reason})

    def damage(self, utt_id: str, file: str | os.PathLike, reason: str, part: str = "word timings") -> None:
        """A kept row whose optional ``part`` is missing or damaged."""
        self.damaged.append({"utt_id": utt_id, "part": part, "reason": reason, "file": str(file)})

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
                + examples(self.latin1)
            )
        if self.no_id_lines:
            self.notes.append(
                f"{len(self.no_id_lines)} transcription line(s) without an utterance id were ignored: "
                + examples(self.no_id_lines)
            )
        if self.duplicate_lines:
            self.notes.append(
                f"{len(self.duplicate_lines)} line(s) repeat an earlier line word for word and were read once: "
                + examples(self.duplicate_lines)
            )
        if self.multichannel:
            self.notes.append(
                f"{len(self.multichannel)} wav file(s) have more than one channel (kept; load_audio mixes "
                "them down to mono): " + examples(self.multichannel)
            )
        for rate, ids in sorted(self.rates.items()):
            self.notes.append(
                f"{len(ids)} wav file(s) are at {rate} Hz (kept; load_audio resamples them to 16 kHz, "
                "i.e. 16000 Hz): " + examples(ids)
            )


def manifest_frame(rows: list[dict[str, Any]], log: SkipLog, root: Path, kind: str) -> pd.DataFrame:
    """Build the sorted manifest with its attrs."""
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    df = df.sort_values("utt_id", kind="stable").reset_index(drop=True)
    df["start"] = df["start"].astype(float)
    df["end"] = df["end"].astype(float)
    df["words"] = df["words"].astype(object)
    account(df["utt_id"].tolist(), log)
    log.finish()
    df.attrs["skipped"] = log.skipped
    df.attrs["damaged"] = log.damaged
    df.attrs["notes"] = log.notes
    df.attrs["root"] = str(root)
    df.attrs["kind"] = kind
    return df


def account(kept: list[str], log: SkipLog) -> None:
    """Make every id count once: drops of a kept id become a note; several drops of one id become one."""
    keep = set(kept)
    copies = [s for s in log.skipped if s["utt_id"] in keep]
    if copies:
        log.notes.append(f"{len(copies)} other copy(ies) of kept utterances ignored: "
                         + examples([f"{s['utt_id']} ({s['reason']})" for s in copies]))
    merged: dict[str, dict[str, str]] = {}
    out = []
    for s in log.skipped:
        uid = s["utt_id"]
        if uid in keep:
            continue
        if uid and uid in merged:
            merged[uid]["reason"] += f"; also: {s['reason']}"
            continue
        if uid:
            merged[uid] = s
        out.append(s)
    log.skipped[:] = out


def report_damaged(manifest: pd.DataFrame, path: str | os.PathLike) -> str | None:
    """Write ``attrs["damaged"]`` (utt_id, part, reason, file) to ``path``; the one-line summary, or None."""
    from tsin_nb.core import atomic_write_bytes

    damaged = list(manifest.attrs.get("damaged", []))
    df = pd.DataFrame(damaged, columns=["utt_id", "part", "reason", "file"])
    atomic_write_bytes(path, df.to_csv(index=False).encode())
    if not damaged:
        return None
    kinds = df["reason"].str.split(" (", n=1, regex=False).str[0].value_counts()
    parts = "; ".join(f"{n} {k}" for k, n in kinds.items())
    return (f"Kept {len(df['utt_id'].unique())} utterance(s) without their damaged or missing word timings "
            f"({parts}); full list in {Path(path).resolve()}.")


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
    damaged = list(manifest.attrs.get("damaged", []))
    if damaged:
        out.append(f"Kept without a damaged or missing optional part: {len(damaged)}")
        out += [f"- {d['utt_id']}: {d['part']}: {d['reason']} [{_rel(d['file'], root)}]" for d in damaged]
        out.append("")
    out.append("Notes" if notes else "Notes: none")
    out += [f"- {n}" for n in notes]
    return "\n".join(out).rstrip() + "\n"
