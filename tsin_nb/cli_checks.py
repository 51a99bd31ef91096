"""Checks of the ``tsin-nb`` arguments before any work starts, and one line for every mistake of a user.

A mistake (a value out of range, a file where a folder is needed, a folder that cannot be written, a model
folder that cannot be loaded, a full disk, an unreadable corpus) ends the command with one line on stderr,
``tsin-nb COMMAND: ARGUMENT: what is wrong; what to do``, and exit status 2. Anything else is a bug: its
traceback is printed and saved to a log file that the last line names, and the exit status is 1.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

#: Where a full disk or a permission problem is most likely fixed, per command.
WRITE_ARGS = {"synth": "ROOT", "features": "--cache", "run": "--out or --cache", "reproduce": "--build or --figures"}
#: Files a transformers model folder may keep its weights in.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def fail(command: str, message: str) -> NoReturn:
    """Print ``tsin-nb COMMAND: message`` as one line on stderr and exit with status 2."""
    print(f"tsin-nb {command}: " + " ".join(str(message).split()), file=sys.stderr)
    raise SystemExit(2)


def check_int(command: str, name: str, value: int | None, low: int, high: int | None = None,
              what: str = "") -> None:
    """Exit naming ``name`` when ``value`` (if given) is outside ``[low, high]``."""
    if value is None:
        return
    if value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"between {low} and {high}"
        fail(command, f"{name} {value}: must be {span}{'; ' + what if what else ''}")


def _too_wide(path: Path) -> str | None:
    """Why ``path`` is too wide a folder to write into (the file system root or the home folder), or None."""
    resolved = path.expanduser().resolve()
    if resolved == Path(resolved.anchor):
        return "is the file system root"
    if resolved == Path.home().resolve():
        return "is your home folder itself"
    return None


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried, not guessed from permission bits)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tsin-nb-write-test-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def check_out_folder(command: str, name: str, path: str | os.PathLike | None, example: str) -> None:
    """Exit naming ``name`` when ``path`` cannot become a folder this command writes into."""
    if path is None:
        return
    p = Path(path).expanduser()
    wide = _too_wide(p)
    if wide:
        fail(command, f"{name} {p} {wide}; give a folder inside it (e.g. {example})")
    if p.exists() or p.is_symlink():
        if not p.is_dir():
            fail(command, f"{name} {p} is a file, not a folder; give a folder (e.g. {example})")
        if not _writable(p):
            fail(command, f"{name} {p} cannot be written (read-only or not yours); give a folder you can write")
        return
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        fail(command, f"{name} {p}: {parent} is a file, so no folder can be made there; give another path")
    if not _writable(parent):
        fail(command, f"{name} {p}: {parent} cannot be written, so the folder cannot be made; give a folder "
                      "you can write")


def check_input(command: str, name: str, path: str | os.PathLike | None, what: str) -> None:
    """Exit naming ``name`` when ``path`` (if given) does not exist."""
    if path is not None and not Path(path).expanduser().exists():
        fail(command, f"{name} {path} does not exist; give {what}")


def check_model_folder(command: str, spec: str | None) -> None:
    """Exit naming ``--text-model`` when a model folder's config is not JSON, or it has no usable weights."""
    if spec is None:
        return
    folder = Path(str(spec)).expanduser()
    if not folder.is_dir():
        return
    config = folder / "config.json"
    try:
        loaded = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        fail(command, f"--text-model {folder}: {config.name} is not readable JSON ({str(err)[:120]}); save the "
                      "model again with save_pretrained, or give minilm")
    if not isinstance(loaded, dict):
        fail(command, f"--text-model {folder}: {config.name} is not a JSON object; save the model again with "
                      "save_pretrained")
    present = [f for f in WEIGHT_FILES if (folder / f).is_file()] + sorted(p.name for p in folder.glob("*.safetensors"))
    if not present:
        fail(command, f"--text-model {folder} holds no weights (none of {', '.join(WEIGHT_FILES[:2])}); save the "
                      "model with save_pretrained, or give minilm")
    if not any(f.endswith(".safetensors") or f.endswith(".json") for f in present) and "pytorch_model.bin" in present:
        import torch

        try:
            torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # any damage or any pickled object: refused, never unpickled
            reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
            if "weights" in reason.lower():
                reason = "it holds Python objects besides tensors, which are never unpickled here"
            fail(command, f"--text-model {folder}: pytorch_model.bin cannot be loaded safely ({reason}); save the "
                          "model with safetensors (save_pretrained(..., safe_serialization=True))")


def os_error_line(command: str, err: OSError) -> str:
    """The one line for an OSError met while a command works (full disk, permission, wrong kind of path)."""
    where = err.filename or "a file"
    arg = WRITE_ARGS.get(command, "the folder it writes")
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"no space left on the device while writing {where}; free some space or give {arg} on another disk"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: {err.strerror or 'permission denied'}; give {arg} in a folder you can write"
    return f"{where}: {err.strerror or err}; check that path"


def guard(command: str, func: Callable[[Any], int], args: Any) -> int:
    """Run ``func(args)``: a user's mistake becomes one line and status 2; a bug a saved traceback and status 1."""
    try:
        return int(func(args) or 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print(f"tsin-nb {command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as err:
        print(f"tsin-nb {command}: {os_error_line(command, err)}", file=sys.stderr)
        return 2
    except ValueError as err:  # CorpusError, AudioError and every checked value raise ValueError with a reason
        print(f"tsin-nb {command}: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"tsin-nb {command}: ran out of memory; use a smaller --preset or fewer --jobs", file=sys.stderr)
        return 2
    except Exception as err:
        text = traceback.format_exc()
        log = Path(tempfile.gettempdir()) / f"tsin-nb-{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        try:
            log.write_text(" ".join(sys.argv) + "\n" + text)
            where = f"the traceback is saved in {log}"
        except OSError:
            where = "the traceback above could not be saved"
        print(text, file=sys.stderr, end="")
        print(f"tsin-nb {command}: internal error, a bug in tsin-nb and not in your input "
              f"({type(err).__name__}: {' '.join(str(err).split())[:200]}); {where}; please report it",
              file=sys.stderr)
        return 1
