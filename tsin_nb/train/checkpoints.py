"""Damaged files set aside, never trusted: a checkpoint that cannot be read is renamed ``*.corrupt-N``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Log = Callable[[str], None]

def set_aside(path: str | os.PathLike, tag: str = "corrupt") -> Path:
    """Rename ``path`` to ``path.<tag>-N`` (the first free N) and return the new path."""
    path = Path(path)
    n = 1
    while path.with_name(f"{path.name}.{tag}-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.{tag}-{n}")
    os.replace(path, target)
    return target


def load_checkpoint_or_set_aside(path: str | os.PathLike, log: Log | None = print) -> dict[str, Any] | None:
    """A checkpoint's contents (tensors and plain types only), or None after setting a damaged one aside."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or not {"model", "optimizer", "epoch"} <= set(ck):
            raise ValueError("it is not a checkpoint written by tsin_nb.train.fit")
    except Exception as err:  # any damage: never fall back to weights_only=False
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights only" in reason.lower() or "weights_only" in reason:  # never pass on torch's unsafe advice
            reason = "it holds Python objects besides tensors and plain values, which are never unpickled here"
        aside = set_aside(path)
        msg = (f"checkpoint {path} cannot be read ({reason[:200]}); set aside as {aside.name}, "
               "training this fold from scratch")
        warnings.warn(msg, stacklevel=2)
        if log:
            log(msg)
        return None
    return ck
