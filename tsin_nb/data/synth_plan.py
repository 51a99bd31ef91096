"""The plan of the synthetic corpus: who says what, with which emotion, cue, words and prosody (no audio).

``plan_corpus(n_utterances, seed)`` draws every utterance from one ``numpy`` Generator; ``synth`` speaks
and writes the plan. The design is in ``synth``'s docstring and docs/SYNTHETIC_CORPUS.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from tsin_nb.data.iemocap import KNOWN_COUNTS

#: Default number of four-class utterances (ang, hap+exc, sad, neu).
DEFAULT_SIZE = 1000
#: A small size that still has every class for both speakers of every session.
SMOKE_SIZE = 120

EXTRA_SHARE = 0.25  # utterances with codes outside the 4-class set, relative to n_utterances

SESSIONS = ("Ses01", "Ses02", "Ses03", "Ses04", "Ses05")
#: Share of each session in IEMOCAP's 4-class set.
SESSION_SHARE = tuple(KNOWN_COUNTS["session"].values())
#: IEMOCAP's 4-class counts, happy and excited together.
CLASS_SHARE = {("hap+exc" if k == "hap" else k): n for k, n in KNOWN_COUNTS["label"].items()}
EXC_FRACTION = KNOWN_COUNTS["exc"] / KNOWN_COUNTS["label"]["hap"]
CUES = ("text", "voice", "both")
CUE_SHARE = (0.35, 0.35, 0.30)
#: Cue settings of ``plan_corpus(cues=...)``: each cue's share of every class. ``"three"`` is the corpus as first
#: built; ``"four"`` (the default) adds ``focus``, where the emotion is in which of two words is emphasised;
#: ``"four_near"`` has the same shares with the two ``focus`` candidates next to each other
#: (:data:`FOCUS_NEAR_TEMPLATES`), where a word-level alignment has to tell their frames apart.
CUE_SHARES: dict[str, dict[str, float]] = {
    "three": dict(zip(CUES, CUE_SHARE)),
    "four": {"text": 0.25, "voice": 0.25, "both": 0.25, "focus": 0.25},
    "four_near": {"text": 0.25, "voice": 0.25, "both": 0.25, "focus": 0.25},
}
DEFAULT_CUES = "four"
#: The cues of a corpus whose marker names none (written before the setting existed).
LEGACY_CUES = "three"
#: Codes dropped by the 4-class protocol, with their share among the extra utterances.
EXTRA_CODES = {"xxx": 0.45, "fru": 0.33, "sur": 0.08, "oth": 0.06, "fea": 0.04, "dis": 0.04}
#: Category names written by the categorical evaluators.
CATEGORY = {
    "ang": "Anger", "hap": "Happiness", "exc": "Excited", "sad": "Sadness", "neu": "Neutral",
    "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other",
}
#: Mean valence, activation, dominance (1..5) per code, for the dimensional evaluator lines.
VAD = {
    "ang": (1.8, 4.0, 4.0), "hap": (4.0, 3.2, 3.1), "exc": (4.2, 3.9, 3.3), "sad": (1.9, 2.1, 2.0),
    "neu": (2.9, 2.3, 2.6), "fru": (2.0, 3.3, 3.3), "sur": (3.4, 3.6, 2.8), "fea": (2.0, 3.4, 1.9),
    "dis": (1.7, 3.1, 3.1), "oth": (3.0, 2.8, 2.8), "xxx": (2.7, 2.9, 2.9),
}

#: One voice per speaker with a fixed offset (rate wpm, pitch, range, volume) on top of the emotion.
SPEAKERS: dict[str, tuple[str, int, int, int, int]] = {
    "Ses01F": ("en-us+f1", 8, 4, 5, -6),
    "Ses01M": ("en-us+m1", -6, -4, -3, 8),
    "Ses02F": ("en-us+f2", -8, 0, -6, 4),
    "Ses02M": ("en+m2", 10, 6, 6, -4),
    "Ses03F": ("en+f3", 4, -6, 8, 0),
    "Ses03M": ("en-us+m3", -10, 2, -8, 6),
    "Ses04F": ("en-us+f4", 0, 6, -4, 8),
    "Ses04M": ("en+m4", 6, -2, 4, -8),
    "Ses05F": ("en+f5", -4, -4, 0, -4),
    "Ses05M": ("en-us+m6", 12, 0, 8, 2),
}
#: Mean prosody per code as espeak parameters: (rate wpm, pitch 0-100, range 0-100, volume 0-200).
PROSODY: dict[str, tuple[float, float, float, float]] = {
    "neu": (165, 48, 45, 100),
    "ang": (192, 55, 78, 135),
    "hap": (180, 62, 74, 112),
    "exc": (200, 68, 84, 122),
    "sad": (132, 40, 22, 78),
    "fru": (180, 50, 60, 120),
    "sur": (185, 66, 85, 110),
    "fea": (195, 60, 50, 90),
    "dis": (150, 44, 55, 110),
    "oth": (165, 50, 50, 100),
}
#: Standard deviation of the per-utterance jitter, same order as PROSODY.
JITTER = (10.0, 3.5, 8.0, 9.0)
#: SSML emphasis level per code when the voice carries the emotion ("moderate" elsewhere).
EMPHASIS = {"ang": "strong", "exc": "strong", "hap": "moderate", "sad": "moderate", "neu": "moderate"}

#: Emotion words: (used in every session, then two more per session: Ses01, Ses02, ..., Ses05).
WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ang": (("angry", "furious", "mad", "livid"),
            ("outraged", "irate", "enraged", "infuriated", "incensed",
             "fuming", "seething", "hostile", "indignant", "resentful")),
    "hap": (("happy", "glad", "cheerful", "pleased"),
            ("joyful", "delighted", "content", "grateful", "merry",
             "jolly", "upbeat", "lighthearted", "blissful", "satisfied")),
    "exc": (("excited", "thrilled", "eager", "pumped"),
            ("ecstatic", "elated", "overjoyed", "exhilarated", "psyched",
             "euphoric", "energized", "jubilant", "enthusiastic", "giddy")),
    "sad": (("sad", "unhappy", "miserable", "depressed"),
            ("gloomy", "heartbroken", "sorrowful", "downcast", "dejected",
             "despondent", "glum", "melancholy", "forlorn", "devastated")),
    "neu": (("fine", "okay", "calm", "normal"),
            ("ordinary", "steady", "composed", "settled", "indifferent",
             "unmoved", "balanced", "collected", "placid", "untroubled")),
    "fru": (("frustrated", "annoyed", "irritated"), ()),
    "sur": (("surprised", "shocked", "astonished"), ()),
    "fea": (("scared", "afraid", "nervous"), ()),
    "dis": (("disgusted", "repulsed"), ()),
}
#: Emotionally empty words that take the emotion word's place when only the voice carries it.
FILLERS = ("busy", "ready", "early", "late", "awake", "done", "back", "aware", "sure", "certain", "here", "outside")
#: Sentence templates (4 to 14 words); ``{w}`` is the salient slot.
TEMPLATES = (
    "I am so {w}.",
    "Well, I am {w}.",
    "You look {w} tonight.",
    "I feel {w}, really.",
    "Tell them I am {w}.",
    "Honestly, I feel {w} today.",
    "Why am I so {w} today?",
    "She told me she was {w}.",
    "It is Monday and I am {w}.",
    "We were all {w} after the meeting.",
    "The kids came home from school {w}.",
    "I got your message and I am {w}.",
    "When I saw the results, I felt {w}.",
    "I was {w} when the letter finally came.",
    "My brother called last night and he sounded {w}.",
    "He is {w} about the job offer in Boston.",
    "Everyone at work seems {w} about the new schedule.",
    "I read the news this morning and I am {w}.",
    "She was {w} when they moved the trip to June.",
    "You know, I have been {w} about this all week.",
    "He looked {w} when he walked into the kitchen.",
    "They said the flight is late again and I am {w}.",
    "I think we are both {w} about how the visit went.",
    "The whole team was {w} at the end of the game.",
    "My neighbor sold the house and she seems {w} about it.",
    "After everything that happened with the car, I am just {w}.",
    "To be honest, I have never been this {w} in my life.",
    "We waited at the station for two hours, and now I am {w}.",
    "Since the phone call from my mother I have felt {w} all day.",
    "Look, I am {w} and I do not want to talk about it now.",
)
#: Dialog names of IEMOCAP's forms; each is recorded twice (F- and M-prefixed) in every session.
DIALOGS = (
    "impro01", "impro02", "impro03", "impro04", "impro05a", "impro05b", "impro06", "impro07",
    "impro08a", "impro08b", "script01_1", "script01_1b", "script01_2", "script01_3",
    "script02_1", "script02_2", "script03_1", "script03_2",
)
#: Dialogs that always exist (their odd names break fixed-position parsing).
REQUIRED_DIALOGS = {
    "Ses01": ("F_impro01", "M_impro05a"),
    "Ses02": ("F_script01_1b",),
    "Ses03": ("M_script02_2",),
}
UTTS_PER_DIALOG = 20
#: ``focus`` sentences (6 to 14 words) with two slots; the emphasised emotion word goes in ``{a}`` or ``{b}``
#: with probability 1/2 whatever its class and the template.
FOCUS_TEMPLATES = (
    "She looked {a} and he looked {b}.",
    "You seem {a}, and I am {b}.",
    "Are you {a} or {b} about it?",
    "He said he was {a}, not {b}.",
    "Not {a}, just {b}, I promise you.",
    "Yesterday I felt {a}, today I feel {b}.",
    "I was {a} at first, but now I am {b}.",
    "We went from {a} to {b} in one afternoon.",
    "They expected me to be {a}, but I was {b}.",
    "The letter made me {a}, the phone call made me {b}.",
    "Was the teacher {a} or {b} when you told her?",
    "I thought I would be {a}, but I ended up {b}.",
    "My sister was {a} and my brother was {b} after the call.",
    "In the morning I was {a}, and by the evening I was {b}.",
    "Everyone at the table seemed {a}, except Anna, who was {b}.",
    "First {a}, then {b}, that is how the whole week went for us.",
)
#: ``focus`` sentences (8 to 10 words) whose two slots are next to each other or one short word apart: the
#: templates of ``cues="four_near"``. The candidates' frames then lie within about one word's length of each other.
FOCUS_NEAR_TEMPLATES = (
    "I feel {a}, {b}, I cannot tell you which.",
    "Are you {a} or {b} about the news?",
    "She was {a} and {b} when the call came.",
    "Honestly, {a}, {b}, all at once this morning.",
    "He said {a}, not {b}, when they asked him.",
    "It left me {a}, then {b}, for the whole week.",
    "Was it {a} or {b} that you felt then?",
    "They called me {a}, {b}, and a lot more.",
    "Not {a} but {b} is what I felt today.",
    "I went from {a} to {b} in one second.",
    "Tell me, are you {a} or {b} right now?",
    "We were {a}, then {b}, at the dinner table.",
)
#: The ``focus`` templates of each cue setting that has the cue.
FOCUS_TEMPLATE_SETS = {"four": FOCUS_TEMPLATES, "four_near": FOCUS_NEAR_TEMPLATES}
#: Pauses inside a ``focus`` utterance: how many (drawn 0..3) and their length in ms.
FOCUS_PAUSES = (0, 3)
FOCUS_PAUSE_MS = (150, 650)
#: Chance that one word other than the two candidates is slowed down (rate in % of the utterance's).
FOCUS_SLOW_P = 0.5
FOCUS_SLOW_RATE = (55, 85)
WORD_RE = re.compile(r"[A-Za-z']+")


@dataclass


class Utterance:
    """Everything drawn for one utterance before it is spoken."""

    session: str
    speaker: str  # "F" or "M"
    code: str
    cue: str
    template: int
    emotion_word: str
    salient_word: str
    salient_index: int
    voice: str
    rate: int
    pitch: int
    range_: int
    volume: int
    emphasis: str
    the_variant: list[bool] = field(default_factory=list)  # per word: write THE(2)/A(2) in the .wdseg
    dialog: str = ""
    utt_id: str = ""
    turn: int = 0  # position in the dialog
    gap: float = 0.0  # seconds of silence before this turn in the dialog
    lead: float = 0.0  # seconds of silence before speech inside the wav
    trail: float = 0.0
    scores: tuple[float, ...] = ()
    text: str = ""
    other_word: str = ""  # focus: the candidate emotion word that is not emphasised
    other_index: int = -1  # focus: its index among the words
    other_code: str = ""  # focus: its emotion code
    pauses: tuple[tuple[int, int], ...] = ()  # focus: (word index the pause follows, ms)
    slow: tuple[int, int] = (-1, 100)  # focus: (word index slowed down or -1, rate in %)


def _split(total: int, shares: list[float] | tuple[float, ...], minimum: int = 0) -> list[int]:
    """Split ``total`` into integer parts proportional to ``shares`` (largest remainder), each >= minimum."""
    w = np.asarray(shares, dtype=float)
    w = w / w.sum()
    counts = [minimum] * len(w)
    rest = total - minimum * len(w)
    raw = rest * w
    base = np.floor(raw).astype(int)
    order = sorted(range(len(w)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in range(len(w)):
        counts[i] += int(base[i])
    for i in order[: rest - int(base.sum())]:
        counts[i] += 1
    return counts


def word_offsets(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (punctuation excluded)."""
    return [(m.start(), m.end()) for m in WORD_RE.finditer(text)]


