"""How each utterance of the embedded corpus carries its emotion: the ``cue`` column of ``synthetic_meta.csv``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tsin_nb.data.synth import META

#: The columns :func:`synthetic_cues` returns.
CUE_COLUMNS = ("utt_id", "cue", "label_code")


def synthetic_cues(root: str | os.PathLike, manifest: pd.DataFrame) -> pd.DataFrame:
    """``utt_id``, ``cue`` and ``label_code`` (the corpus's own label, e.g. ``exc``) of the manifest's utterances.

    Read from ``root/synthetic_meta.csv``; a corpus without that file (IEMOCAP, a manifest CSV) gives an empty
    table with the same columns, so counts over it are empty rather than a special case.
    """
    path = Path(root) / META
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=str) for c in CUE_COLUMNS})
    meta = pd.read_csv(path, usecols=list(CUE_COLUMNS), dtype=str)
    return meta[meta["utt_id"].isin(set(manifest["utt_id"].astype(str)))].reset_index(drop=True)
