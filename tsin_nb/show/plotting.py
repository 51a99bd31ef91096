"""What every figure shares: fixed colors and markers, labels, the figure factory, PNG bytes and saving.

Figures are built with the object API (``matplotlib.figure.Figure``), so nothing is registered with
pyplot: they work headless, are freed with their last reference and are shown once in Jupyter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from tsin_nb.core import EMOTIONS, VARIANT_LABELS, VARIANTS

#: One color per emotion, the same in every figure.
EMOTION_COLORS: dict[str, str] = {"ang": "#d62728", "hap": "#e6a700", "sad": "#1f77b4", "neu": "#7f7f7f"}
#: One marker per emotion, so classes differ in shape as well as color (Figs. 5-7).
EMOTION_MARKERS: dict[str, str] = {"ang": "^", "hap": "o", "sad": "v", "neu": "s"}
#: One color per variant.
VARIANT_COLORS: dict[str, str] = dict(zip(VARIANTS, ("#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22")))
#: Colors of the two metrics in bar charts.
METRIC_COLORS: dict[str, str] = {"WA": "#4c72b0", "UA": "#dd8452"}

FALLBACK_COLORS = sns.color_palette("tab10", 10).as_hex()
_FALLBACK_MARKERS = ("D", "P", "X", "*", "h", "<", ">")


def emotion_color(name: str) -> str:
    """The fixed color of an emotion (a stable fallback for names outside EMOTIONS)."""
    return EMOTION_COLORS.get(name, FALLBACK_COLORS[sum(map(ord, name)) % len(FALLBACK_COLORS)])


def emotion_marker(name: str) -> str:
    """The fixed marker of an emotion (a stable fallback for names outside EMOTIONS)."""
    return EMOTION_MARKERS.get(name, _FALLBACK_MARKERS[sum(map(ord, name)) % len(_FALLBACK_MARKERS)])


def variant_label(name: str) -> str:
    """The paper's name of a variant (``no_ta`` -> ``TSI w/o TA``); other names pass through."""
    return VARIANT_LABELS.get(name, name)


def mathtext_safe(text: Any) -> str:
    """Text with ``$`` escaped so matplotlib never reads it as mathtext."""
    return str(text).replace("$", r"\$")


def label_name(value: Any, labels: Sequence[str] = EMOTIONS) -> str:
    """A class index or name as the class name."""
    if isinstance(value, (int, np.integer)):
        return labels[int(value)]
    return str(value)


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A constrained-layout figure that is not registered with pyplot."""
    return Figure(figsize=figsize, layout="constrained")


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _register_ipython_display() -> None:
    """Let IPython show a bare ``Figure`` as PNG whatever the matplotlib backend (e.g. Agg)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    ip = get_ipython()
    if ip is None:
        return
    png = ip.display_formatter.formatters["image/png"]
    if Figure not in png.type_printers:
        png.for_type(Figure, figure_png)


_register_ipython_display()


def save_figure(fig: Figure, name: str, fig_dir: str | Path = "figures", dpi: int = 120,
                max_png_bytes: int = 900_000) -> list[Path]:
    """Write ``name.png`` (for the README, kept under ``max_png_bytes``) and ``name.pdf``; return both paths."""
    out = Path(fig_dir)
    out.mkdir(parents=True, exist_ok=True)
    from tsin_nb.runs import FIGURE_KEY, current_run

    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    run = current_run()  # the run of `tsin-nb reproduce` that drew it, so a test can match figures to a summary
    while True:
        fig.savefig(png, dpi=dpi, metadata={FIGURE_KEY: run} if run else None)
        if png.stat().st_size <= max_png_bytes or dpi <= 40:
            break
        dpi = int(dpi * 0.75)
    # no timestamp: re-runs of one reproduce give the same bytes
    fig.savefig(pdf, metadata={"CreationDate": None, **({"Subject": f"{FIGURE_KEY} {run}"} if run else {})})
    return [png, pdf]


def figure_run(path: str | Path) -> str | None:
    """The run id stamped into a figure written by :func:`save_figure` (PNG or PDF), or None."""
    from tsin_nb.runs import FIGURE_KEY

    p = Path(path)
    if p.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(p) as im:
            return im.info.get(FIGURE_KEY) or None
    import re

    found = re.search(rb"/Subject \((?:" + re.escape(FIGURE_KEY.encode()) + rb") ([0-9a-f]+)\)", p.read_bytes())
    return found.group(1).decode() if found else None
