"""The linear baselines with speech standardised per fold or per speaker, accuracy per cue.

Usage: ``python benchmarks/speaker_norm_linear.py [--seed 1] [--out build/focus]``.
Fits ``lin_speech`` and ``lin_fusion`` (scikit-learn, deterministic) on the SesI folds of the four-cue
corpus of corpus seed ``--seed`` (1: not the reported corpus), once with ``speech_norm="fold"`` and once
with ``"speaker"``, and prints per setting the accuracy (%) on each cue's test utterances and the UA, each the
mean over the 5 folds. The corpus and feature cache are those of ``benchmarks/focus_study.py``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import TSINConfig  # noqa: E402
from tsin_nb.data import load_corpus, make_synthetic_corpus  # noqa: E402
from tsin_nb.features import build_feature_store  # noqa: E402
from tsin_nb.runs import make_folds  # noqa: E402
from tsin_nb.show import read_cues  # noqa: E402
from tsin_nb.train import fit_linear  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (not 0: the reported corpus)")
    ap.add_argument("--out", default="build/focus")
    args = ap.parse_args()
    out = Path(args.out)
    root = make_synthetic_corpus(out / "data" / f"synthetic_four_n1000_s{args.seed}", seed=args.seed, cues="four")
    corpus = load_corpus(root, progress=False)
    cue_of = read_cues(root).set_index("utt_id")["cue"]
    cue_of.index = cue_of.index.astype(str)
    folds = make_folds(corpus, "SesI", seed=0)
    rows = []
    for norm in ("fold", "speaker"):
        cfg = TSINConfig.preset("cpu", speech_norm=norm)
        store = build_feature_store(corpus, cfg, out / "cache", progress=False)
        for variant in ("lin_speech", "lin_fusion"):
            per_cue: dict[str, list[float]] = {}
            ua = []
            for fold in folds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = fit_linear(store, fold, cfg, variant)
                right = pd.Series(r.labels == r.preds, index=[str(u) for u in r.ids])
                for cue, hits in right.groupby(cue_of.reindex(right.index).to_numpy()):
                    per_cue.setdefault(cue, []).append(100 * hits.mean())
                ua.append(100 * r.metrics["ua"])
            rows.append({"speech_norm": norm, "model": variant,
                         **{cue: round(float(np.mean(v)), 1) for cue, v in sorted(per_cue.items())},
                         "UA": round(float(np.mean(ua)), 1)})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
