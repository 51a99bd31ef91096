"""Why Eq. 4 does not find the words from the emotion loss alone: its trained scores and the gradient they get.

Usage: ``python benchmarks/alignment_diagnosis.py CORPUS FOLD_DIR [FOLD_DIR ...] [--cache build/cache]``.
Each FOLD_DIR is a finished TSIN fold (``OUT/SesI/tsin/Session1``, as ``benchmarks/focus_study.py`` writes them).
The fold's last checkpoint is loaded and run on its test utterances of the `focus` cue (all test utterances
when the corpus has no cue labels), and per real word row of Eq. 4 this prints, averaged over rows:
- ``score spread``: the standard deviation over the real frames of the scores that enter Eq. 4's softmax
  (lambda alpha, plus every log-window the fold used: prior, learned window, clocks); 0 means a uniform attention;
- ``entropy / log n``: the attention's entropy over the log of the number of real frames (1: uniform);
- ``grad norm``: the norm of d loss / d (lambda alpha) over the row's frames, loss summed over the utterances;
- ``row cosine``: the mean cosine between the gradient rows of two words of one utterance. Near 1, every word is
  pushed towards the same frames, which moves all words together instead of giving each its own span.

``--width`` (folds trained with ``align_local``): per cue instead, d loss / d log(width) of Eq. 4's learned
window over the fold's training and validation utterances, with the words and with the text zeroed
(:func:`width_pull`); positive means the loss narrows the window.

``--warp`` (folds trained with ``align_warp``): on the fold's `focus` test utterances, where the learned
clocks moved the words' windows (:func:`warp_report`): how far each word's attention centre lies from its
true span's centre, in pooled frames (the word-order prior alone, for comparison), and the frames' mean
log-step on pauses, on the emphasised word and on the other words (0 is the prior's equal step).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.data import load_corpus  # noqa: E402
from tsin_nb.model import alignment as alignment_module  # noqa: E402  (a module object, to watch Eq. 4's input)
from tsin_nb.model import loss_fn, prior_alignment  # noqa: E402
from tsin_nb.runs import load_trained_fold  # noqa: E402
from tsin_nb.show import read_cues  # noqa: E402
from tsin_nb.train import span_targets  # noqa: E402


def width_pull(corpus: pd.DataFrame, root: Path, fold_dir: Path, cache: Path) -> list[dict[str, Any]]:
    """Per cue: d loss / d log(width) of a fold trained with ``align_local``, at its last checkpoint.

    Over the utterances outside the fold's test session (the training and validation part), in eval mode,
    once with the words and once with the whole text zeroed (what text dropout does to a training utterance);
    ``training mix`` weighs the two as ``cfg.text_dropout`` does. Each cue's loss is summed over its
    utterances and divided by the number of all of them, so the cues' rows add up to the whole gradient.
    A positive value means gradient descent narrows the window (each word reads more of its own frames).
    """
    cfg, store, model = load_trained_fold(corpus, fold_dir, cache, "tsin")
    if model.window is None:
        raise SystemExit(f"{fold_dir} was not trained with align_local > 0: it has no learned window")
    test = set(pd.read_csv(fold_dir / "predictions.csv", dtype={"utt_id": str})["utt_id"])
    ids = [u for u in store.ids if u not in test]
    cues = read_cues(root)
    if cues is None:
        raise SystemExit(f"{root} has no synthetic_meta.csv: --width needs the embedded corpus's cue labels")
    cues = cues.assign(utt_id=cues["utt_id"].astype(str)).set_index("utt_id")["cue"]
    out = []
    for cue in sorted(set(cues.reindex(ids).dropna())):
        rows = store.index([u for u in ids if cues.get(u) == cue])
        row: dict[str, Any] = {"fold": str(fold_dir), "cue": cue, "utterances": len(rows),
                               "width": float(model.window.width.detach())}
        for name, keep in (("with words", 1.0), ("text zeroed", 0.0)):
            model.zero_grad()
            o = model(store.speech[rows], store.speech_mask[rows], store.text[rows] * keep, store.text_mask[rows])
            (loss_fn(o.logits, store.labels[rows]) * len(rows) / len(ids)).backward()  # Eq. 12 summed over the cue
            row[name] = float(model.window.theta.grad) / model.window.SCALE  # d loss / d log width
        row["training mix"] = (1 - cfg.text_dropout) * row["with words"] + cfg.text_dropout * row["text zeroed"]
        out.append(row)
    return out


def warp_report(corpus: pd.DataFrame, root: Path, fold_dir: Path, cache: Path) -> dict[str, Any]:
    """Where a fold trained with ``align_warp`` moved the words' windows, on its `focus` test utterances.

    ``centre error``: mean over real words with a known span of |attention centre - true span centre|, in
    pooled frames; ``prior alone``: the same for the word-order window at its equal shares (every score 0).
    ``log-step``: the mean of the frames' learned log-step g_s(s_i) over real pooled frames outside every word
    (pause), inside the emphasised word, inside the other words; ``word log-duration vs true``: the correlation
    of the words' learned log-durations with the log of their true lengths (``align_warp="both"``).
    """
    cfg, store, model = load_trained_fold(corpus, fold_dir, cache, "tsin")
    if model.warp is None:
        raise SystemExit(f"{fold_dir} was not trained with align_warp: it has no learned clock")
    meta = pd.read_csv(root / "synthetic_meta.csv", keep_default_na=False, dtype={"utt_id": str}).set_index("utt_id")
    test = pd.read_csv(fold_dir / "predictions.csv", dtype={"utt_id": str})["utt_id"]
    ids = [u for u in test if meta.loc[u, "cue"] == "focus"]
    rows = store.index(ids)
    steps: dict[str, torch.Tensor] = {}
    clock = model.warp.clock

    def watched(g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        steps["frames" if "frames" not in steps else "words"] = g.detach()
        return clock(g, mask)

    model.warp.clock = watched
    try:
        with torch.no_grad():
            out = model(store.speech[rows], store.speech_mask[rows], store.text[rows], store.text_mask[rows])
    finally:
        del model.warp.clock
    A = out.alignment  # (U, M, N)
    U, M, N = A.shape
    spans = span_targets(store, cfg.speech_stride)[rows][:, :M, :N].float()  # (U, M, N)
    frames = torch.arange(N, dtype=torch.float32)
    known = spans.sum(-1) > 0  # (U, M)
    true_centre = (spans * frames).sum(-1) / spans.sum(-1).clamp(min=1)  # (U, M)
    width = cfg.align_prior if cfg.align_prior > 0 else float(model.window.width)
    S_mask = store.speech_mask[rows].reshape(U, -1, cfg.speech_stride).any(dim=-1)[:, :N]  # (U, N)
    prior = prior_alignment(store.speech_mask[rows], store.text_mask[rows], cfg.speech_stride, width)  # (U, M, N)
    row: dict[str, Any] = {"fold": str(fold_dir), "utterances": len(ids)}
    for name, a in (("centre error", A), ("prior alone", prior)):
        row[name] = float(((a * frames).sum(-1) - true_centre).abs()[known].mean())
    g = steps["frames"]  # (U, N)
    emphasised = spans[torch.arange(U), torch.tensor(meta.loc[ids, "salient_index"].astype(int).to_numpy())] > 0
    in_word = spans.sum(1) > 0  # (U, N)
    row["log-step pause"] = float(g[S_mask & ~in_word].mean())
    row["log-step emphasised"] = float(g[S_mask & emphasised].mean())
    row["log-step other words"] = float(g[S_mask & in_word & ~emphasised].mean())
    if "words" in steps:
        d = steps["words"][:, :M][known]
        row["word log-duration vs true"] = float(np.corrcoef(d.numpy(), spans.sum(-1)[known].log().numpy())[0, 1])
    return row


def diagnose(corpus: pd.DataFrame, root: Path, fold_dir: Path, cache: Path) -> dict[str, float | str]:
    cfg, store, model = load_trained_fold(corpus, fold_dir, cache, "tsin")
    ids = pd.read_csv(fold_dir / "predictions.csv", dtype={"utt_id": str})["utt_id"].tolist()
    meta_path = root / "synthetic_meta.csv"
    if meta_path.is_file():
        focus = set(pd.read_csv(meta_path, keep_default_na=False).query("cue == 'focus'")["utt_id"])
        ids = [u for u in ids if u in focus] or ids
    rows = store.index(ids)
    seen: dict[str, torch.Tensor] = {}
    original = alignment_module.alignment_logits

    def watched(alpha, S_mask, T_mask, d, *windows):
        lam_alpha = (alpha / math.sqrt(d)).detach().requires_grad_(True)  # lambda alpha, a leaf we can read
        logits = original(lam_alpha * math.sqrt(d), S_mask, T_mask, d, *windows)  # what enters the softmax
        if "lam_alpha" not in seen:  # Eq. 4's own call; align_ctc_detach calls again for its loss alone
            seen.update(lam_alpha=lam_alpha, logits=logits.detach(), S_mask=S_mask, T_mask=T_mask)
        return logits

    alignment_module.alignment_logits = watched  # alignment_weights looks it up at each call
    try:
        out = model(store.speech[rows], store.speech_mask[rows], store.text[rows], store.text_mask[rows])
        loss_fn(out.logits, store.labels[rows]).backward()
    finally:
        alignment_module.alignment_logits = original
    scores, grad = seen["logits"], seen["lam_alpha"].grad
    weight = 1.0 if model.prior_weight is None else float(model.prior_weight)  # 0 once align_anneal faded it
    prior = cfg.align_prior if weight > 0 else 0.0
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
    return {"fold": str(fold_dir), "utterances": len(rows), "prior": prior,
            "score spread": float(np.mean(spread)), "entropy / log n": float(np.mean(entropy)),
            "grad norm": float(np.mean(norms)), "row cosine": float(np.mean(cosines))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("fold_dirs", nargs="+")
    ap.add_argument("--cache", default="build/cache")
    ap.add_argument("--width", action="store_true",
                    help="folds trained with align_local: per cue, which way the loss pulls the learned window's width")
    ap.add_argument("--warp", action="store_true",
                    help="folds trained with align_warp: where the learned clocks moved the words' windows")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(args.corpus)
    corpus = load_corpus(root, progress=False)
    if args.width:
        rows = [r for f in args.fold_dirs for r in width_pull(corpus, root, Path(f), Path(args.cache))]
        df = pd.DataFrame(rows)
        total = df.groupby("fold", sort=False)[["with words", "text zeroed", "training mix", "utterances"]].sum()
        total = total.assign(cue="all", width=df.groupby("fold", sort=False)["width"].first()).reset_index()
        df = pd.concat([df, total]).sort_values("fold", kind="stable")
        with pd.option_context("display.width", 200, "display.max_colwidth", 70):
            print(df.round(6).to_string(index=False))
        return
    report = warp_report if args.warp else diagnose
    rows = [report(corpus, root, Path(f), Path(args.cache)) for f in args.fold_dirs]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
