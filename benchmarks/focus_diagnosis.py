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
   prediction is the other candidate's class; then the same, split by whether each of the two candidates was
   read in training (:func:`eq9_by_seen`).
3. ``--fit``: TSIN's accuracy per cue on its own training utterances against its test utterances, fold by fold
   (loads each fold's checkpoint; needs the feature cache the run used, ``--cache``).
5. ``--text-zeroed``: each cue's test accuracy with every word vector zeroed (what the text dropout does to a
   training utterance) beside the accuracy as given, paired, and the ``voice`` confusion both ways: how much of
   the voice cue the fused model reads from the speech when the words are there, and when they are not.
   ``--mix 0.7,0.5``: also the two predictions' class probabilities mixed with those weights on the words.
   With ``--fit``: section 3 with the words zeroed as well.
4. ``--energy``: what each alignment leaves in the input features, before any training: the share of the ``focus``
   utterances where the mean log-Mel energy over the emphasised candidate's frames exceeds the other candidate's,
   with each word's frames taken from its true span (the ``.wdseg`` timings), its equal segment ("w/o TA") or the
   word-order prior's window (Eq. 4 with zero scores, ``align_prior`` of the ``cpu`` preset); a 95 % Wilson
   interval each (needs the feature cache, ``--cache``; reads no RESULTS).
6. ``--trained-energy``: the same question as 4, read through each trained model's own Eq. 4 rows (the alignments
   its predictions folder saved) on its ``focus`` test utterances: how often the emphasised candidate's attention
   averages more energy than the other's (Wilson interval), how much of each candidate's attention lies inside its
   own true span, and the accuracy where the attention made the emphasised word louder and where not
   (:func:`trained_energy`; all RESULTS pooled, e.g. the three seeds of one ``focus_study.py`` setting).
7. ``--word-probe``: how much of a deciding word's class its own word vector carries: a logistic regression fitted
   per SesI fold on the emotion words' vectors outside the test session, scored on the test session's deciding
   words, seen and unseen (:func:`word_probe`; needs the feature cache, ``--cache``; reads no RESULTS). With
   ``--eq2``, also the same probe on Eq. 2's output t_i in each RESULTS folder's trained model (one per folder).
8. ``--mask-candidates``: the ``focus`` test utterances read again with one candidate's input zeroed at test time
   (the other candidate's word vector, its frames, both, or the emphasised candidate's word vector), split as in 2:
   where the other candidate's meaning enters the decision (:func:`masked_candidates`; needs ``--cache``).
``--model no_ta`` reads another Table V model with Eqs. 6-9 in 2 and 3 instead of TSIN (its folds also give the
test sets of 1), e.g. the folders of ``benchmarks/focus_study.py``, which hold one model each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import EMOTIONS, TSINConfig  # noqa: E402
from tsin_nb.data import DEFAULT_LABEL_MAP, load_corpus, read_synthetic_meta  # noqa: E402
from tsin_nb.features import build_feature_store  # noqa: E402
from tsin_nb.model import pool_frames  # noqa: E402
from tsin_nb.runs import fold_config, fold_dirs, load_outputs, load_trained_fold, mean_intervals, t_half_width  # noqa: E402
from tsin_nb.show import candidate_energy, known_words, word_seen_groups  # noqa: E402
from tsin_nb.train import span_targets, unweighted_accuracy  # noqa: E402

#: The four-cue corpus's cues ("text" is the words cue).
CUES = ("text", "voice", "both", "focus")


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


def _other_class(meta: pd.DataFrame, u: str) -> str:
    """The class of a ``focus`` utterance's other candidate in the 4-class set (an excited word reads as ``hap``)."""
    return DEFAULT_LABEL_MAP[str(meta.at[u, "other_code"])]


