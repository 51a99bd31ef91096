"""The `focus` study: which settings let TSIN read which word was emphasised, measured with paired intervals.

Usage: ``python benchmarks/focus_study.py [--seed 1] [--settings cpu,printed] [--seeds 3] [--out build/focus]
[--cues four] [--pairs printed:cpu]``.
Trains TSIN on SesI of the four-cue corpus (``--cues four_near``: the `focus` candidates next to each other)
of corpus seed ``--seed`` (1: not the reported corpus, as in docs/TUNING.md) with each named setting (TSIN,
or the Table V model a setting names) and training seeds 0 .. ``--seeds`` - 1, then prints per setting:
accuracy per cue (mean over folds x seeds), the alignment's in-span ratio on `focus` utterances (Eq. 4's
attention inside the words' true spans over a uniform spread; all words of every `focus` test utterance;
one value per training seed; printed first for the `cpu` preset's word-order prior alone, Eq. 4 with every
score 0), and each setting minus the first one on the same test utterances with a paired 95 % t interval
over the (fold, seed) units, overall and on `focus` (``--pairs``: any two settings, per cue). Settings with a
learned window (``align_local``) also print its width at the reported epoch, the median over folds and seeds.
Folds already trained are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_runs import per_cue  # noqa: E402  (benchmarks/, this script's folder, is on sys.path)

from tsin_nb.core import SPEECH_NORMS, TSINConfig  # noqa: E402
from tsin_nb.data import load_corpus, make_synthetic_corpus  # noqa: E402
from tsin_nb.features import build_feature_store  # noqa: E402
from tsin_nb.model import prior_alignment  # noqa: E402
from tsin_nb.runs import compare, load_outputs, mean_intervals, run_experiment  # noqa: E402
from tsin_nb.show import alignment_quality, read_cues, records_from_arrays  # noqa: E402

#: Named settings: changes to the `cpu` preset; "variant" trains that Table V model instead of TSIN.
SETTINGS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "prose": {"si_pairing": "prose"},
    "printed": {"si_pairing": "printed"},
    "printed_td03": {"si_pairing": "printed", "text_dropout": 0.3},
    "printed_unshared": {"si_pairing": "printed", "si_shared": False},
    "noprior": {"align_prior": 0.0},
    "printed_noprior": {"si_pairing": "printed", "align_prior": 0.0},
    "printed_pos8_noprior": {"si_pairing": "printed", "align_prior": 0.0, "align_pos": 8},
    "oracle": {"align_loss": 1.0},
    "oracle_noprior": {"align_prior": 0.0, "align_loss": 1.0},
    "nce_noprior": {"align_prior": 0.0, "align_nce": 1.0},
    "nce_pos8_noprior": {"align_prior": 0.0, "align_nce": 1.0, "align_pos": 8},
    "sum": {"si_scale": "sum"},
    "cd05": {"classifier_dropout": 0.5},
    "wd1e-2": {"weight_decay": 1e-2},
    "ep48": {"epochs": 48, "lr_step": 32},
    "bidir": {"bidirectional": True},
    "d96": {"d_model": 96, "d_fusion": 96},
    "td05": {"text_dropout": 0.5},
    "printed_oracle": {"si_pairing": "printed", "align_loss": 1.0},
    "local1_noprior": {"align_prior": 0.0, "align_local": 1.0},
    "local03_noprior": {"align_prior": 0.0, "align_local": 0.3},
    "fold": {"speech_norm": "fold"},
    "spk": {"speech_norm": "speaker"},
    "local02_noprior": {"align_prior": 0.0, "align_local": 0.2},
    "local01_noprior": {"align_prior": 0.0, "align_local": 0.1},
    "local005_noprior": {"align_prior": 0.0, "align_local": 0.05},
    "fade12": {"align_anneal": 12},
    "fade12_pos8": {"align_anneal": 12, "align_pos": 8},
    "fade12_pos16": {"align_anneal": 12, "align_pos": 16},
    "fade12_pos32": {"align_anneal": 12, "align_pos": 32},
    "fade6_pos16": {"align_anneal": 6, "align_pos": 16},
    "fade16_pos16": {"align_anneal": 16, "align_pos": 16},
    "warp": {"align_warp": "both"},
    "warp_local005_noprior": {"align_prior": 0.0, "align_local": 0.05, "align_warp": "both"},
    "fwarp": {"align_warp": "frames"},
    "fwarp_local005_noprior": {"align_prior": 0.0, "align_local": 0.05, "align_warp": "frames"},
    "no_ta": {"variant": "no_ta"},
    "no_ta_spans": {"variant": "no_ta", "ta_spans": True},
    "no_ta_bidir": {"variant": "no_ta", "bidirectional": True},
    "no_ta_spans_bidir": {"variant": "no_ta", "ta_spans": True, "bidirectional": True},
    "oracle_bidir": {"align_loss": 1.0, "bidirectional": True},
    "pool_mean": {"mec_pool": "mean"},  # Eq. 11 as printed: the preset before it read the Eq. 9 weights
    "no_ta_pool_mean": {"variant": "no_ta", "mec_pool": "mean"},
    "no_ta_spans_pool_mean": {"variant": "no_ta", "ta_spans": True, "mec_pool": "mean"},
    "pool_si": {"mec_pool": "si"},
    "no_ta_pool_si": {"variant": "no_ta", "mec_pool": "si"},
    "no_ta_spans_pool_si": {"variant": "no_ta", "ta_spans": True, "mec_pool": "si"},
    "pool_both": {"mec_pool": "both"},
    "no_ta_pool_both": {"variant": "no_ta", "mec_pool": "both"},
    "no_ta_spans_pool_both": {"variant": "no_ta", "ta_spans": True, "mec_pool": "both"},
    "speech": {"variant": "speech"},  # the speech branch alone (no Eq. 4: no ratio)
    "no_si": {"variant": "no_si"},
    "text_drop03": {"text_dropout": 0.3},  # under the preset with Eq. 2 kernel 1 (docs/TUNING.md)
    "text_drop05": {"text_dropout": 0.5},  # under today's preset (td05 above was measured under an older one)
    "text_drop09": {"text_dropout": 0.9},
    "speech_mean": {"mec_speech": "mean"},  # the frames' mean beside f'
    "speech_mec": {"mec_speech": "mec"},  # the same after their own Eq. 11 block, as the Speech model pools
    "ctc_noprior": {"align_prior": 0.0, "align_ctc": 1.0},  # the forward-sum loss in place of the prior
    "ctc_pos8_noprior": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8},
    "ctc": {"align_ctc": 1.0},  # beside the prior
    "pos8_noprior": {"align_prior": 0.0, "align_pos": 8},  # the position score alone, under today's preset
    "ctcpos_pos8_noprior": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_ctc_detach": True},
    "ctcpos_pos32_noprior": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 32, "align_ctc_detach": True},
    "ctcpos_pos8_noprior_t2": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_ctc_detach": True,
                               "align_temp": 2.0},
    "ctcpos_pos8_noprior_t3": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_ctc_detach": True,
                               "align_temp": 3.0},
    "ctc_pos8_noprior_t2": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_temp": 2.0},
    "ctcpos_pos8_noprior_w8": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_ctc_detach": True,
                               "align_ctc_warmup": 8},
    "ctc_pos8_noprior_w8": {"align_prior": 0.0, "align_ctc": 1.0, "align_pos": 8, "align_ctc_warmup": 8},
    "ctc01_pos8_noprior": {"align_prior": 0.0, "align_ctc": 0.1, "align_pos": 8},
    "ctc03_pos8_noprior": {"align_prior": 0.0, "align_ctc": 0.3, "align_pos": 8},
    "text_k1": {"text_kernels": (1,)},  # Eq. 2 reads each word's own vector: the cpu preset since it was measured
    "text_noise05": {"text_noise": 0.5},  # Gaussian noise on each word vector in training, half its RMS
    "text_noise10": {"text_noise": 1.0},
    "text_noise20": {"text_noise": 2.0},
    "text_k135": {"text_kernels": ()},  # Eq. 2 as printed (kernels 1, 3, 5): the preset before it read each word alone
}

#: Table V models without Eq. 4's alignment: no in-span ratio to report.
NO_ALIGNMENT = ("speech", "text")


def _focus_ratio(out: Path, cfg: TSINConfig, store: Any, focus: set[str], variant: str = "tsin") -> float:
    if variant in NO_ALIGNMENT:
        return float("nan")
    records = []
    for fold in range(5):
        o = load_outputs(out, "SesI", variant, fold)
        records += [r for r in records_from_arrays(o["ids"], o["labels"], o["preds"], o.get("alignments"), None, None,
                                                   store, cfg.speech_stride) if r.utt_id in focus]
    return float(alignment_quality(records).loc["overall", "ratio"])


def _prior_ratio(corpus: Any, out: Path, focus: set[str]) -> float:
    """The in-span ratio of the ``cpu`` preset's word-order prior alone (Eq. 4 with every score 0) on every `focus`
    utterance: the hand-set alignment a learned one is compared with (each is a test utterance of one SesI fold)."""
    cfg = TSINConfig.preset("cpu")
    store = build_feature_store(corpus, cfg, out / "cache", progress=False)
    ids = sorted(u for u in focus if u in set(store.ids))
    r = store.index(ids)
    prior = prior_alignment(store.speech_mask[r], store.text_mask[r], cfg.speech_stride, cfg.align_prior)
    labels = store.labels[r].numpy()
    records = records_from_arrays(ids, labels, labels, prior.numpy(), None, None, store, cfg.speech_stride)
    return float(alignment_quality(records).loc["overall", "ratio"])


def _learned_width(folders: list[Path]) -> float:
    """Median over folds and seeds of Eq. 4's learned window width (``align_local``) at the reported epoch."""
    widths = []
    for folder in folders:
        for hist_path in sorted((folder / "SesI" / "tsin").glob("*/history.csv")):
            metrics = json.loads((hist_path.parent / "metrics.json").read_text())
            hist = pd.read_csv(hist_path).set_index("epoch")
            widths.append(float(hist.loc[metrics.get("selected_epoch", hist.index[-1]), "align_width"]))
    return float(pd.Series(widths).median())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (not 0: the reported corpus)")
    ap.add_argument("--settings", default="cpu,printed", help=f"comma-separated, from {', '.join(SETTINGS)}")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per setting")
    ap.add_argument("--out", default="build/focus")
    ap.add_argument("--cues", default="four", choices=("four", "four_near"),
                    help="the corpus's cue setting (four_near: the two focus candidates next to each other)")
    ap.add_argument("--pairs", default="",
                    help="comma-separated A:B of the settings named: A minus B per cue as well (paired 95 %% t)")
    ap.add_argument("--jobs", type=int, default=0, help="folds at once (0: one per core)")
    ap.add_argument("--speech-norm", default=None, choices=SPEECH_NORMS,
                    help="under every setting (e.g. 'fold', the preset's before speaker normalisation); "
                         "results go to OUT/<setting>_<norm>")
    ap.add_argument("--mec-pool", default=None, choices=("mean", "si", "both"),
                    help="under every setting (e.g. 'mean', Eq. 11 as printed: the preset's before it read the Eq. 9 "
                         "weights, under which the rows of docs/TUNING.md before that section were measured); "
                         "results go to OUT/<setting>_<pool>")
    args = ap.parse_args()
    names = [s for s in args.settings.split(",") if s]
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p]
    if any(len(p) != 2 or not set(p) <= set(names) for p in pairs):
        ap.error(f"--pairs must be A:B of the settings named, got {args.pairs!r}")
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        ap.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    out = Path(args.out)
    root = make_synthetic_corpus(out / "data" / f"synthetic_{args.cues}_n1000_s{args.seed}", seed=args.seed,
                                 cues=args.cues)
    cues = read_cues(root)
    focus = set(cues.loc[cues["cue"] == "focus", "utt_id"].astype(str))
    corpus = load_corpus(root, progress=False)
    folders: dict[str, list[Path]] = {}
    variants = {name: SETTINGS[name].get("variant", "tsin") for name in names}
    print(f"word-order prior alone (cpu preset's width, every score 0), focus ratio: "
          f"{_prior_ratio(corpus, out, focus):.2f}", flush=True)
    for name in names:
        base = {"speech_norm": args.speech_norm} if args.speech_norm else {}
        base |= {"mec_pool": args.mec_pool} if args.mec_pool else {}
        changes = {k: v for k, v in SETTINGS[name].items() if k != "variant"}
        cfg = TSINConfig.preset("cpu", **{**base, **changes})
        variant = variants[name]
        t0 = time.perf_counter()
        folder = "_".join([name] + [v for v in (args.speech_norm, args.mec_pool) if v])
        folders[name] = [out / folder / f"seed{k}" for k in range(args.seeds)]
        for k, folder in enumerate(folders[name]):
            run_experiment(root, folder, protocols="SesI", variants=variant, preset=cfg, seed=k,
                           cache_dir=out / "cache", progress=False, jobs=args.jobs, log=lambda m: None)
        store = build_feature_store(corpus, cfg, out / "cache", progress=False)
        row: dict[str, Any] = {"setting": name}
        for cue, ids in cues.groupby("cue")["utt_id"]:
            m = mean_intervals(folders[name], "SesI", [variant], ids=set(ids.astype(str)), metric="wa")
            row[cue] = f"{m['mean'].iloc[0]:.1f} ± {m['half_width'].iloc[0]:.1f}"
        m = mean_intervals(folders[name], "SesI", [variant])
        row["UA all"] = f"{m['mean'].iloc[0]:.1f} ± {m['half_width'].iloc[0]:.1f}"
        row["focus ratio (per seed)"] = " / ".join(f"{_focus_ratio(f, cfg, store, focus, variant):.2f}"
                                                   for f in folders[name])
        if cfg.align_local > 0:  # the learned window's width at the reported epoch, over folds and seeds
            row["width"] = round(_learned_width(folders[name]), 3)
        row["s"] = round(time.perf_counter() - t0)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    base = names[0]
    for name in names[1:]:
        for ids, subset, metric in ((None, "all", "ua"), (focus, "focus", "wa")):
            r = compare(folders[name], "SesI", variants[name], variants[base], ids=ids, subset=subset, metric=metric,
                        out_dirs_b=folders[base])
            print(f"{name} - {base} ({subset}, {metric.upper()}): {r.mean:+.1f} points [{r.low:+.1f}, {r.high:+.1f}] "
                  f"over {r.n_units} units: {r.verdict}", flush=True)
    for a, b in pairs:  # per cue: WA on the cue's test utterances, UA over all of them
        print(f"{a} - {b}: {per_cue(folders[a], variants[a], folders[b], variants[b], cues)}", flush=True)


if __name__ == "__main__":
    main()
