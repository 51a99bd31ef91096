"""Reading word vectors from a local GloVe / word2vec / fastText text file (the ``static:PATH`` kind of Fig. 4)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def read_static_vectors(
    path: str | os.PathLike, words: Iterable[str] | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of a GloVe / word2vec / fastText text file (header optional): (word -> vector, dim).

    With ``words`` only those entries are parsed, so a large file costs one pass and little memory.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: static word-vector file not found (static:PATH needs a local text file)")
    if path.suffix == ".bin":
        raise ValueError(f"{path}: binary word2vec files are not supported; convert it to the text format")
    wanted = None if words is None else set(words)
    vectors: dict[str, np.ndarray] = {}
    dim = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                dim = int(parts[1])  # word2vec / fastText header "count dim"
                continue
            if len(parts) < 2:
                continue
            dim = dim or len(parts) - 1
            if wanted is not None and len(vectors) == len(wanted):
                break  # every wanted word found (or only the width was asked for)
            if len(parts) < dim + 1:
                raise ValueError(f"{path}, line {lineno}: expected a word and {dim} numbers")
            word = " ".join(parts[: len(parts) - dim])
            if (wanted is None or word in wanted) and word not in vectors:
                vectors[word] = np.asarray(parts[len(parts) - dim :], dtype=np.float32)
    if not dim:
        raise ValueError(f"{path}: no vectors found in the static word-vector file")
    return vectors, dim
