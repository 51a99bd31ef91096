"""How long a careful read of the executed notebooks takes: words, code lines, figures and output lines.

    python benchmarks/read_time.py build/notebooks          # the notebooks `make reproduce` executed

Counts per notebook what a reader meets (markdown words, words of the "What this shows" notes and other
markdown outputs, code lines, figures, lines of text output and table rows) and turns them into minutes at
fixed reading rates (below). The rates are assumptions of a careful, not a quick, reader; the counts are exact.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat

#: Reading rates of a careful reader: words per minute of prose, code lines per minute, seconds per figure,
#: output lines (text or table rows) per minute.
PROSE_WPM, CODE_LPM, FIGURE_S, OUTPUT_LPM = 180, 8, 30, 30


def _words(text: str) -> int:
    return len(re.findall(r"\S+", re.sub(r"<[^>]+>", " ", text)))


def count(path: Path) -> dict[str, int]:
    """What one executed notebook shows a reader."""
    nb = nbformat.read(path, as_version=4)
    out = {"prose words": 0, "note words": 0, "code lines": 0, "figures": 0, "output lines": 0}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out["prose words"] += _words(cell.source)
            continue
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        out["code lines"] += sum(1 for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#"))
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if "image/png" in data:
                out["figures"] += 1
            if "text/markdown" in data:
                out["note words"] += _words(data["text/markdown"])
            elif "text/html" in data:
                out["output lines"] += data["text/html"].count("<tr")
            elif o.get("output_type") == "stream" or "text/plain" in data and "image/png" not in data:
                text = o.get("text", "") or data.get("text/plain", "")
                out["output lines"] += len([line for line in text.splitlines() if line.strip()])
    return out


def minutes(c: dict[str, int]) -> float:
    """Reading time of one notebook's counts at the module's rates."""
    return ((c["prose words"] + c["note words"]) / PROSE_WPM + c["code lines"] / CODE_LPM
            + c["figures"] * FIGURE_S / 60 + c["output lines"] / OUTPUT_LPM)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="build/notebooks", help="executed notebooks (NN_*.ipynb)")
    args = p.parse_args()
    paths = sorted(Path(args.folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise SystemExit(f"no executed notebooks in {args.folder}; run `make reproduce` first")
    total = {"prose words": 0, "note words": 0, "code lines": 0, "figures": 0, "output lines": 0}
    print(f"{'notebook':<28}{'prose':>7}{'notes':>7}{'code':>6}{'figs':>6}{'output':>8}{'min':>7}")
    for path in paths:
        c = count(path)
        total = {k: total[k] + c[k] for k in total}
        print(f"{path.stem:<28}{c['prose words']:>7}{c['note words']:>7}{c['code lines']:>6}{c['figures']:>6}"
              f"{c['output lines']:>8}{minutes(c):>7.1f}")
    print(f"{'total':<28}{total['prose words']:>7}{total['note words']:>7}{total['code lines']:>6}"
          f"{total['figures']:>6}{total['output lines']:>8}{minutes(total):>7.1f}")
    print(f"rates: {PROSE_WPM} words/min, {CODE_LPM} code lines/min, {FIGURE_S} s per figure, "
          f"{OUTPUT_LPM} output lines/min")


if __name__ == "__main__":
    main()
