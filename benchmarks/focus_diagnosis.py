"""Why `focus` accuracy stops where it does: seen and unseen emotion words, TSIN's Eq. 9 choice, and fit.

Usage: ``python benchmarks/focus_diagnosis.py CORPUS RESULTS [RESULTS ...] [--variants tsin,text,...] [--fit]
[--model tsin]``.
CORPUS is an embedded four-cue corpus folder; each RESULTS folder is one training seed's results (e.g.
``build/results/cpu_e24-<digest>`` and its ``_seed1`` sibling) with SesI folds. It prints:

1. Accuracy on the ``text`` ("words") and ``focus`` test utterances, split by whether the deciding word (the
   emotion word; the emphasised candidate) occurs in any utterance outside the test fold
   (:func:`tsin_nb.show.word_seen_groups`), per variant: mean over (fold, seed) units with a 95 % t half-width.
   Each session has emotion words of its own, so an unseen word can only be placed by its meaning.
2. For TSIN on ``focus`` test utterances: the share where the Eq. 9 weight on the text side is larger on the
   emphasised candidate than on the other one, the median ratio of the two weights, and how often the
   prediction is the other candidate's class.
3. ``--fit``: TSIN's accuracy per cue on its own training utterances against its test utterances, fold by fold
   (loads each fold's checkpoint; needs the feature cache the run used, ``--cache``).
4. ``--energy``: what each alignment leaves in the input features, before any training: the share of the ``focus``
   utterances where the mean log-Mel energy over the emphasised candidate's frames exceeds the other candidate's,
   with each word's frames taken from its true span (the ``.wdseg`` timings), its equal segment ("w/o TA") or the
   word-order prior's window (Eq. 4 with zero scores, ``align_prior`` of the ``cpu`` preset); a 95 % Wilson
   interval each (needs the feature cache, ``--cache``; reads no RESULTS).
``--model no_ta`` reads another Table V model with Eqs. 6-9 in 2 and 3 instead of TSIN (its folds also give the
test sets of 1), e.g. the folders of ``benchmarks/focus_study.py``, which hold one model each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import EMOTIONS, TSINConfig, upgrade_config_dict  # noqa: E402
from tsin_nb.data import load_corpus, read_synthetic_meta  # noqa: E402
from tsin_nb.features import build_feature_store, config_for_store  # noqa: E402
from tsin_nb.model import build_model  # noqa: E402
from tsin_nb.runs import fold_dirs, load_outputs, mean_intervals  # noqa: E402
from tsin_nb.show import candidate_energy, word_seen_groups  # noqa: E402
from tsin_nb.train import span_targets  # noqa: E402


def _test_sets(results: Path, model: str = "tsin") -> list[set[str]]:
    return [set(pd.read_csv(f / "predictions.csv", dtype={"utt_id": str})["utt_id"])
            for f in fold_dirs(results, "SesI", model)]


def seen_table(results: list[Path], meta: pd.DataFrame, variants: list[str], model: str = "tsin") -> pd.DataFrame:
    groups = word_seen_groups(meta, _test_sets(results[0], model))
    cols = {}
    for name, ids in groups.items():
        m = mean_intervals(results, "SesI", variants, ids=ids, metric="wa").set_index("variant")
        cols[f"{name} (n={len(ids)})"] = [f"{m.at[v, 'mean']:.1f} ± {m.at[v, 'half_width']:.1f}" if v in m.index
                                          else "-" for v in variants]
    return pd.DataFrame(cols, index=variants)


#: The one row of :func:`eq9_choice` that is a median ratio, not a share of the utterances.
WEIGHT_RATIO = "weight on the emphasised / on the other word, median"


def eq9_choice(results: list[Path], meta: pd.DataFrame, model: str = "tsin") -> pd.Series:
    rows = []
    for res in results:
        for fold in range(len(fold_dirs(res, "SesI", model))):
            o = load_outputs(res, "SesI", model, fold)
            if o.get("text_weights") is None:
                continue
            for k, u in enumerate(o["ids"]):
                if u not in meta.index or meta.at[u, "cue"] != "focus":
                    continue
                s, t = int(meta.at[u, "salient_index"]), int(meta.at[u, "other_index"])
                w = o["text_weights"][k]
                pred = EMOTIONS[int(o["preds"][k])]
                rows.append({"weight on the emphasised word larger": w[s] > w[t],
                             WEIGHT_RATIO: float(w[s] / max(w[t], 1e-12)),
                             "prediction: the emphasised word's class": int(o["preds"][k]) == int(o["labels"][k]),
                             "prediction: the other word's class": pred == meta.at[u, "other_code"]})
    df = pd.DataFrame(rows)
    shares = 100 * df.drop(columns=WEIGHT_RATIO).mean()  # % of the utterances
    return pd.concat([shares, pd.Series({WEIGHT_RATIO: df[WEIGHT_RATIO].median()})])


def fit_table(root: Path, results: Path, meta: pd.DataFrame, cache: Path, model_name: str = "tsin") -> pd.DataFrame:
    corpus = load_corpus(root, progress=False)
    fields = {f.name for f in dataclasses.fields(TSINConfig)}
    rows = []
    for fd in fold_dirs(results, "SesI", model_name):
        saved = upgrade_config_dict(json.loads((fd / "metrics.json").read_text())["config"])
        cfg = TSINConfig(**{k: tuple(v) if k == "kernel_sizes" else v for k, v in saved.items() if k in fields})
        store = build_feature_store(corpus, cfg, cache, progress=False)
        model = build_model(config_for_store(cfg, store), model_name).eval()
        spans = span_targets(store, cfg.speech_stride) if model.needs_spans else None  # cfg.ta_spans
        model.load_state_dict(torch.load(fd / "checkpoint.pt", map_location="cpu", weights_only=True)["model"])
        test = set(pd.read_csv(fd / "predictions.csv", dtype={"utt_id": str})["utt_id"])
        row = {"fold": fd.name}
        for cue in ("text", "voice", "both", "focus"):
            for part in ("train", "test"):
                ids = [u for u in meta.index[meta["cue"] == cue] if (u in test) == (part == "test") and u in store.ids]
                r = store.index(ids)
                with torch.no_grad():
                    o = model(store.speech[r], store.speech_mask[r], store.text[r], store.text_mask[r],
                              **({} if spans is None else {"spans": spans[r]}))
                row[f"{cue} {part}"] = round(100 * float((o.logits.argmax(1) == store.labels[r]).float().mean()), 1)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("fold")
    out.loc["mean"] = out.mean().round(1)
    return out


def energy_table(root: Path, meta: pd.DataFrame, cache: Path) -> pd.DataFrame:
    """Section 4 (:func:`tsin_nb.show.candidate_energy` on the ``cpu`` preset's feature store)."""
    cfg = TSINConfig.preset("cpu")
    store = build_feature_store(load_corpus(root, progress=False), cfg, cache, progress=False)
    return candidate_energy(store, meta, cfg.align_prior).round(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--variants", default="tsin,no_ta,no_si,text,speech,lin_fusion,lin_text")
    ap.add_argument("--fit", action="store_true", help="also score TSIN on its training utterances (first RESULTS)")
    ap.add_argument("--model", default="tsin", help="the model read in place of TSIN (its folds give the test sets)")
    ap.add_argument("--cache", type=Path, default=Path("build/cache"))
    ap.add_argument("--energy", action="store_true", help="only section 4: the candidates' energy per alignment")
    args = ap.parse_args()
    meta = read_synthetic_meta(args.corpus)
    if meta is None or "focus" not in set(meta["cue"]):
        ap.error(f"{args.corpus} is not a four-cue embedded corpus (no synthetic_meta.csv with focus utterances)")
    variants = [v for v in args.variants.split(",") if v]
    pd.set_option("display.width", 200)
    if args.energy:
        print("The emphasised candidate louder than the other in the input features (focus utterances):")
        print(energy_table(args.corpus, meta, args.cache).to_string())
        return
    print("Accuracy (%) by whether the deciding word was read in training; mean ± 95 % t half-width over units:")
    print(seen_table(args.results, meta, variants, args.model).to_string(), "\n", flush=True)
    print(f"{args.model} on focus test utterances (% of them):")
    print(eq9_choice(args.results, meta, args.model).round(1).to_string(), "\n", flush=True)
    if args.fit:
        print(f"{args.model} accuracy (%) on training against test utterances, per cue ({args.results[0].name}):")
        print(fit_table(args.corpus, args.results[0], meta, args.cache, args.model).to_string())


if __name__ == "__main__":
    main()