def _candidates_seen(meta: pd.DataFrame, u: str, known: set[str]) -> dict[str, bool]:
    """Whether each of ``u``'s two candidates is among the ``known`` words (:func:`tsin_nb.show.known_words`)."""
    return {"emphasised seen": str(meta.at[u, "salient_word"]).lower() in known,
            "other seen": str(meta.at[u, "other_word"]).lower() in known}


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
                             "prediction: the other word's class": pred == _other_class(meta, u)})
    df = pd.DataFrame(rows)
    shares = 100 * df.drop(columns=WEIGHT_RATIO).mean()  # % of the utterances
    return pd.concat([shares, pd.Series({WEIGHT_RATIO: df[WEIGHT_RATIO].median()})])


def eq9_by_seen(results: list[Path], meta: pd.DataFrame, model: str = "tsin") -> pd.DataFrame:
    """Section 2, split by whether each of the two candidates was read in training (as :func:`seen_table` splits).

    One row per (emphasised candidate seen, other candidate seen): the number of ``focus`` test utterances over all
    RESULTS, the accuracy, the share predicted as the other candidate's class and the share where the text-side
    Eq. 9 weight is larger on the emphasised candidate (%). A seen other candidate that wins although Eq. 9 ranks
    the emphasised one first is a word read from memory outweighing a word read from its meaning.
    """
    rows = []
    for res in results:
        for fold in range(len(fold_dirs(res, "SesI", model))):
            o = load_outputs(res, "SesI", model, fold)
            known = known_words(meta, set(o["ids"]))
            w = o.get("text_weights")
            for k, u in enumerate(o["ids"]):
                if u not in meta.index or meta.at[u, "cue"] != "focus":
                    continue
                s, t = int(meta.at[u, "salient_index"]), int(meta.at[u, "other_index"])
                rows.append({**_candidates_seen(meta, u, known),
                             "accuracy": int(o["preds"][k]) == int(o["labels"][k]),
                             "other candidate's class": EMOTIONS[int(o["preds"][k])] == _other_class(meta, u),
                             "Eq. 9 weight larger on the emphasised": w[k][s] > w[k][t] if w is not None else np.nan})
    df = pd.DataFrame(rows)
    out = 100 * df.groupby(["emphasised seen", "other seen"]).mean()
    return pd.concat([df.groupby(["emphasised seen", "other seen"]).size().rename("n"), out.round(1)], axis=1)


def _trained_folds(root: Path, results: Path, cache: Path, model_name: str = "tsin"):
    """Each SesI fold of ``results``: its feature store, the model loaded from its checkpoint, the words' spans
    (None unless the model reads them) and the fold's test utterance ids."""
    corpus = load_corpus(root, progress=False)
    for fd in fold_dirs(results, "SesI", model_name):
        cfg, store, model = load_trained_fold(corpus, fd, cache, model_name)
        spans = span_targets(store, cfg.speech_stride) if model.needs_spans else None  # cfg.ta_spans
        test = set(pd.read_csv(fd / "predictions.csv", dtype={"utt_id": str})["utt_id"])
        yield fd, store, model, spans, test


