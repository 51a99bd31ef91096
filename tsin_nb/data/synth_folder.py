"""The synthetic corpus's folder: what writing a plan creates, its markers, and the check before writing.

A complete corpus holds ``MARKER`` (its settings); one being written holds ``PARTIAL``. Nothing of the user's
is ever deleted: an unfinished corpus is resumed only when its marker records the same settings and every file
in its Session folders is one the plan writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsin_nb.data.synth_plan import LEGACY_CUES, SESSIONS, Utterance

#: Written last: the corpus is complete (seed, size, version, cues).
MARKER = ".tsin_synth.json"
#: Written first and removed last while a corpus is being written.
PARTIAL = ".tsin_synth.partial"


def planned_files(plan: list[Utterance]) -> set[str]:
    """Every file (relative to the root, POSIX form) that writing ``plan`` creates inside the Session folders."""
    out = set()
    for u in plan:
        session = f"Session{int(u.dialog[3:5])}"
        out |= {f"{session}/sentences/wav/{u.dialog}/{u.utt_id}.wav",
                f"{session}/sentences/ForcedAlignment/{u.dialog}/{u.utt_id}.wdseg",
                f"{session}/dialog/EmoEvaluation/{u.dialog}.txt",
                f"{session}/dialog/transcriptions/{u.dialog}.txt"}
    return out


def read_marker(path: Path, settings: dict[str, int | str]) -> object:
    """The settings a marker file records, in the form of ``settings``; None when it cannot be read.

    A marker without ``cues`` is a three-cue corpus (markers written before the setting existed).
    """
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict):
        return found
    out = {k: found.get(k) for k in settings if k != "cues"}
    out["cues"] = found.get("cues", LEGACY_CUES)
    return out


def prepare_folder(root: Path, settings: dict[str, int | str], plan: list[Utterance]) -> bool:
    """True when ``root`` already holds this corpus; False when it may be written. Never deletes the user's files.

    An unfinished corpus (``PARTIAL``) is resumed only when its marker records the same settings and every
    file in its Session folders is one this plan writes (then those are rewritten; a crash's own temporary
    files are removed). Any other marker, any other file, or Session folders without a marker is an error
    that names it.
    """
    marker = root / MARKER
    if marker.is_file():
        found = read_marker(marker, settings)
        found = found if isinstance(found, dict) else "settings it does not record"
        if found == settings:
            return True
        raise ValueError(
            f"{root} already holds a synthetic corpus made with {found} (marker {marker}), "
            f"not {settings}; choose another folder or delete this one"
        )
    sessions = [root / f"Session{s + 1}" for s in range(len(SESSIONS))]
    partial = root / PARTIAL
    if partial.exists():
        found = read_marker(partial, settings)
        if found != settings:
            def said(x: dict) -> str:
                return f"--size {x['n_utterances']} --seed {x['seed']} --cues {x['cues']}"

            made = said(found) if isinstance(found, dict) and None not in found.values() else "settings it does not record"
            raise ValueError(
                f"{root} holds an unfinished synthetic corpus made with {made} (marker {partial}), not "
                f"{said(settings)}; rerun with those settings to finish it, or choose another folder (nothing was "
                "deleted)"
            )
        planned = planned_files(plan)
        ours, foreign = [], []
        for d in sessions:
            for p in sorted(d.rglob("*")) if d.is_dir() else ():
                if p.is_dir() and not p.is_symlink():
                    continue
                rel = p.relative_to(root).as_posix()
                tmp = p.name.startswith(".") and p.name.endswith(".tmp") and any(
                    p.name.startswith(f".{Path(f).name}.") for f in planned if f.startswith(p.parent.relative_to(root).as_posix() + "/"))
                if tmp:
                    ours.append(p)
                elif rel not in planned:
                    foreign.append(rel)
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise ValueError(
                f"{root} holds an unfinished synthetic corpus, but also {', '.join(foreign[:3])}{more}, which "
                "the synthetic corpus does not write; move them out of the Session folders or choose another "
                "folder (nothing was deleted)"
            )
        for p in ours:
            p.unlink(missing_ok=True)
    elif any(d.exists() for d in sessions):
        raise ValueError(
            f"{root} holds Session folders that make_synthetic_corpus did not write (no {MARKER}); "
            "it may be a real corpus: choose an empty folder"
        )
    return False
