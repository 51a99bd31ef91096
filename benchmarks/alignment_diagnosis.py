"""Why Eq. 4 does not find the words from the emotion loss alone: its trained scores and the gradient they get.

Usage: ``python benchmarks/alignment_diagnosis.py CORPUS FOLD_DIR [FOLD_DIR ...] [--cache build/cache]``.
Each FOLD_DIR is a finished TSIN fold (``OUT/SesI/tsin/Session1``, as ``benchmarks/focus_study.py`` writes them).
The fold's last checkpoint is loaded and run on its test utterances of the `focus` cue (all test utterances
when the corpus has no cue labels), and per real word row of Eq. 4 this prints, averaged over rows:
- ``score spread``: the standard deviation over the real frames of the scores that enter Eq. 4's softmax
  (lambda alpha, plus the prior when the fold used one); 0 means a uniform attention;
- ``entropy / log n``: the attention's entropy over the log of the number of real frames (1: uniform);
- ``grad norm``: the norm of d loss / d (lambda alpha) over the row's frames, loss summed over the utterances;
- ``row cosine``: the mean cosine between the gradient rows of two words of one utterance. Near 1, every word is
  pushed towards the same frames, which moves all words together instead of giving each its own span.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import TSINConfig, upgrade_config_dict  # noqa: E402
from tsin_nb.data import load_corpus  # noqa: E402
from tsin_nb.features import build_feature_store, config_for_store  # noqa: E402
from tsin_nb.model import build_model, loss_fn  # noqa: E402
from tsin_nb.model import tsin as tsin_module  # noqa: E402  (a module object, to watch Eq. 4's input)


def diagnose(corpus: pd.DataFrame, root: Path, fold_dir: Path, cache: Path) -> dict[str, float | str]:
    metrics = json.loads((fold_dir / "metrics.json").read_text())
    fields = {f.name for f in dataclasses.fields(TSINConfig)}
    cfg = TSINConfig(**{k: tuple(v) if k == "kernel_sizes" else v
                        for k, v in upgrade_config_dict(metrics["config"]).items() if k in fields})
    store = build_feature_store(corpus, cfg, cache, progress=False)
    cfg = config_for_store(cfg, store)
    model = build_model(cfg, "tsin").eval()
    model.load_state_dict(torch.load(fold_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["model"])
    ids = pd.read_csv(fold_dir / "predictions.csv", dtype={"utt_id": str})["utt_id"].tolist()
    meta_path = root / "synthetic_meta.csv"
    if meta_path.is_file():
        focus = set(pd.read_csv(meta_path, keep_default_na=False).query("cue == 'focus'")["utt_id"])
        ids = [u for u in ids if u in focus] or ids
    rows = store.index(ids)
    seen: dict[str, torch.Tensor] = {}
    original = tsin_module.alignment_weights

    def watched(alpha, S_mask, T_mask, d, prior=0.0):
        scores = (alpha / math.sqrt(d)).detach().requires_grad_(True)  # lambda alpha, a leaf we can read
        seen.update(scores=scores, S_mask=S_mask, T_mask=T_mask)
        return original(scores * math.sqrt(d), S_mask, T_mask, d, prior)

    tsin_module.alignment_weights = watched
    try:
        out = model(store.speech[rows], store.speech_mask[rows], store.text[rows], store.text_mask[rows])
        loss_fn(out.logits, store.labels[rows]).backward()
    finally:
        tsin_module.alignment_weights = original
    scores, grad = seen["scores"].detach(), seen["scores"].grad
    if cfg.align_prior > 0:
        scores = scores + tsin_module.diagonal_prior(seen["S_mask"], seen["T_mask"], cfg.align_prior)
    A = out.alignment.detach()
    spread, entropy, norms, cosines = [], [], [], []
    for b in range(len(rows)):
        n, m = int(seen["S_mask"][b].sum()), int(seen["T_mask"][b].sum())
        g = grad[b, :m, :n]
        for j in range(m):
            spread.append(float(scores[b, j, :n].std()))
            p = A[b, j, :n].clamp(min=1e-12)
            entropy.append(float(-(p * p.log()).sum() / math.log(max(n, 2))))
            norms.append(float(g[j].norm()))
        if m > 1:
            gc = g - g.mean(dim=1, keepdim=True)
            gc = gc / gc.norm(dim=1, keepdim=True).clamp(min=1e-20)
            c = gc @ gc.T
            cosines.append(float((c.sum() - c.diagonal().sum()) / (m * (m - 1))))
    return {"fold": str(fold_dir), "utterances": len(rows), "prior": cfg.align_prior,
            "score spread": float(np.mean(spread)), "entropy / log n": float(np.mean(entropy)),
            "grad norm": float(np.mean(norms)), "row cosine": float(np.mean(cosines))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("fold_dirs", nargs="+")
    ap.add_argument("--cache", default="build/cache")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(args.corpus)
    corpus = load_corpus(root, progress=False)
    rows = [diagnose(corpus, root, Path(f), Path(args.cache)) for f in args.fold_dirs]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