def _logits(model: Any, store: Any, spans: Any, ids: list[str], zero_text: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Class logits and true classes of ``ids``; ``zero_text`` zeroes every word vector, as the text dropout does."""
    r = store.index(ids)
    text = torch.zeros_like(store.text[r]) if zero_text else store.text[r]
    with torch.no_grad():
        o = model(store.speech[r], store.speech_mask[r], text, store.text_mask[r],
                  **({} if spans is None else {"spans": spans[r]}))
    return o.logits, store.labels[r]


def fit_table(root: Path, results: Path, meta: pd.DataFrame, cache: Path, model_name: str = "tsin",
              zero_text: bool = False) -> pd.DataFrame:
    """Section 3: accuracy per cue on each fold's training and test utterances (``zero_text``: their words zeroed)."""
    rows = []
    for fd, store, model, spans, test in _trained_folds(root, results, cache, model_name):
        row = {"fold": fd.name}
        for cue in CUES:
            for part in ("train", "test"):
                ids = [u for u in meta.index[meta["cue"] == cue] if (u in test) == (part == "test") and u in store.ids]
                logits, true = _logits(model, store, spans, ids, zero_text=zero_text)
                row[f"{cue} {part}"] = round(100 * float((logits.argmax(1) == true).float().mean()), 1)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("fold")
    out.loc["mean"] = out.mean().round(1)
    return out


def text_zeroed_table(root: Path, results: list[Path], meta: pd.DataFrame, cache: Path, model_name: str = "tsin",
                      mixes: tuple[float, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Section 5: each cue's test accuracy as given, with the text zeroed, and for each w of ``mixes`` with the
    class probabilities mixed, w p(speech, words) + (1 - w) p(speech, zeroed words); then each way minus "as
    given" on the same utterances, and the ``voice`` test utterances' confusion (rows true, columns predicted,
    % of the row) as given and with the text zeroed.

    "all" is UA over every test utterance, a cue's row WA over its utterances. Accuracy is a mean over the
    (fold, seed) units with a 95 % t half-width, a difference a paired 95 % t interval (``scipy.stats.ttest_rel``,
    as :func:`tsin_nb.runs.paired_difference`); the confusion pools every unit's utterances.
    """
    ways = ["as given", "text zeroed"] + [f"mix {w:g}" for w in mixes]
    acc: dict[tuple[str, str], list[float]] = {}
    pairs: dict[str, list[tuple[int, int]]] = {"as given": [], "text zeroed": []}
    cue_of = meta["cue"]
    for res in results:
        for _, store, model, spans, test in _trained_folds(root, res, cache, model_name):
            ids = [u for u in store.ids if u in test]
            given, true = _logits(model, store, spans, ids)
            zeroed, _ = _logits(model, store, spans, ids, zero_text=True)
            probs = {"as given": given.softmax(1), "text zeroed": zeroed.softmax(1)}
            for w in mixes:
                probs[f"mix {w:g}"] = w * probs["as given"] + (1 - w) * probs["text zeroed"]
            cues = cue_of.reindex(ids).to_numpy()
            for way, p in probs.items():
                pred = p.argmax(1)
                acc.setdefault(("all", way), []).append(100 * unweighted_accuracy(true.numpy(), pred.numpy()))
                for cue in CUES:
                    keep = torch.from_numpy(cues == cue)
                    acc.setdefault((cue, way), []).append(100 * float((pred[keep] == true[keep]).float().mean()))
                if way in pairs:
                    keep = torch.from_numpy(cues == "voice")
                    pairs[way] += list(zip(true[keep].tolist(), pred[keep].tolist()))
    means, diffs = [], []
    for cue in (*CUES, "all"):
        x = {way: np.array(acc[(cue, way)]) for way in ways}
        means.append({"cue": cue, **{way: f"{v.mean():.1f} ± {t_half_width(v):.1f}" for way, v in x.items()}})
        row = {"cue": cue}
        for way in ways[1:]:
            ci = stats.ttest_rel(x[way], x["as given"]).confidence_interval(0.95)
            row[way] = f"{(x[way] - x['as given']).mean():+.1f} [{ci.low:+.1f}, {ci.high:+.1f}]"
        diffs.append(row)
    confusion = {}
    for way, p in pairs.items():
        t = pd.crosstab(pd.Series([EMOTIONS[a] for a, _ in p], name="true"),
                        pd.Series([EMOTIONS[b] for _, b in p], name="predicted"), normalize="index")
        confusion[way] = (100 * t).round(1)
    return (pd.DataFrame(means).set_index("cue"), pd.DataFrame(diffs).set_index("cue"),
            pd.concat(confusion, axis=1).fillna(0.0))


def energy_table(root: Path, meta: pd.DataFrame, cache: Path) -> pd.DataFrame:
    """Section 4 (:func:`tsin_nb.show.candidate_energy` on the ``cpu`` preset's feature store)."""
    cfg = TSINConfig.preset("cpu")
    store = build_feature_store(load_corpus(root, progress=False), cfg, cache, progress=False)
    return candidate_energy(store, meta, cfg.align_prior).round(1)


def trained_energy(root: Path, results: list[Path], meta: pd.DataFrame, cache: Path, model_name: str = "tsin",
                   confidence: float = 0.95) -> pd.Series:
    """Section 6: what the trained Eq. 4 rows leave of the emphasis, on the ``focus`` test utterances of ``results``.

    Per utterance, the mean energy (the mean over features of the feature store, each pooled frame the mean of
    its real frames, as :func:`tsin_nb.show.candidate_energy` reads it) weighted by the saved attention row of
    each candidate: is it larger for the emphasised one (with a Wilson interval over the utterances)? Beside it,
    the mean attention mass inside each candidate's own true span, and the accuracy on the utterances where the
    attention made the emphasised word louder and where it did not. All RESULTS folders are pooled.
    """
    from scipy.stats import binomtest

    corpus = load_corpus(root, progress=False)
    read: dict[TSINConfig, tuple[Any, torch.Tensor, torch.Tensor]] = {}  # one feature store per config, not per fold
    rows = []
    for res in results:
        for fold, fd in enumerate(fold_dirs(res, "SesI", model_name)):
            cfg = fold_config(fd)
            if cfg.replace(seed=0) not in read:
                store = build_feature_store(corpus, cfg, cache, progress=False)
                energy = store.speech.mean(dim=-1, keepdim=True)  # (U, N_in, 1)
                pooled = pool_frames(energy, store.speech_mask.bool(), cfg.speech_stride)[0][..., 0]  # (U, N)
                read[cfg.replace(seed=0)] = store, pooled, span_targets(store, cfg.speech_stride).float()
            store, pooled, spans = read[cfg.replace(seed=0)]  # (U, N), (U, M, N)
            o = load_outputs(res, "SesI", model_name, fold)
            if o.get("alignments") is None:
                raise ValueError(f"{fd} saved no alignment: {model_name} has no Eq. 4")
            for k, u in enumerate(o["ids"]):
                if u not in meta.index or meta.at[u, "cue"] != "focus":
                    continue
                s, t = int(meta.at[u, "salient_index"]), int(meta.at[u, "other_index"])
                r = int(store.index([u])[0])
                A = torch.as_tensor(o["alignments"][k]).float()  # (M, N)
                n = min(A.shape[1], pooled.shape[1])
                mass = A[:, :n].sum(-1).clamp(min=1e-9)  # (M,)
                mean = (A[:, :n] * pooled[r, :n]).sum(-1) / mass  # (M,)
                inside = (A[:, :n] * spans[r, :A.shape[0], :n]).sum(-1) / mass  # (M,)
                rows.append({"louder": bool(mean[s] > mean[t]), "in span, emphasised": float(inside[s]),
                             "in span, other": float(inside[t]),
                             "right": int(o["preds"][k]) == int(o["labels"][k])})
    df = pd.DataFrame(rows)
    louder = int(df["louder"].sum())
    ci = binomtest(louder, len(df)).proportion_ci(confidence, method="wilson")
    return pd.Series({
        "utterances": len(df), "emphasised louder (%)": 100 * louder / len(df),
        "low": 100 * ci.low, "high": 100 * ci.high,
        "attention in own span, emphasised": df["in span, emphasised"].mean(),
        "attention in own span, other": df["in span, other"].mean(),
        "accuracy where louder (%)": 100 * df.loc[df["louder"], "right"].mean(),
        "accuracy where not (%)": 100 * df.loc[~df["louder"], "right"].mean(),
        "accuracy (%)": 100 * df["right"].mean(),
    })


#: Section 8's readings of each ``focus`` test utterance: what is zeroed at test time (nothing, or a candidate's input).
MASKS = ("as given", "other's word vector", "other's frames", "other's word vector and frames", "emphasised's word vector")


def masked_candidates(root: Path, results: list[Path], meta: pd.DataFrame, cache: Path,
                      model_name: str = "tsin") -> pd.DataFrame:
    """Section 8: each trained fold's ``focus`` test utterances read again with one candidate's input zeroed.

    The other candidate's word vector (one row of the text), its frames (its true span in the speech, zero being
    the speaker's mean after the per-speaker standardisation) or both, or the emphasised candidate's word vector.
    Rows: the groups of :func:`eq9_by_seen` and all; columns: accuracy and the share predicted as the other
    candidate's class (%) under each reading, all RESULTS pooled. Zeroing a word at test time is a probe of where
    the other candidate's meaning enters the decision, not a model anyone could run.
    """
    rows = []
    for res in results:
        for _, store, model, spans, test in _trained_folds(root, res, cache, model_name):
            ids = [u for u in sorted(test) if u in meta.index and meta.at[u, "cue"] == "focus"]
            known = known_words(meta, test)
            r = store.index(ids)
            emph = [int(meta.at[u, "salient_index"]) for u in ids]
            other = [int(meta.at[u, "other_index"]) for u in ids]
            text_o, text_e, speech_o = store.text[r].clone(), store.text[r].clone(), store.speech[r].clone()
            for k, (i, j, e) in enumerate(zip(r.tolist(), other, emph)):
                text_o[k, j] = 0.0
                text_e[k, e] = 0.0
                if store.word_frames[i] is None:
                    raise ValueError(f"{store.ids[i]}: no word timings, so its candidate's frames are unknown")
                a, b = store.word_frames[i][j]
                speech_o[k, a:b] = 0.0
            readings = dict(zip(MASKS, ((store.speech[r], store.text[r]), (store.speech[r], text_o), (speech_o, store.text[r]),
                                        (speech_o, text_o), (store.speech[r], text_e))))
            kw = {} if spans is None else {"spans": spans[r]}
            labels = store.labels[r].numpy()
            for name, (speech, text) in readings.items():
                with torch.no_grad():
                    preds = model(speech, store.speech_mask[r], text, store.text_mask[r], **kw).logits.argmax(1).numpy()
                for k, u in enumerate(ids):
                    rows.append({**_candidates_seen(meta, u, known), "reading": name, "right": preds[k] == labels[k],
                                 "other's class": EMOTIONS[preds[k]] == _other_class(meta, u)})
    df = pd.DataFrame(rows)
    keys = ["emphasised seen", "other seen"]
    split = df.groupby([*keys, "reading"])[["right", "other's class"]].mean()
    every = df.groupby("reading")[["right", "other's class"]].mean()
    every.index = pd.MultiIndex.from_tuples([("all", "all", m) for m in every.index], names=[*keys, "reading"])
    out = (100 * pd.concat([split, every])).round(1).unstack("reading")
    return out.reindex(columns=[(c, m) for c in ("right", "other's class") for m in MASKS])


def _eq2_outputs(root: Path, results: Path, meta: pd.DataFrame, cache: Path,
                 model_name: str = "tsin") -> dict[str, tuple[dict[str, int], torch.Tensor]]:
    """Per test session of ``results``' SesI folds: (utterance id -> row, Eq. 2's output t_i (U, M, D) of that
    fold's trained model for every utterance of the store)."""
    out = {}
    for _, store, model, _, test in _trained_folds(root, results, cache, model_name):
        with torch.no_grad():
            T = model.text_encoder(store.text, store.text_mask.bool())  # (U, M, D): padded words are zeroed inside
        for session in set(meta.loc[sorted(test), "session"].astype(str)):
            out[session] = ({u: i for i, u in enumerate(store.ids)}, T)
    return out


def word_probe(root: Path, meta: pd.DataFrame, cache: Path, results: Path | None = None,
               model_name: str = "tsin") -> pd.DataFrame:
    """Section 7: how much of an emotion word's class its own word vector carries, read by a linear probe.

    For each SesI fold (one session held out) a logistic regression (the linear baselines' ``LogisticRegressionCV``,
    its L2 strength chosen by 5-fold cross-validation on the training part) is fitted on the vectors of every emotion word
    outside the test session, one row per occurrence: the emotion word of a ``text`` or ``both`` utterance with
    its label, and both candidates of a ``focus`` utterance, each with its own class. It then classifies the
    test session's deciding words, the emotion word of a ``text`` utterance and the emphasised candidate of a
    ``focus`` one, split seen / unseen as :func:`tsin_nb.show.word_seen_groups` splits them. The ``focus`` rows
    are what a model would reach if it found the emphasised word every time and read it as well as the probe
    does. Accuracy (%) per group: mean and 95 % t half-width over the 5 folds, and pooled over the utterances.

    ``results`` (a results folder of ``model_name``, e.g. one training seed of ``focus_study.py``): the probe
    reads each word's t_i, Eq. 2's output in the trained model of the fold that holds out the probe's test
    session, instead of its word vector. Eq. 2 with kernel 1 is a linear map of the vector, so this can only
    lose what the vector carries: how much of a new word's class survives into what Eqs. 3-11 read.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from tsin_nb.train import C_GRID

    cfg = TSINConfig.preset("cpu")
    store = build_feature_store(load_corpus(root, progress=False), cfg, cache, progress=False)
    pos = {u: i for i, u in enumerate(store.ids)}
    classes = {e: k for k, e in enumerate(EMOTIONS)}
    rows = []  # (utt_id, session, word index, word, class, deciding)
    for u, r in meta.loc[[u for u in meta.index if u in pos]].iterrows():
        if r["cue"] in ("text", "both"):
            rows.append((u, r["session"], int(r["salient_index"]), r["emotion_word"], r["label_code"], r["cue"] == "text"))
        elif r["cue"] == "focus":
            rows.append((u, r["session"], int(r["salient_index"]), r["salient_word"], r["label_code"], True))
            rows.append((u, r["session"], int(r["other_index"]), r["other_word"], r["other_code"], False))
    df = pd.DataFrame(rows, columns=["utt_id", "session", "index", "word", "code", "deciding"])
    for r in df.itertuples():
        read = store.words[pos[r.utt_id]][r.index]
        if read.lower() != str(r.word).lower():
            raise ValueError(f"{r.utt_id}: word {r.index} of the feature store is {read!r}, the corpus says {r.word!r}")
    X = np.stack([store.text[pos[r.utt_id], r.index].numpy() for r in df.itertuples()])
    y = np.array([classes[DEFAULT_LABEL_MAP[str(c)]] for c in df["code"]])
    eq2 = None if results is None else _eq2_outputs(root, results, meta, cache, model_name)
    per_fold, pooled = [], {}
    for session in sorted(df["session"].unique()):
        if eq2 is not None:
            if str(session) not in eq2:
                raise ValueError(f"{results} has no finished SesI fold of {model_name} holding out {session}")
            rows_of, T = eq2[str(session)]
            X = np.stack([T[rows_of[r.utt_id], r.index].numpy() for r in df.itertuples()])
        train = (df["session"] != session).to_numpy()
        test_ids = set(meta.index[meta["session"] == session]) & set(pos)
        groups = word_seen_groups(meta, [test_ids])
        clf = make_pipeline(StandardScaler(), LogisticRegressionCV(  # as the linear baselines (tsin_nb.train.baselines)
            Cs=list(C_GRID), cv=5, scoring="neg_log_loss", l1_ratios=(0.0,), max_iter=3000, use_legacy_attributes=False))
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            right = clf.fit(X[train], y[train]).predict(X) == y
        test = df[~train & df["deciding"].to_numpy()]
        for name, ids in groups.items():
            hit = right[test.index[test["utt_id"].isin(ids)]]
            per_fold.append({"group": name, "fold": session, "acc": 100 * hit.mean()})
            pooled.setdefault(name, []).extend(hit)
    folds = pd.DataFrame(per_fold)
    out = []
    for name, g in folds.groupby("group", sort=False):
        half = t_half_width(g["acc"])
        out.append({"group": name, "n": len(pooled[name]), "mean over folds": round(g["acc"].mean(), 1),
                    "half-width": round(half, 1), "pooled": round(100 * np.mean(pooled[name]), 1)})
    return pd.DataFrame(out).set_index("group")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--variants", default="tsin,no_ta,no_si,text,speech,lin_fusion,lin_text")
    ap.add_argument("--fit", action="store_true", help="also score TSIN on its training utterances (first RESULTS)")
    ap.add_argument("--model", default="tsin", help="the model read in place of TSIN (its folds give the test sets)")
    ap.add_argument("--cache", type=Path, default=Path("build/cache"))
    ap.add_argument("--energy", action="store_true", help="only section 4: the candidates' energy per alignment")
    ap.add_argument("--text-zeroed", action="store_true",
                    help="only section 5: each cue's test accuracy with the text zeroed, and the voice confusion")
    ap.add_argument("--mix", default="", help="with --text-zeroed: comma-separated weights w of the words-present "
                                              "probabilities, mixed with the text-zeroed ones (e.g. 0.7,0.5,0.3)")
    ap.add_argument("--trained-energy", action="store_true",
                    help="only section 6: the candidates' energy read through the trained Eq. 4 rows (all RESULTS pooled)")
    ap.add_argument("--mask-candidates", action="store_true",
                    help="only section 8: focus test utterances read with one candidate's input zeroed (all RESULTS pooled)")
    ap.add_argument("--word-probe", action="store_true",
                    help="only section 7: a linear probe's reading of the deciding words from their own vectors")
    ap.add_argument("--eq2", action="store_true",
                    help="with --word-probe: the same probe on Eq. 2's output in each RESULTS folder's trained folds")
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
    if args.mask_candidates:
        print(f"{args.model} on focus test utterances, one candidate's input zeroed at test time (%):")
        print(masked_candidates(args.corpus, args.results, meta, args.cache, args.model).to_string())
        return
    if args.word_probe:
        print("A linear probe on each deciding word's own vector (accuracy %, SesI folds; reads no RESULTS):")
        print(word_probe(args.corpus, meta, args.cache).to_string())
        if args.eq2:
            for res in args.results:
                print(f"\nThe same probe on Eq. 2's output t_i of {args.model} in {res}:")
                print(word_probe(args.corpus, meta, args.cache, res, args.model).to_string())
        return
    if args.trained_energy:
        print(f"{args.model} on focus test utterances: the emphasised candidate louder through the trained Eq. 4 rows:")
        print(trained_energy(args.corpus, args.results, meta, args.cache, args.model).round(2).to_string())
        return
    if args.text_zeroed:
        mixes = tuple(float(w) for w in args.mix.split(",") if w)
        if any(not 0 <= w <= 1 for w in mixes):
            ap.error(f"--mix weights must lie in [0, 1], got {args.mix!r}")
        means, diffs, confusion = text_zeroed_table(args.corpus, args.results, meta, args.cache, args.model, mixes)
        print(f"{args.model} accuracy (%) on its test utterances (cues WA, all UA; mean ± 95 % t half-width):")
        print(means.to_string(), "\n")
        print("minus as given, paired 95 % t interval over the units:")
        print(diffs.to_string(), "\n")
        print("voice test utterances, % of each true class (all units pooled):")
        print(confusion.to_string())
        if args.fit:
            print(f"\n{args.model} accuracy (%) on training against test utterances, per cue, the words zeroed "
                  f"({args.results[0].name}):")
            print(fit_table(args.corpus, args.results[0], meta, args.cache, args.model, zero_text=True).to_string())
        return
    print("Accuracy (%) by whether the deciding word was read in training; mean ± 95 % t half-width over units:")
    print(seen_table(args.results, meta, variants, args.model).to_string(), "\n", flush=True)
    print(f"{args.model} on focus test utterances (% of them):")
    print(eq9_choice(args.results, meta, args.model).round(1).to_string(), "\n", flush=True)
    print(f"{args.model} on focus test utterances, by whether each candidate was read in training (%):")
    print(eq9_by_seen(args.results, meta, args.model).to_string(), "\n", flush=True)
    if args.fit:
        print(f"{args.model} accuracy (%) on training against test utterances, per cue ({args.results[0].name}):")
        print(fit_table(args.corpus, args.results[0], meta, args.cache, args.model).to_string())


if __name__ == "__main__":
    main()
