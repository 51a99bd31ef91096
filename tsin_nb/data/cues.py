"""How each utterance of the embedded corpus carries its emotion: the ``cue`` column of ``synthetic_meta.csv``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tsin_nb.data.synth import META

#: The columns :func:`synthetic_cues` returns.
CUE_COLUMNS = ("utt_id", "cue", "label_code")


def read_synthetic_meta(root: str | os.PathLike) -> pd.DataFrame | None:
    """``root/synthetic_meta.csv`` of the embedded corpus indexed by ``utt_id`` (cue, label, salient and other word
    of each utterance; empty cells stay ``""``), or None for a corpus without it (IEMOCAP, a manifest CSV)."""
    path = Path(root) / META
    return pd.read_csv(path, keep_default_na=False, dtype={"utt_id": str}).set_index("utt_id") if path.is_file() else None


def synthetic_cues(root: str | os.PathLike, manifest: pd.DataFrame) -> pd.DataFrame:
    """``utt_id``, ``cue`` and ``label_code`` (the corpus's own label, e.g. ``exc``) of the manifest's utterances.

    Read from ``root/synthetic_meta.csv``; a corpus without that file (IEMOCAP, a manifest CSV) gives an empty
    table with the same columns, so counts over it are empty rather than a special case.
    """
    meta = read_synthetic_meta(root)
    if meta is None:
        return pd.DataFrame({c: pd.Series(dtype=str) for c in CUE_COLUMNS})
    meta = meta.reset_index()[list(CUE_COLUMNS)].astype(str)
    return meta[meta["utt_id"].isin(set(manifest["utt_id"].astype(str)))].reset_index(drop=True)
