"""The "What this shows" notes of the result notebooks (06-09), as facts and as sentences.

As in :mod:`tsin_nb.show.notes`: ``X_facts(...)`` gives numbers and verdict words from the run's results and
settings, ``X_text(...)`` renders them in one to three sentences; fixed context is in the notebooks' markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsin_nb.core import EMOTIONS
from tsin_nb.show.notes import VERDICT_WORDS, compare, label


def embeddings_facts(means: Mapping[str, float], failed: Mapping[str, tuple[int, int]],
                     settings: Mapping[str, Any]) -> dict[str, Any]:
    """Fig. 4: mean UA (%) per word-vector kind, the best kind, the kinds that did not train in some folds
    (``{name: (failed, folds)}``), and whether the run's own pretrained text model (``settings["text_model"]``)
    is the best (None when it was not among the kinds run), as the paper's pretrained BERT is."""
    best = max(means, key=lambda k: means[k])
    text_model = settings.get("text_model")
    return {"uas": {k: float(v) for k, v in means.items()}, "best": best, "best_ua": float(means[best]),
            "did_not_train": {k: (int(b), int(n)) for k, (b, n) in failed.items() if b},
            "text_model": text_model, "text_model_best": (best == text_model) if text_model in means else None}


def embeddings_text(means: Mapping[str, float], failed: Mapping[str, tuple[int, int]],
                    settings: Mapping[str, Any]) -> str:
    """The note under Fig. 4, rendered from :func:`embeddings_facts`."""
    f = embeddings_facts(means, failed, settings)
    others = ", ".join(f"{k} {v:.1f} %" for k, v in f["uas"].items() if k != f["best"])
    lines = [f"**What this shows.** Best word vectors: **{f['best']}** (UA {f['best_ua']:.1f} %)"
             + (f"; {others}." if others else ".")]
    if f["did_not_train"]:
        lines.append("Did not train (UA at chance, loss flat): "
                     + ", ".join(f"{k} in {b} of {n} folds" for k, (b, n) in f["did_not_train"].items()) + ".")
    if f["text_model_best"] is not None:
        lines.append(f"The run's pretrained encoder, {f['text_model']}, is "
                     + ("the best, as BERT is in the paper." if f["text_model_best"] else
                        "not the best; in the paper BERT is."))
    return " ".join(lines)


