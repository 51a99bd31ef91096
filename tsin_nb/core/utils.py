"""Seeds, devices, safe folder names and small file helpers shared by every layer."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch


def listed(value: str | Iterable[str]) -> tuple[str, ...]:
    """Names given as ``"a,b"`` (blanks and empty items dropped) or as a sequence, as a tuple."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)


def set_seed(seed: int = 0) -> None:
    """Seed random, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(device: str = "auto") -> torch.device:
    """Resolve ``"auto"`` to CUDA when present, else CPU; other strings pass through."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file so a crash never leaves half a file."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASHED = re.compile(r"-[0-9a-f]{8}$")


def short_sha(obj: Any, n: int = 16) -> str:
    """Short sha256 of a JSON-able object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def safe_fold_dirname(name: str) -> str:
    """A folder name for fold ``name``: itself when plain (letters, digits, ``._-``), else a slug + its hash.

    ``a/b`` -> ``a_b-<8 hex>``, ``../../x`` -> ``x-<8 hex>``, ``/abs`` -> ``abs-<8 hex>``. The result never holds
    a separator, never starts with a dot and is never empty; two different names never share a folder
    (a plain name ending like a hash suffix gets a suffix of its own).
    """
    name = str(name)
    slug = _UNSAFE.sub("_", name).strip("._-")[-60:].lstrip("._-")  # the end of a long path tells most
    if slug and slug == name and not _HASHED.search(name):
        return name
    return f"{slug or 'fold'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def check_fold_dirnames(names: Iterable[str]) -> None:
    """ValueError when two fold names would share a folder."""
    seen: dict[str, str] = {}
    for name in names:
        d = safe_fold_dirname(name)
        if d in seen and seen[d] != name:
            raise ValueError(f"folds {seen[d]!r} and {name!r} would share the folder {d!r}; rename one of them "
                             "in the corpus")
        seen[d] = name