def _draw_prosody(rng: np.random.Generator, code: str, speaker: str) -> tuple[int, int, int, int]:
    """Emotion mean + speaker offset + utterance jitter, clipped to espeak's useful ranges."""
    mean = np.asarray(PROSODY[code]) + np.asarray(SPEAKERS[speaker][1:])
    x = mean + rng.normal(0.0, 1.0, 4) * np.asarray(JITTER)
    lo, hi = np.array([95, 15, 0, 45]), np.array([290, 90, 100, 170])
    r, p, g, v = np.clip(np.round(x), lo, hi).astype(int)
    return int(r), int(p), int(g), int(v)


def _session_pool(code: str, s: int) -> tuple[str, ...]:
    """Synonyms of ``code`` used in session index ``s``: the shared ones plus that session's own."""
    shared, own = WORDS[code]
    return shared + own[2 * s: 2 * s + 2]


def _make_utterance(rng: np.random.Generator, s: int, speaker: str, code: str, cue: str) -> Utterance:
    """Draw text, salient word and prosody for one utterance."""
    session = SESSIONS[s]
    spk = session + speaker
    template = int(rng.integers(len(TEMPLATES)))
    if code in EMPHASIS:  # a 4-class code
        if cue in ("text", "both"):
            pool = _session_pool(code, s)
            word = pool[int(rng.integers(len(pool)))]
        else:
            word = ""
        voiced = code if cue in ("voice", "both") else "neu"
        emphasis = EMPHASIS[code] if cue in ("voice", "both") else "moderate"
    else:  # extra codes: their own word half the time, prosody near their category
        pool = _session_pool(code, s) if code in WORDS else ()
        word = pool[int(rng.integers(len(pool)))] if pool and rng.random() < 0.5 else ""
        voiced = code if code in PROSODY else str(rng.choice(["neu", "ang", "hap", "sad", "fru"]))
        emphasis = "moderate"
    slot = word or FILLERS[int(rng.integers(len(FILLERS)))]
    text = TEMPLATES[template].replace("{w}", slot)
    first = TEMPLATES[template].split("{w}")[0]
    salient_index = len(word_offsets(first))
    rate, pitch, range_, volume = _draw_prosody(rng, voiced, spk)
    tokens = [text[a:b] for a, b in word_offsets(text)]
    the_variant = [t.lower() in ("the", "a") and bool(rng.random() < 0.3) for t in tokens]
    return Utterance(
        session=session, speaker=speaker, code=code, cue=cue if code in EMPHASIS else "none",
        template=template, emotion_word=word, salient_word=tokens[salient_index],
        salient_index=salient_index, voice=SPEAKERS[spk][0], rate=rate, pitch=pitch, range_=range_,
        volume=volume, emphasis=emphasis, the_variant=the_variant, text=text,
    )