def silhouette_facts(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Figs. 5-7: per protocol the silhouettes (mean over folds) from best to worst, and whether TSIN's is the
    highest (the paper reads its figures so)."""
    facts = {}
    for protocol, g in table.groupby("protocol", sort=False):
        s = g.set_index("variant")["silhouette"].astype(float).sort_values(ascending=False)
        facts[str(protocol)] = {"silhouettes": {str(v): float(x) for v, x in s.items()},
                                "best": str(s.index[0]), "tsin_best": s.index[0] == "tsin" if "tsin" in s else None}
    return facts


def silhouette_text(table: pd.DataFrame) -> str:
    """The note under the silhouette table, rendered from :func:`silhouette_facts`."""
    lines = ["**What this shows** (silhouette of the test embeddings, mean over folds)."]
    for protocol, p in silhouette_facts(table).items():
        verdict = "" if p["tsin_best"] is None else ("; TSIN's are the clearest." if p["tsin_best"] else
                                                      "; TSIN's are not the clearest.")
        lines.append(f"- {protocol}: " + " > ".join(f"{label(v)} {x:.2f}" for v, x in p["silhouettes"].items())
                     + verdict)
    return "\n".join(lines)


def confusion_facts(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS) -> dict[str, dict[str, Any]]:
    """Fig. 3: per matrix (rows true, columns predicted; counts) the best and worst recalled class with their
    recall (%) and the most frequent confusion with its share of the true class (%)."""
    facts = {}
    for name, cm in cms.items():
        cm = np.asarray(cm, dtype=float)
        recall = np.divide(np.diag(cm), cm.sum(1), out=np.zeros(len(cm)), where=cm.sum(1) > 0)
        off = cm.copy()
        np.fill_diagonal(off, 0)
        i, j = np.unravel_index(np.argmax(off), off.shape)
        facts[name] = {"best": labels[int(np.argmax(recall))], "best_recall": 100 * float(recall.max()),
                       "worst": labels[int(np.argmin(recall))], "worst_recall": 100 * float(recall.min()),
                       "confused": labels[int(i)], "taken_for": labels[int(j)],
                       "confused_share": 100 * float(off[i, j] / cm[i].sum()) if cm[i].sum() else 0.0}
    return facts


def confusion_text(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS) -> str:
    """The note under Fig. 3, rendered from :func:`confusion_facts`."""
    lines = ["**What this shows.**"]
    for name, c in confusion_facts(cms, labels).items():
        lines.append(f"- {name}: best recalled {c['best']} ({c['best_recall']:.0f} %), worst {c['worst']} "
                     f"({c['worst_recall']:.0f} %); most frequent error {c['confused']} taken for {c['taken_for']} "
                     f"({c['confused_share']:.0f} % of {c['confused']}).")
    return "\n".join(lines)


def alignment_facts(overall: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per row: attention inside the true word span and a uniform spread's share (%), their ratio, and the verdict
    ``above`` (ratio over 1.1), ``level`` (0.9-1.1) or ``below`` chance."""
    facts = {}
    for name, row in overall.iterrows():
        ratio = float(row["ratio"])
        facts[str(name)] = {"in_span": 100 * float(row["mass_in_span"]), "uniform": 100 * float(row["uniform_share"]),
                            "ratio": ratio, "verdict": "above" if ratio > 1.1 else "level" if ratio >= 0.9 else "below"}
    return facts


def alignment_text(overall: pd.DataFrame) -> str:
    """The note under the alignment table, rendered from :func:`alignment_facts`."""
    lines = ["**What this shows** (ratio = attention in span / uniform share; 1 is chance)."]
    for name, a in alignment_facts(overall).items():
        lines.append(f"- {label(name)}: {a['in_span']:.1f} % in span against {a['uniform']:.1f} % uniform, ratio "
                     f"{a['ratio']:.2f}: {VERDICT_WORDS[a['verdict']]} chance.")
    return "\n".join(lines)


def salient_facts(hits: Sequence[bool], chance: Sequence[float]) -> dict[str, Any]:
    """How often the largest text-side weight falls on the salient word (%), the chance rate (%) and the verdict
    (within 2 points: ``level``); ``verdict`` is ``n/a`` without utterances."""
    if not len(hits):
        return {"n": 0, "rate": float("nan"), "chance": float("nan"), "verdict": "n/a"}
    rate, base = 100 * float(np.mean(hits)), 100 * float(np.mean(chance))
    return {"n": len(hits), "rate": rate, "chance": base, "verdict": compare(rate, base, level=2.0)}


def salient_text(hits: Sequence[bool], chance: Sequence[float]) -> str:
    """The note under the salient-word count, rendered from :func:`salient_facts`."""
    f = salient_facts(hits, chance)
    if not f["n"]:
        return "**What this shows.** No test utterance with a known salient word."
    return (f"**What this shows.** The largest text-side weight (Eq. 8) falls on the salient word in {f['rate']:.1f} % "
            f"of {f['n']} test utterances: {VERDICT_WORDS[f['verdict']]} chance ({f['chance']:.1f} %).")


def cue_facts(table: pd.DataFrame) -> dict[str, Any]:
    """Per-cue accuracy (%): per model its best and worst cue; and, with Speech, Text and TSIN, TSIN's accuracy on
    the words against Text's and on the voice against Speech's, with verdicts."""
    rows = {}
    for variant, row in table.iterrows():
        vals = row.drop(labels=[c for c in row.index if c == "all"]).astype(float)
        if vals.isna().all():
            continue
        rows[str(variant)] = {"best": str(vals.idxmax()), "best_acc": float(vals.max()),
                              "worst": str(vals.idxmin()), "worst_acc": float(vals.min())}
    f: dict[str, Any] = {"rows": rows}
    if {"speech", "text", "tsin"} <= set(table.index) and {"words", "voice"} <= set(table.columns):
        t = table.loc["tsin"]
        f["fused"] = {"tsin_words": float(t["words"]), "text_words": float(table.loc["text", "words"]),
                      "tsin_voice": float(t["voice"]), "speech_voice": float(table.loc["speech", "voice"]),
                      "text_voice": float(table.loc["text", "voice"])}
        f["fused"]["words_verdict"] = compare(f["fused"]["tsin_words"], f["fused"]["text_words"], level=2.0)
        f["fused"]["voice_verdict"] = compare(f["fused"]["tsin_voice"], f["fused"]["speech_voice"], level=2.0)
    return f


def cue_text(table: pd.DataFrame) -> str:
    """The note under the per-cue table, rendered from :func:`cue_facts`."""
    f = cue_facts(table)
    lines = ["**What this shows** (accuracy on test utterances whose emotion is carried by ...)."]
    for v, r in f["rows"].items():
        lines.append(f"- {label(v)}: best on *{r['best']}* ({r['best_acc']:.0f} %), worst on *{r['worst']}* "
                     f"({r['worst_acc']:.0f} %).")
    if "fused" in f:
        u = f["fused"]
        lines.append(f"TSIN on words {u['tsin_words']:.0f} % ({VERDICT_WORDS[u['words_verdict']]} Text's "
                     f"{u['text_words']:.0f} %), on voice {u['tsin_voice']:.0f} % "
                     f"({VERDICT_WORDS[u['voice_verdict']]} Speech's {u['speech_voice']:.0f} %; Text "
                     f"{u['text_voice']:.0f} %).")
    return "\n".join(lines)
