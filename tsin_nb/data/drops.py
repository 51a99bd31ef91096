"""The drop report: every utterance a reader leaves out, counted per reason and listed in ``dropped.csv``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from tsin_nb.core import atomic_write_bytes

#: The full list of dropped utterances written by ``features`` (in the cache) and ``run`` (in --out).
DROPPED_FILE = "dropped.csv"


def drop_kind(reason: str) -> str:
    """The reason without its details in brackets: ``wav: cannot be decoded (...)`` -> ``wav: cannot be decoded``."""
    return str(reason).split(" (", 1)[0]


def drop_summary(skipped: Sequence[Mapping[str, str]], n_kept: int, where: str | os.PathLike | None) -> str:
    """One line: how many utterances were dropped, how many per reason, and where the full list is."""
    total = n_kept + len(skipped)
    if not skipped:
        return f"Dropped 0 of {total} utterances."
    counts = Counter(drop_kind(s.get("reason", "")) for s in skipped)
    parts = "; ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    place = f"full list in {where}" if where is not None else "every one listed below"
    return f"Dropped {len(skipped)} of {total} utterances ({parts}); {place}."


def write_dropped(skipped: Sequence[Mapping[str, str]], path: str | os.PathLike) -> Path:
    """Write the dropped utterances (utt_id, reason, file) as CSV, atomically; an empty list writes the header."""
    df = pd.DataFrame(list(skipped), columns=["utt_id", "reason", "file"])
    atomic_write_bytes(path, df.to_csv(index=False).encode())
    return Path(path)


def report_drops(manifest: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write ``manifest.attrs['skipped']`` to ``path`` and return the one-line summary naming it."""
    skipped = list(manifest.attrs.get("skipped", []))
    write_dropped(skipped, path)
    return drop_summary(skipped, len(manifest), Path(path).resolve())