def focus_pairs() -> dict[str, dict[str, float]]:
    """P(other class | label class) for ``focus``: a symmetric joint of the two candidates' classes.

    The label's class follows the class shares; the other candidate's class is drawn so that the pair
    (label class, other class) is exactly as likely as (other class, label class): seeing the two words, either
    one is the label with probability 1/2. The joint is ``d_i d_j`` (i != j), scaled so its rows sum to the shares.
    """
    names = list(CLASS_SHARE)
    p = np.asarray(list(CLASS_SHARE.values()), dtype=float)
    p = p / p.sum()
    d = np.sqrt(p)
    for _ in range(500):
        d = p / (d.sum() - d)
    joint = np.outer(d, d) * (1 - np.eye(len(p)))
    return {a: {b: float(joint[i, j] / joint[i].sum()) for j, b in enumerate(names) if j != i}
            for i, a in enumerate(names)}


def _class_of(code: str) -> str:
    return "hap+exc" if code in ("hap", "exc") else code


def _focus_utterance(rng: np.random.Generator, s: int, speaker: str, code: str,
                     templates: tuple[str, ...] = FOCUS_TEMPLATES) -> Utterance:
    """Two emotion words of two classes; the label's word is emphasised, the rest spoken neutrally."""
    session = SESSIONS[s]
    spk = session + speaker
    template = int(rng.integers(len(templates)))
    pool = _session_pool(code, s)
    word = pool[int(rng.integers(len(pool)))]
    others = focus_pairs()[_class_of(code)]
    other_cls = list(others)[int(rng.choice(len(others), p=list(others.values())))]
    other_code = other_cls
    if other_cls == "hap+exc":
        other_code = "exc" if rng.random() < EXC_FRACTION else "hap"
    pool = _session_pool(other_code, s)
    other = pool[int(rng.integers(len(pool)))]
    labelled_first = bool(rng.random() < 0.5)
    pattern = templates[template]
    a_word, b_word = (word, other) if labelled_first else (other, word)
    text = pattern.replace("{a}", a_word).replace("{b}", b_word)
    slot_a = len(word_offsets(pattern.split("{a}")[0]))
    slot_b = len(word_offsets(pattern.split("{b}")[0].replace("{a}", "x")))
    index, other_index = (slot_a, slot_b) if labelled_first else (slot_b, slot_a)
    rate, pitch, range_, volume = _draw_prosody(rng, "neu", spk)
    tokens = [text[x:y] for x, y in word_offsets(text)]
    the_variant = [t.lower() in ("the", "a") and bool(rng.random() < 0.3) for t in tokens]
    n_pauses = int(rng.integers(FOCUS_PAUSES[0], FOCUS_PAUSES[1] + 1))
    after = sorted(int(i) for i in rng.choice(len(tokens) - 1, size=min(n_pauses, len(tokens) - 1), replace=False))
    pauses = tuple((i, int(rng.integers(FOCUS_PAUSE_MS[0], FOCUS_PAUSE_MS[1] + 1))) for i in after)
    slow = (-1, 100)
    if rng.random() < FOCUS_SLOW_P:
        rest = [i for i in range(len(tokens)) if i not in (index, other_index)]
        slow = (rest[int(rng.integers(len(rest)))], int(rng.integers(FOCUS_SLOW_RATE[0], FOCUS_SLOW_RATE[1] + 1)))
    return Utterance(
        session=session, speaker=speaker, code=code, cue="focus", template=template, emotion_word=word,
        salient_word=tokens[index], salient_index=index, voice=SPEAKERS[spk][0], rate=rate, pitch=pitch,
        range_=range_, volume=volume, emphasis="strong", the_variant=the_variant, text=text,
        other_word=tokens[other_index], other_index=other_index, other_code=other_code, pauses=pauses, slow=slow,
    )


