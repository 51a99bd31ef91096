"""Corpus readers: IEMOCAP's folder layout or a manifest CSV/TSV -> one manifest table (docs/INTERFACES.md).

``load_corpus`` picks the reader (``iemocap`` or ``manifest``; what they share is in ``corpus``);
their public names are importable from ``tsin_nb.data``.

Rows that cannot be used are never dropped silently: each lands in ``manifest.attrs["skipped"]``
with its reason; things that are kept but worth knowing land in ``manifest.attrs["notes"]``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from tsin_nb.data.corpus import (
    CorpusError,
    corpus_report,
)
from tsin_nb.data.iemocap import load_iemocap
from tsin_nb.data.manifest import load_manifest


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
