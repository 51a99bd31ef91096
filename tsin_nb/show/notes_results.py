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
from tsin_nb.show.notes import INTERVAL_VERDICTS, VERDICT_WORDS, compare, label


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
        folds = int(g["folds"].min()) if "folds" in g else None
        facts[str(protocol)] = {"silhouettes": {str(v): float(x) for v, x in s.items()}, "folds": folds,
                                "best": str(s.index[0]), "tsin_best": s.index[0] == "tsin" if "tsin" in s else None}
    return facts


def silhouette_text(table: pd.DataFrame) -> str:
    """The note under the silhouette table, rendered from :func:`silhouette_facts`."""
    lines = ["**What this shows** (silhouette of the test embeddings, mean over the folds each protocol ran)."]
    for protocol, p in silhouette_facts(table).items():
        verdict = "" if p["tsin_best"] is None else ("; TSIN's are the clearest" if p["tsin_best"] else
                                                      "; TSIN's are not the clearest")
        n = "" if p["folds"] is None else (f" ({p['folds']} fold{'s' if p['folds'] != 1 else ''}"
                                           + (": one fold is one sample, not a mean)" if p["folds"] == 1 else ")"))
        lines.append(f"- {protocol}{n}: " + " > ".join(f"{label(v)} {x:.2f}" for v, x in p["silhouettes"].items())
                     + verdict + ".")
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
        present = cm.sum(1) > 0  # classes with test utterances
        facts[name] = {"best": labels[int(np.argmax(recall))], "best_recall": 100 * float(recall.max()),
                       "worst": labels[int(np.argmin(np.where(present, recall, np.inf)))],
                       "worst_recall": 100 * float(recall[present].min()) if present.any() else 0.0,
                       "errors": int(off.sum()), "confused": labels[int(i)], "taken_for": labels[int(j)],
                       "confused_share": 100 * float(off[i, j] / cm[i].sum()) if cm[i].sum() else 0.0}
    return facts