def _dialog_names(rng: np.random.Generator, s: int, k: int) -> list[str]:
    """``k`` dialog names of session ``s``: the required ones first, then a seeded draw."""
    session = SESSIONS[s]
    required = list(REQUIRED_DIALOGS.get(session, ()))
    pool = [f"{p}_{d}" for d in DIALOGS for p in ("F", "M") if f"{p}_{d}" not in required]
    order = rng.permutation(len(pool))
    names = required + [pool[i] for i in order]
    return [f"{session}{n}" for n in names[:k]]


def plan_corpus(n_utterances: int = DEFAULT_SIZE, seed: int = 0, cues: str = DEFAULT_CUES) -> list[Utterance]:
    """Every random choice of the corpus, in utterance-id order; the audio is a function of this plan.

    ``cues`` names the cue shares of :data:`CUE_SHARES`; the default draws exactly the corpus first built.
    """
    if cues not in CUE_SHARES:
        raise ValueError(f"cues={cues!r}: choose one of {', '.join(CUE_SHARES)}")
    names, shares = list(CUE_SHARES[cues]), list(CUE_SHARES[cues].values())
    templates = FOCUS_TEMPLATE_SETS.get(cues, FOCUS_TEMPLATES)
    if n_utterances < 40:
        raise ValueError(f"n_utterances={n_utterances} is too small: at least 40 (5 sessions x 4 classes x 2 speakers)")
    rng = np.random.default_rng(seed)
    per_session = _split(n_utterances, SESSION_SHARE)
    n_extra = _split(round(EXTRA_SHARE * n_utterances), SESSION_SHARE)
    plan: list[Utterance] = []
    for s, n_s in enumerate(per_session):
        utts: list[Utterance] = []
        for (cls, n_c) in zip(CLASS_SHARE, _split(n_s, list(CLASS_SHARE.values()), minimum=2)):
            speakers = [("F", "M")[i % 2] for i in range(n_c)]
            speakers = [speakers[i] for i in rng.permutation(n_c)]
            if cls == "hap+exc":
                n_exc = round(n_c * EXC_FRACTION)
                codes = ["exc"] * n_exc + ["hap"] * (n_c - n_exc)
                codes = [codes[i] for i in rng.permutation(n_c)]
            else:
                codes = [cls] * n_c
            drawn = [c for c, k in zip(names, _split(n_c, shares)) for _ in range(k)]
            drawn = [drawn[i] for i in rng.permutation(n_c)]
            utts += [_focus_utterance(rng, s, spk, code, templates) if cue == "focus"
                     else _make_utterance(rng, s, spk, code, cue) for spk, code, cue in zip(speakers, codes, drawn)]
        extra_codes = list(EXTRA_CODES)
        for i in range(n_extra[s]):
            code = extra_codes[int(rng.choice(len(extra_codes), p=list(EXTRA_CODES.values())))]
            utts.append(_make_utterance(rng, s, ("F", "M")[i % 2], code, "none"))
        plan += _assign_dialogs(rng, s, utts)
    return sorted(plan, key=lambda u: u.utt_id)


