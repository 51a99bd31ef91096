"""The keyed, checksummed feature cache that ``features.build_feature_store`` reads and fills.

One entry for speech and one for text, each keyed by a sha256 of the settings that change the numbers and
of the corpus content (utterance ids; each wav's size and mtime_ns for speech; texts and the text model's
identity for text). Labels and word spans are cheap and always read from the manifest. Each entry
``<kind>-<key>.pt`` (torch, tensors only) has a sidecar ``.json`` with the payload's sha256 and settings; a
mismatch is reported and the entry rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tsin_nb.core import atomic_write_bytes
from tsin_nb.data import AudioError

#: Bumped whenever a change here changes the numbers, so old cache entries are not reused.
FEATURES_VERSION = 2


def hash_key(obj: Any) -> str:
    """sha256 of a JSON-able object (sorted keys), the cache key."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _entry_paths(cache_dir: Path, kind: str, key: str) -> tuple[Path, Path]:
    stem = f"{kind}-{key[:24]}"
    return cache_dir / f"{stem}.pt", cache_dir / f"{stem}.json"


def save_entry(path: Path, payload: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write a cache entry atomically: the tensors, then a sidecar JSON holding their sha256."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getbuffer()
    sidecar = dict(meta, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    atomic_write_bytes(path, data)  # type: ignore[arg-type]
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(sidecar, indent=1, default=str).encode())


def load_entry(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The tensors of a cache entry, or None when absent; a damaged entry is reported and ignored."""
    sidecar = path.with_suffix(".json")
    if not path.exists() and not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text())
        data = path.read_bytes()
        if meta.get("key") != key:
            raise ValueError("its key does not match")
        if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ValueError(f"checksum mismatch ({len(data)} bytes, expected {meta['size']})")
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:  # any damage means: rebuild
        warnings.warn(f"feature cache entry {path} is damaged ({err}); rebuilding it", stacklevel=3)
        return None


def cached_entry(cache_dir: Path, kind: str, key_obj: dict[str, Any], compute: Callable[[], dict[str, torch.Tensor]],
            meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    key = hash_key(key_obj)
    path, _ = _entry_paths(cache_dir, kind, key)
    payload = load_entry(path, key)
    if payload is None:
        payload = compute()
        save_entry(path, payload, dict(meta, key=key, kind=kind))
    return payload


def wav_stamp(path: str) -> list[int]:
    """Size and mtime_ns of a wav (its part of the speech cache key)."""
    try:
        st = Path(path).stat()
    except OSError as err:
        raise AudioError(path, f"cannot be read ({err.strerror}); re-extract or remove this utterance") from err
    return [st.st_size, st.st_mtime_ns]
