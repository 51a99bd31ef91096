"""One writer per fold folder: an exclusive ``LOCK`` file with its holder, taken over only when stale."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

LOCK = "LOCK"
#: A lock from another host that was not touched for this long (seconds) is stale.
LOCK_STALE_S = 3600.0


class FoldBusy(RuntimeError):
    """Another live worker holds the fold's lock."""


def _holder(path: Path) -> dict[str, Any]:
    """What a lock file says about its holder ({} when unreadable)."""
    try:
        info = json.loads(path.read_text())
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict[str, Any]) -> str:
    return (f"host {info.get('host', '?')}, pid {info.get('pid', '?')}, since {info.get('started', '?')}"
            if info else "holder unknown")


def stale_reason(path: Path) -> str | None:
    """Why the lock at ``path`` is stale, or None while its holder may still be running."""
    info = _holder(path)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "it is gone"
    pid = info.get("pid")
    if info.get("host") == socket.gethostname() and isinstance(pid, int):
        if pid == os.getpid():
            return f"left by this process ({pid}), which holds no job now"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"its process {pid} on this host is gone"
        except PermissionError:
            pass  # another user's live process
        return None
    if age > LOCK_STALE_S:
        return f"not touched for {age / 60:.0f} min ({_describe(info)})"
    return None


def acquire_lock(folder: str | os.PathLike) -> tuple[Path, str]:
    """Create ``folder/LOCK`` exclusively; a stale lock is taken over. Returns the lock and a note for the log."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    note = ""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info, reason = _holder(path), stale_reason(path)
            if reason is None:
                raise FoldBusy(f"{folder} is being written by another job ({_describe(info)}); it is left alone. "
                               f"If no such process runs any more, delete {path} and rerun") from None
            if _holder(path) == info:  # still the lock judged stale
                path.unlink(missing_ok=True)
            note = f"took over the stale lock {path}: {reason}"
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S")}, f)
        return path, note
    raise FoldBusy(f"could not lock {folder}: {path} keeps reappearing (another job took the fold over)")


def release_lock(path: Path) -> None:
    """Remove a lock this process holds (not one another job took over meanwhile)."""
    info = _holder(path)
    if info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)