def _assign_dialogs(rng: np.random.Generator, s: int, utts: list[Utterance]) -> list[Utterance]:
    """Spread a session's utterances over dialogs; turns alternate speakers and are numbered per speaker."""
    k = min(max(4, math.ceil(len(utts) / UTTS_PER_DIALOG)), 2 * len(DIALOGS))
    names = _dialog_names(rng, s, k)
    order = rng.permutation(len(utts))
    for d, idx in enumerate(np.array_split(order, k)):
        group = [utts[i] for i in idx]
        by_spk = {"F": [u for u in group if u.speaker == "F"], "M": [u for u in group if u.speaker == "M"]}
        turn = "F" if rng.random() < 0.5 else "M"
        counters = {"F": 0, "M": 0}
        ordered: list[Utterance] = []
        while by_spk["F"] or by_spk["M"]:
            if not by_spk[turn]:
                turn = "M" if turn == "F" else "F"
            u = by_spk[turn].pop(0)
            u.dialog = names[d]
            u.utt_id = f"{names[d]}_{turn}{counters[turn]:03d}"
            u.turn = len(ordered)
            counters[turn] += 1
            ordered.append(u)
            turn = "M" if turn == "F" else "F"
        for u in ordered:
            u.gap = float(rng.uniform(0.2, 2.5))
            u.lead = float(rng.uniform(0.12, 0.35))
            u.trail = float(rng.uniform(0.15, 0.45))
            u.scores = tuple(float(x) for x in rng.uniform(-9000, -3000, len(word_offsets(u.text)) + 8))
    return utts
