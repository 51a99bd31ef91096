"""The study behind the `cpu` preset's settings (docs/TUNING.md): one row per change, SesI UA of every variant.

Settings are chosen on another seed of the embedded corpus (seed 1 by default), never on the test folds of
the seed-0 corpus that `make reproduce` reports. Each step adds one change to the previous step's config;
every variant and linear baseline runs on the same SesI folds through `run_experiment`, and TSIN's alignment
is scored against the true word spans (share of attention in span / uniform share, all test words).

    python benchmarks/tuning_study.py --out build/tuning            # prints the table, writes table.md there
    python benchmarks/tuning_study.py --steps base,fold_norm          # a subset of the steps
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsin_nb.core import BASELINES, VARIANT_LABELS, VARIANTS, TSINConfig
from tsin_nb.data import load_corpus, make_synthetic_corpus
from tsin_nb.features import build_feature_store
from tsin_nb.model import prior_alignment
from tsin_nb.runs import load_outputs, run_experiment, table_five
from tsin_nb.show import alignment_quality, records_from_arrays

#: (step name, what changes, config changes relative to the previous step). The first step undoes every
#: later one, giving the `cpu` preset as it was before the study; the last step is the `cpu` preset now.
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("before", "the earlier `cpu` preset (per-utterance normalisation, 12 epochs)",
     {"speech_norm": "utterance", "si_scale": "sum", "epochs": 12, "lr_step": 8, "text_dropout": 0.0,
      "trim_db": 0.0, "speech_pool": "mean", "align_prior": 0.0}),
    ("fold_norm", "+ speech standardised with the fold's training statistics", {"speech_norm": "fold"}),
    ("mean_scale", "+ Eq. 9 applies m * w~ (mean 1) instead of w~ (sum 1)", {"si_scale": "mean"}),
    ("epochs_24", "+ 24 epochs, learning rate / 10 after epoch 16", {"epochs": 24, "lr_step": 16}),
    ("text_dropout", "+ whole text of half the training utterances zeroed (fused variants)", {"text_dropout": 0.5}),
    ("trim", "+ leading and trailing audio 40 dB below the peak trimmed", {"trim_db": 40.0}),
    ("pool_std", "+ each block of 10 frames pooled to its mean and standard deviation", {"speech_pool": "mean_std"}),
    ("prior", "+ diagonal prior of width 0.05 on Eq. 4", {"align_prior": 0.05}),
    ("text_dropout_07", "+ text of 70 % of the training utterances zeroed", {"text_dropout": 0.7}),
]


def _config(steps: list[tuple[str, str, dict[str, Any]]], upto: int) -> TSINConfig:
    """The `cpu` preset with every change of ``steps[: upto + 1]`` applied in order."""
    cfg = TSINConfig.preset("cpu")
    for _, _, changes in steps[: upto + 1]:
        cfg = cfg.replace(**changes)
    return cfg


def _ratio(out: Path, corpus: pd.DataFrame, cfg: TSINConfig, cache: Path, n_folds: int,
           prior_only: bool = False) -> float:
    """TSIN's mean attention mass in the true word span over the uniform share, over every test word.

    ``prior_only``: the same for Eq. 4 with every score set to 0, i.e. ``cfg.align_prior``'s prior alone.
    """
    store = build_feature_store(corpus, cfg, cache, progress=False)
    records = []
    for fold in range(n_folds):
        o = load_outputs(out, "SesI", "tsin", fold)
        alignments = o.get("alignments")
        if prior_only:
            rows = store.index(list(o["ids"]))
            alignments = prior_alignment(store.speech_mask[rows], store.text_mask[rows], cfg.speech_stride,
                                         cfg.align_prior).numpy()
        records += records_from_arrays(o["ids"], o["labels"], o["preds"], alignments, None, None, store,
                                       cfg.speech_stride)
    return float(alignment_quality(records).loc["overall", "ratio"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/tuning")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (not 0: the reported corpus)")
    ap.add_argument("--steps", default="all", help="comma-separated step names, or all")
    ap.add_argument("--jobs", type=int, default=0, help="folds at once (0: one per core)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                    help="one more row: the last step's config with these changes (JSON values), e.g. "
                         "'bidir:bidirectional=true'; may be repeated")
    args = ap.parse_args()
    if args.seed == 0:
        raise SystemExit("choose settings on another corpus seed than 0, whose test folds are reported")
    out = Path(args.out)
    root = make_synthetic_corpus(out / f"corpus_s{args.seed}", seed=args.seed)
    corpus = load_corpus(root, progress=False)
    steps = list(STEPS)
    for spec in args.extra:
        name, _, assignments = spec.partition(":")
        changes = {k: json.loads(v) for k, v in (a.split("=", 1) for a in assignments.split(",") if a)}
        steps.append((name, "tried: " + ", ".join(f"{k}={v}" for k, v in changes.items()), changes))
    wanted = [name for name, _, _ in steps] if args.steps == "all" else args.steps.split(",") + [
        name for name, _, _ in steps[len(STEPS):]]
    rows = []
    for i, (name, what, _) in enumerate(steps):
        if name not in wanted:
            continue
        cfg, t0 = _config(STEPS, min(i, len(STEPS) - 1)), time.perf_counter()
        if i >= len(STEPS):  # an extra row: the final config with its own changes
            cfg = cfg.replace(**steps[i][2])
        res = run_experiment(root, out / name, protocols="SesI", variants=VARIANTS + BASELINES, preset=cfg,
                             seed=0, cache_dir=out / "cache", progress=False, log=None, jobs=args.jobs)
        ua = table_five(res).loc[:, ("SesI", "UA")]
        row = {"step": name, "change": what, **{VARIANT_LABELS[v]: ua[VARIANT_LABELS[v]] for v in VARIANTS + BASELINES}}
        n_folds = int(res["n_folds"].max())
        row["TSIN in-span ratio"] = _ratio(out / name, corpus, cfg, out / "cache", n_folds)
        row["prior alone"] = _ratio(out / name, corpus, cfg, out / "cache", n_folds, True) if cfg.align_prior else None
        row["minutes"] = (time.perf_counter() - t0) / 60  # near 0 when the folds were finished by an earlier run
        rows.append(row)
        print(pd.DataFrame([row]).round(2).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    digits = {"TSIN in-span ratio": 2, "prior alone": 2}  # UA in % and minutes to one decimal
    cells = [["-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits.get(c, 1)}f}"
              if isinstance(v, float) else str(v) for c, v in zip(table.columns, r)]
             for r in table.itertuples(index=False)]
    text = "\n".join("| " + " | ".join(r) + " |" for r in [list(table.columns), ["---"] * table.shape[1], *cells])
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
