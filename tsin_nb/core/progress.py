"""When to draw progress bars: on a terminal or in a live notebook, never into a log file or a headless run."""

from __future__ import annotations

import os
import sys

#: Environment variable that decides when set (``0`` / ``1``); ``tsin-nb reproduce`` sets ``0`` for its kernels.
ENV = "TSIN_PROGRESS"


def show_progress(progress: bool = True) -> bool:
    """Whether to draw bars: asked for, and stderr is a terminal or this is a live Jupyter kernel ($TSIN_PROGRESS decides when set)."""
    if not progress:
        return False
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    if forced in ("1", "true", "yes", "on"):
        return True
    if "ipykernel" in sys.modules:
        from IPython import get_ipython

        if getattr(get_ipython(), "kernel", None) is not None:
            return True  # tqdm.auto draws a widget that the notebook keeps up to date
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
