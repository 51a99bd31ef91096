"""A fold tied to the content it was trained and tested on, so a rerun on other data is refused, naming what changed.

Each fold folder holds ``content.json.gz`` (per utterance: label, transcript hash, wav size:mtime, and the
feature settings) beside its checkpoint, and ``metrics.json`` keeps its digests.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tsin_nb.core import atomic_write_bytes, short_sha
from tsin_nb.features import wav_stamp
from tsin_nb.train import set_aside

#: Per-fold record of the content a fold was trained and tested on (beside ``checkpoint.pt``).
CONTENT_FILE = "content.json.gz"


#: Store settings left out of the content digest: corpus statistics and machine-specific paths / file times.
VOLATILE_SETTINGS = ("stats", "text_model_path", "text_identity")


Log = Callable[[str], None]


def content_stamps(manifest: pd.DataFrame) -> dict[str, list[str]]:
    """``utt_id -> [label, sha of the transcript, wav size:mtime_ns]`` for every manifest row."""
    texts = manifest["text"].fillna("").astype(str)
    return {
        str(u): [str(lab), hashlib.sha256(t.encode()).hexdigest()[:12], ":".join(map(str, wav_stamp(str(w))))]
        for u, lab, t, w in zip(manifest["utt_id"], manifest["label"], texts, manifest["wav_path"])
    }


def digest_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The feature settings that enter the content digest (no statistics, paths or file times)."""
    return {k: v for k, v in settings.items() if k not in VOLATILE_SETTINGS}


def content_record(stamps: Mapping[str, list[str]], ids: Iterable[str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Digest of what one fold sees: each id's label, transcript and wav stamp, and the feature settings."""
    ids = sorted(set(ids))
    missing = [u for u in ids if u not in stamps]
    if missing:
        raise ValueError(f"{len(missing)} fold ids are not in the manifest, e.g. {missing[:3]}")
    utts = {u: list(stamps[u]) for u in ids}
    settings = digest_settings(settings)
    fields = {
        "labels": short_sha([(u, s[0]) for u, s in utts.items()]),
        "texts": short_sha([(u, s[1]) for u, s in utts.items()]),
        "audio": short_sha([(u, s[2]) for u, s in utts.items()]),
        "settings_digest": short_sha(settings),
    }
    return {"digest": short_sha([ids, fields]), **fields, "n_utterances": len(ids), "settings": settings, "utterances": utts}


def fold_content(manifest: pd.DataFrame, fold: Any, store: Any,
                 stamps: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The content record of ``fold`` (train, val and test ids) with ``store``'s feature settings."""
    stamps = content_stamps(manifest) if stamps is None else stamps
    return content_record(stamps, [*fold.train, *fold.val, *fold.test], store.settings)


def content_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The small part of a record kept in ``metrics.json`` (digests and count)."""
    return {k: record[k] for k in ("digest", "labels", "texts", "audio", "settings_digest", "n_utterances")}


def _examples(items: Sequence[str], k: int = 3) -> str:
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def content_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two content records (or a record and a ``metrics.json`` summary), in words."""
    if old.get("digest") == new.get("digest"):
        return []
    out: list[str] = []
    if old.get("settings_digest") != new.get("settings_digest"):
        a, b = old.get("settings"), new.get("settings")
        diff = [f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)] \
            if isinstance(a, Mapping) and isinstance(b, Mapping) else []
        out.append(f"feature settings changed ({'; '.join(diff)})" if diff else "feature settings changed")
    ou, nu = old.get("utterances"), new.get("utterances")
    if isinstance(ou, Mapping) and isinstance(nu, Mapping):
        common = sorted(set(ou) & set(nu))
        labels = [f"{u} ({ou[u][0]} -> {nu[u][0]})" for u in common if ou[u][0] != nu[u][0]]
        texts = [u for u in common if ou[u][1] != nu[u][1]]
        audio = [u for u in common if ou[u][2] != nu[u][2]]
        gone, new_ids = sorted(set(ou) - set(nu)), sorted(set(nu) - set(ou))
        for items, what in ((labels, "labels"), (texts, "transcripts"),
                            (audio, "wav files (size or modification time)")):
            if items:
                out.append(f"{what} of {len(items)} utterance(s) changed, e.g. {_examples(items)}")
        if gone:
            out.append(f"{len(gone)} utterance(s) no longer in the corpus, e.g. {_examples(gone)}")
        if new_ids:
            out.append(f"{len(new_ids)} utterance(s) new in the corpus, e.g. {_examples(new_ids)}")
    else:
        for key, what in (("labels", "labels"), ("texts", "transcripts"), ("audio", "wav files")):
            if old.get(key) != new.get(key):
                out.append(f"{what} changed")
    return out or ["content digest differs"]


def write_content(fold_dir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``content.json.gz`` into ``fold_dir`` atomically (no timestamp, so equal records give equal bytes)."""
    path = Path(fold_dir) / CONTENT_FILE
    atomic_write_bytes(path, gzip.compress(json.dumps(record, sort_keys=True).encode(), mtime=0))
    return path


def read_content(fold_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The content record of ``fold_dir``, or None when absent or unreadable."""
    path = Path(fold_dir) / CONTENT_FILE
    try:
        record = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError):
        return None
    return record if isinstance(record, dict) and "digest" in record else None


def check_finished_fold(fold_dir: str | os.PathLike, done: Mapping[str, Any], record: Mapping[str, Any],
                        log: Log | None = None) -> list[str]:
    """What changed since the finished fold in ``fold_dir`` was trained (empty when nothing did)."""
    summary = done.get("content")
    if not isinstance(summary, Mapping):
        if log:
            log(f"{fold_dir}: finished before content records were kept, so its labels, transcripts and audio "
                "cannot be checked; delete that folder to retrain it on the current data")
        return []
    if summary.get("digest") == record["digest"]:
        return []
    stored = read_content(fold_dir)
    return content_changes(stored if stored and stored.get("digest") == summary.get("digest") else summary, record)


def tie_fold_to_content(fold_dir: str | os.PathLike, record: Mapping[str, Any], log: Log | None = print) -> None:
    """Before training into ``fold_dir``: refuse a checkpoint of other content, set aside one of unknown content.

    Then write ``content.json.gz``, so a checkpoint left by a crash stays tied to the data it was trained on.
    """
    fold_dir = Path(fold_dir)
    ckpt = fold_dir / "checkpoint.pt"
    stored = read_content(fold_dir)
    if ckpt.exists() and stored is not None and stored["digest"] != record["digest"]:
        raise ValueError(
            f"{fold_dir} holds an unfinished fold trained on other data ({'; '.join(content_changes(stored, record))}); "
            "use another out_dir, or delete that folder to start this fold over"
        )
    if ckpt.exists() and stored is None:
        aside = set_aside(ckpt, "unverified")
        msg = (f"{ckpt} has no record of the data it was trained on; set aside as {aside.name}, "
               "training this fold from scratch")
        warnings.warn(msg, stacklevel=2)
        if log:
            log(msg)
    if stored is None or stored["digest"] != record["digest"]:
        write_content(fold_dir, record)