def confusion_text(cms: Mapping[str, np.ndarray], labels: Sequence[str] = EMOTIONS) -> str:
    """The note under Fig. 3, rendered from :func:`confusion_facts`."""
    lines = ["**What this shows.**"]
    for name, c in confusion_facts(cms, labels).items():
        if not c["errors"]:
            lines.append(f"- {name}: no errors; every test utterance is recognised.")
            continue
        recalls = (f"every class recalled at {c['best_recall']:.0f} %" if c["best_recall"] == c["worst_recall"] else
                   f"best recalled {c['best']} ({c['best_recall']:.0f} %), worst {c['worst']} ({c['worst_recall']:.0f} %)")
        lines.append(f"- {name}: {recalls}; most frequent error {c['confused']} taken for {c['taken_for']} "
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
    facts = {k: a for k, a in alignment_facts(overall).items() if np.isfinite(a["ratio"])}
    if not facts:
        return ("**What this shows.** Nothing about placement: this corpus has no word timings, so no attention can be "
                "checked against the true word spans.")
    lines = ["**What this shows** (ratio = attention in span / uniform share; 1 is chance)."]
    for name, a in facts.items():
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


def cue_facts(table: pd.DataFrame, comparisons: pd.DataFrame | None = None) -> dict[str, Any]:
    """Per-cue accuracy (%): per model its best and worst cue; and, with Speech, Text and TSIN, TSIN's accuracy on
    the words against Text's and on the voice against Speech's, with verdicts.

    ``comparisons`` (``cue_comparisons``: TSIN minus each model per cue, paired 95 % intervals) adds ``paired``:
    per cue, per model, the difference, its interval and the verdict (``level`` when the interval holds 0); the
    words / voice verdicts then come from those intervals.
    """
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
    if comparisons is not None and len(comparisons):
        paired: dict[str, dict[str, Any]] = {}
        for _, c in comparisons.iterrows():
            paired.setdefault(str(c["subset"]), {})[str(c["b"])] = {
                "diff": float(c["mean"]), "low": float(c["low"]), "high": float(c["high"]),
                "tsin": float(c["mean_a"]), "other": float(c["mean_b"]), "n_units": int(c["n_units"]),
                "verdict": INTERVAL_VERDICTS[str(c["verdict"])]}
        f["paired"] = paired
        if "fused" in f:
            if "text" in paired.get("words", {}):
                f["fused"]["words_verdict"] = paired["words"]["text"]["verdict"]
            if "speech" in paired.get("voice", {}):
                f["fused"]["voice_verdict"] = paired["voice"]["speech"]["verdict"]
    return f


def cue_text(table: pd.DataFrame, comparisons: pd.DataFrame | None = None) -> str:
    """The note under the per-cue table, rendered from :func:`cue_facts`."""
    f = cue_facts(table, comparisons)
    if "paired" in f:
        lines = ["**What this shows** (accuracy on the test utterances of each cue; TSIN minus each model on the "
                 "same utterances, paired 95 % interval over folds x seeds; \"level with\" when it holds 0)."]
        for cue, others in f["paired"].items():
            tsin = next(iter(others.values()))["tsin"]
            lines.append(f"- *{cue}*: TSIN {tsin:.0f} %; " + "; ".join(
                f"{VERDICT_WORDS[o['verdict']]} {label(v)} {o['other']:.0f} % ({o['diff']:+.1f} "
                f"[{o['low']:+.1f}, {o['high']:+.1f}])" for v, o in others.items()) + ".")
        return "\n".join(lines)
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


def _pays_off(local: str | None, global_: str | None) -> str:
    """How an idea's verdict on the local cue and on the global one reads as one clause."""
    if local is None:
        return "could not be compared on the local cue"
    if local == "above":
        return ("pays off where the evidence is local and not where it is global" if global_ in ("level", "below")
                else "pays off where the evidence is local, and also where it is global" if global_ == "above"
                else "pays off where the evidence is local")
    if local == "level":
        return "makes no measurable difference on this run, even where the evidence is local"
    return "costs accuracy on this run even where the evidence is local"


def focus_facts(cue_facts_paired: Mapping[str, Mapping[str, Mapping[str, Any]]],
                local: str = "focus", global_: str = "voice") -> dict[str, Any]:
    """When TSIN's ideas matter: TSIN minus w/o TA (temporal alignment) and minus w/o SI (semantic interaction) on
    the ``local`` cue (which word was emphasised) and on the ``global`` cue (the whole utterance's prosody), and
    TSIN, Linear fusion and Text on the local cue; each with its paired interval (``cue_facts(...)["paired"]``)."""
    loc, glo = cue_facts_paired.get(local, {}), cue_facts_paired.get(global_, {})
    f: dict[str, Any] = {"local": local, "global": global_}
    for idea, variant in (("ta", "no_ta"), ("si", "no_si")):
        f[idea] = {"local": dict(loc[variant]) if variant in loc else None,
                   "global": dict(glo[variant]) if variant in glo else None}
        f[idea]["reading"] = _pays_off(loc[variant]["verdict"] if variant in loc else None,
                                       glo[variant]["verdict"] if variant in glo else None)
    f["baselines"] = {v: dict(loc[v]) for v in ("lin_fusion", "text", "lin_text") if v in loc}
    f["tsin_local"] = next(iter(loc.values()))["tsin"] if loc else None
    return f


def focus_text(cue_facts_paired: Mapping[str, Mapping[str, Mapping[str, Any]]],
               local: str = "focus", global_: str = "voice") -> str:
    """The note that closes notebook 10, rendered from :func:`focus_facts`."""
    f = focus_facts(cue_facts_paired, local, global_)
    if f["tsin_local"] is None:
        return f"**What this says.** No result on *{local}* utterances."

    def diff(r: Mapping[str, Any] | None) -> str:
        return "not run" if r is None else (f"{VERDICT_WORDS[r['verdict']]} it, {r['diff']:+.1f} points "
                                            f"[{r['low']:+.1f}, {r['high']:+.1f}]")

    lines = [f"**What this says.** On *{local}* utterances TSIN is right in {f['tsin_local']:.0f} %."]
    if f["baselines"]:
        lines.append("Models that read utterance averages or the words alone: " + ", ".join(
            f"{label(v)} {r['other']:.0f} %" for v, r in f["baselines"].items())
            + " (choosing one of the two named emotions at random gives 50 %).")
    for idea, name, variant in (("ta", "Temporal alignment", "no_ta"), ("si", "Semantic interaction", "no_si")):
        g = f[idea]
        lines.append(f"{name} (TSIN against {label(variant)}): on *{local}* TSIN is {diff(g['local'])}; on "
                     f"*{global_}* {diff(g['global'])}. It {g['reading']}.")
    return " ".join(lines)


def pointer_facts(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per row of ``salient_pointers``: the weights' hit rate and interval, the best trivial rule and its rate,
    and the verdict ``above`` / ``below`` (the rule's rate outside the weights' interval) or ``level``."""
    from tsin_nb.show.diagnostics import POINTER_RULES

    facts = {}
    for cue, row in table.iterrows():
        best = max(POINTER_RULES, key=lambda rule: float(row[rule]))
        rate, low, high = float(row["weights %"]), float(row["low"]), float(row["high"])
        verdict = "above" if low > row[best] else "below" if high < row[best] else "level"
        facts[str(cue)] = {"n": int(row["n"]), "rate": rate, "low": low, "high": high, "rule": best,
                           "rule_rate": float(row[best]), "verdict": verdict}
    return facts


def pointer_text(table: pd.DataFrame) -> str:
    """The note under the salient-word table: does the largest weight beat the best trivial rule, cue by cue?"""
    if table.empty:
        return "**What this shows.** No test utterance with a known salient word."
    words = {"above": "above", "below": "below", "level": "no better than"}
    lines = ["**What this shows** (largest text-side weight of Eq. 8 on the salient word, % of test utterances, "
             "95 % Wilson interval, against the best of: always the last word, always the first, a random word)."]
    for cue, f in pointer_facts(table).items():
        lines.append(f"- {cue} ({f['n']} utterances): {f['rate']:.1f} % [{f['low']:.1f}, {f['high']:.1f}], "
                     f"{words[f['verdict']]} the rule '{f['rule']}' ({f['rule_rate']:.1f} %).")
    return "\n".join(lines)


def misplaced_text(misses: pd.DataFrame) -> str:
    """One printed line from ``tsin_nb.data.equal_segment_misses``: how often equal time segments (the "w/o TA"
    alignment) put most of the emphasised word under another word, and (with an ``under_other`` column) how often
    under the other candidate, the one misplacement that swaps the two answers."""
    if misses.empty:
        return "no focus utterance: nothing for equal segments to misplace"
    text = (f"equal segments put most of the emphasised word under another word in "
            f"{100 * misses['misplaced'].mean():.1f} % of {len(misses)} focus utterances (mean share of its frames "
            f"in its own segment {100 * misses['inside'].mean():.0f} %)")
    if "under_other" in misses and misses["under_other"].notna().any():
        under = misses["under_other"].dropna()
        text += (f"; under the other candidate's segment in {100 * (under >= 0.5).mean():.1f} % (any of its frames: "
                 f"{100 * (under > 0).mean():.1f} %)")
    return text
