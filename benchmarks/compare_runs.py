"""Two default runs on the same corpus, model by model: A minus B per cue, paired on the same test utterances.

Usage: ``python benchmarks/compare_runs.py CORPUS RESULTS_A RESULTS_B [--variants tsin,no_ta] [--seeds 3]``.
RESULTS_A and RESULTS_B are the training-seed-0 results folders of two ``make reproduce`` runs (e.g.
``build/results/cpu_e24-12f5b77f`` of two clones); the seeds after the first are read from the folders the
workbook writes beside it (``..._seed1``, ``..._seed2``). Prints, per variant, A minus B on SesI: UA over all
test utterances and WA on each cue of ``CORPUS/synthetic_meta.csv``, with the paired 95 % t interval over the
(fold, seed) units (``tsin_nb.runs.compare``). Use it to measure what a change of the preset did to the
reported corpus, beside the study on another corpus seed that chose it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.runs import compare  # noqa: E402
from tsin_nb.show import read_cues  # noqa: E402


def seed_folders(first: Path, seeds: int) -> list[Path]:
    """The results folder of training seed 0 and the workbook's ``_seed<k>`` folders beside it."""
    return [first] + [first.with_name(f"{first.name}_seed{k}") for k in range(1, seeds)]


def per_cue(a: list[Path], variant_a: str, b: list[Path], variant_b: str, cues: pd.DataFrame) -> str:
    """A minus B on SesI, paired over the (fold, seed) units: UA over all test utterances, WA on each cue."""
    parts = []
    for cue in ["all", *sorted(cues["cue"].unique())]:
        ids = None if cue == "all" else set(cues.loc[cues["cue"] == cue, "utt_id"].astype(str))
        r = compare(a, "SesI", variant_a, variant_b, ids=ids, subset=cue, metric="ua" if cue == "all" else "wa",
                    out_dirs_b=b)
        parts.append(f"{cue} {r.mean:+.1f} [{r.low:+.1f}, {r.high:+.1f}]")
    return f"({r.n_units} units) " + "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="the corpus folder both runs trained on (with synthetic_meta.csv)")
    ap.add_argument("a", type=Path, help="results folder of run A, training seed 0")
    ap.add_argument("b", type=Path, help="results folder of run B, training seed 0")
    ap.add_argument("--variants", default="tsin,no_ta", help="comma-separated Table V models")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds of each run")
    args = ap.parse_args()
    a, b = seed_folders(args.a, args.seeds), seed_folders(args.b, args.seeds)
    missing = [str(p) for p in a + b if not p.is_dir()]
    if missing:
        ap.error(f"no results folder at {', '.join(missing)}")
    cues = read_cues(args.corpus)
    for variant in [v for v in args.variants.split(",") if v]:
        print(f"{variant}, A - B: {per_cue(a, variant, b, variant, cues)}", flush=True)


if __name__ == "__main__":
    main()
