"""A synthetic stand-in for IEMOCAP, spoken by espeak-ng and written in IEMOCAP's own layout and formats.

What it is: about ``n_utterances`` short English sentences in 5 sessions x 2 speakers (10 espeak voices),
labeled ang / hap / exc / sad / neu (plus utterances with codes the 4-class protocol drops: xxx, fru,
sur, ...), written as ``SessionN/sentences/wav``, ``dialog/EmoEvaluation``, ``dialog/transcriptions`` and
``sentences/ForcedAlignment`` files so that the IEMOCAP parser runs on it unchanged.

How it is built: every utterance carries its emotion through one of three cues. ``text``: an emotion
word (e.g. "furious") spoken with neutral prosody. ``voice``: emotionally empty words spoken with the
emotion's prosody (rate, pitch, pitch range, volume, emphasis strength). ``both``: the two together.
Shares are about 35 / 35 / 30 %, so neither modality alone can be right on every utterance. Speakers
and utterances jitter the prosody, so voice cues of different classes overlap. Each emotion draws its
words from a pool of synonyms, part shared by all sessions and part used in one session only: a model
tested on a held-out session meets emotion words it never saw in training. One word per utterance
(the emotion word, or the word in its place) is wrapped in SSML ``<emphasis>``; its index is recorded
in ``synthetic_meta.csv``. Everything is drawn from one ``numpy`` Generator seeded with ``seed``.

What it is for: running and testing the whole pipeline, and showing that the fusion of speech and
text beats either alone when the task is built that way. Numbers measured on it say nothing about
real emotional speech, real speakers or the paper's IEMOCAP results.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

#: Bumped whenever the files written for a given seed and size change.
FORMAT_VERSION = 1
#: Default number of four-class utterances (ang, hap+exc, sad, neu).
DEFAULT_SIZE = 1000
#: A small size that still has every class for both speakers of every session.
SMOKE_SIZE = 120

MARKER = ".tsin_synth.json"
PARTIAL = ".tsin_synth.partial"
META = "synthetic_meta.csv"

SAMPLE_RATE = 16000
FRAME = 160  # samples per 10 ms frame at 16 kHz, the .wdseg unit
GAIN = 0.6  # headroom so loud utterances rarely clip; relative volume is kept
EXTRA_SHARE = 0.25  # utterances with codes outside the 4-class set, relative to n_utterances

SESSIONS = ("Ses01", "Ses02", "Ses03", "Ses04", "Ses05")
#: Share of each session in IEMOCAP's 4-class set (1085 / 1023 / 1151 / 1031 / 1241).
SESSION_SHARE = (1085, 1023, 1151, 1031, 1241)
#: IEMOCAP's 4-class counts: ang 1103, hap+exc 1636 (hap 595, exc 1041), sad 1084, neu 1708.
CLASS_SHARE = {"ang": 1103, "hap+exc": 1636, "sad": 1084, "neu": 1708}
EXC_FRACTION = 1041 / 1636
CUES = ("text", "voice", "both")
CUE_SHARE = (0.35, 0.35, 0.30)
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


def _words(text: str) -> list[tuple[int, int]]:
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
    salient_index = len(_words(first))
    rate, pitch, range_, volume = _draw_prosody(rng, voiced, spk)
    tokens = [text[a:b] for a, b in _words(text)]
    the_variant = [t.lower() in ("the", "a") and bool(rng.random() < 0.3) for t in tokens]
    return Utterance(
        session=session, speaker=speaker, code=code, cue=cue if code in EMPHASIS else "none",
        template=template, emotion_word=word, salient_word=tokens[salient_index],
        salient_index=salient_index, voice=SPEAKERS[spk][0], rate=rate, pitch=pitch, range_=range_,
        volume=volume, emphasis=emphasis, the_variant=the_variant, text=text,
    )


def _dialog_names(rng: np.random.Generator, s: int, k: int) -> list[str]:
    """``k`` dialog names of session ``s``: the required ones first, then a seeded draw."""
    session = SESSIONS[s]
    required = list(REQUIRED_DIALOGS.get(session, ()))
    pool = [f"{p}_{d}" for d in DIALOGS for p in ("F", "M") if f"{p}_{d}" not in required]
    order = rng.permutation(len(pool))
    names = required + [pool[i] for i in order]
    return [f"{session}{n}" for n in names[:k]]


def plan_corpus(n_utterances: int = DEFAULT_SIZE, seed: int = 0) -> list[Utterance]:
    """Every random choice of the corpus, in utterance-id order; the audio is a function of this plan."""
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
            cues = [c for c, k in zip(CUES, _split(n_c, CUE_SHARE)) for _ in range(k)]
            cues = [cues[i] for i in rng.permutation(n_c)]
            utts += [_make_utterance(rng, s, spk, code, cue) for spk, code, cue in zip(speakers, codes, cues)]
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
            u.scores = tuple(float(x) for x in rng.uniform(-9000, -3000, len(_words(u.text)) + 8))
    return utts


def _ssml(u: Utterance) -> tuple[str, list[tuple[int, int]]]:
    """The SSML spoken for ``u`` and each word's character span inside it."""
    spans = _words(u.text)
    a, b = spans[u.salient_index]
    open_tag = f'<emphasis level="{u.emphasis}">'
    head = "<speak>" + u.text[:a] + open_tag
    body = u.text[a:b]
    ssml = head + body + "</emphasis>" + u.text[b:] + "</speak>"
    shift_in, shift_after = len("<speak>"), len("<speak>") + len(open_tag) + len("</emphasis>")
    out = []
    for i, (s, e) in enumerate(spans):
        if i < u.salient_index:
            out.append((s + shift_in, e + shift_in))
        elif i == u.salient_index:
            out.append((len(head), len(head) + len(body)))
        else:
            out.append((s + shift_after, e + shift_after))
    return ssml, out


def _word_starts(spans: list[tuple[int, int]], events: list[tuple[int, int, int]], n: int) -> list[float]:
    """Start sample of every word; words the library merged with a neighbour share its span."""
    starts: list[float | None] = [None] * len(spans)
    for pos, _, sample in events:
        for i, (a, b) in enumerate(spans):
            if a <= pos < b and starts[i] is None:
                starts[i] = float(sample)
                break
    if starts[0] is None:
        starts[0] = 0.0
    i = 0
    while i < len(spans):  # fill runs of missing words by splitting the span before them by characters
        j = i + 1
        while j < len(spans) and starts[j] is None:
            j += 1
        if j > i + 1:
            end = starts[j] if j < len(spans) else float(n)
            lengths = [spans[k][1] - spans[k][0] for k in range(i, j)]
            total = float(sum(lengths))
            acc = 0.0
            for k in range(i, j):
                starts[k] = starts[i] + (end - starts[i]) * acc / total
                acc += lengths[k - i]
        i = j
    return [float(s) for s in starts]  # type: ignore[arg-type]


def _render(u: Utterance, seed: int, index: int) -> tuple[np.ndarray, str]:
    """Speak ``u``: the 16 kHz int16 waveform and its .wdseg text."""
    import soxr

    from tsin_nb import espeak

    ssml, spans = _ssml(u)
    y, sr, events = espeak.synthesize(ssml, u.voice, u.rate, u.pitch, u.range_, u.volume, ssml=True, seed=index)
    y16 = soxr.resample(y, sr, SAMPLE_RATE).astype(np.float32) * GAIN  # (S,)
    starts = [s * SAMPLE_RATE / sr for s in _word_starts(spans, events, len(y))]
    lead, trail = int(u.lead * SAMPLE_RATE), int(u.trail * SAMPLE_RATE)
    clean = np.concatenate([np.zeros(lead, np.float32), y16, np.zeros(trail, np.float32)])
    noise = np.random.default_rng([seed, index]).normal(0.0, 1e-3, len(clean)).astype(np.float32)
    wav = np.clip(clean + noise, -1.0, 1.0)
    n_frames = len(wav) // FRAME
    frames = clean[: n_frames * FRAME].reshape(n_frames, FRAME)  # (F, 160)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)  # (F,)
    voiced = _voiced(db)
    words = [u.text[a:b].upper() for a, b in _words(u.text)]
    words = [w + "(2)" if v else w for w, v in zip(words, u.the_variant)]
    rows = _align(words, [lead + s for s in starts], voiced)
    lines = [" SFrm  EFrm    SegAScr Word"]
    total = 0
    for k, (a, b, w) in enumerate(rows):
        score = int(u.scores[k % len(u.scores)] * (b - a + 1) / 10)
        total += score
        lines.append(f"{a:5d} {b:5d} {score:10d} {w}")
    lines.append(f" Total score: {total}")
    pcm = np.round(wav * 32767).astype(np.int16)
    return pcm, "\n".join(lines) + "\n"


def _voiced(db: np.ndarray) -> np.ndarray:
    """Frames within 40 dB of the loudest, without short faint blips (< 60 ms and 25 dB below the peak)."""
    voiced = db > db.max() - 40.0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < 6 and db[a:b].max() < db.max() - 25.0:
            voiced[a:b] = False
    return voiced


def _align(words: list[str], starts: list[float], voiced: np.ndarray) -> list[tuple[int, int, str]]:
    """Frame rows (start, end inclusive, word) with ``<s>``, ``</s>`` and ``<sil>`` for pauses >= 100 ms."""
    n = len(voiced)
    on = np.flatnonzero(voiced)
    first_on, last_on = (int(on[0]), int(on[-1])) if len(on) else (1, n - 2)
    b = [int(s // FRAME) for s in starts]
    b[0] = max(b[0], first_on, 1)  # <s> keeps at least frame 0
    for i in range(1, len(b)):  # strictly increasing: at least one frame per word
        b[i] = max(b[i], b[i - 1] + 1)
    speech_end = min(max(last_on, b[-1]), n - 2)  # </s> keeps at least the last frame
    ends = [x - 1 for x in b[1:]] + [speech_end]
    rows: list[tuple[int, int, str]] = [(0, b[0] - 1, "<s>")]
    for i, w in enumerate(words):
        a, e = b[i], max(ends[i], b[i])
        seg = np.flatnonzero(voiced[a: e + 1])
        last = a + int(seg[-1]) if len(seg) else e
        if i < len(words) - 1 and e - last >= 10:
            rows += [(a, last, w), (last + 1, e, "<sil>")]
        else:
            rows.append((a, e, w))
    rows.append((rows[-1][1] + 1, n - 1, "</s>"))
    return rows


def _eval_block(u: Utterance, rng: np.random.Generator, start: float, end: float) -> str:
    """One EmoEvaluation block: header line, categorical and dimensional evaluator lines."""
    if u.code == "xxx":
        cats = [CATEGORY[c] for c in rng.choice(["neu", "fru", "ang", "sad", "exc", "sur"], 3, replace=False)]
    else:
        other = CATEGORY[str(rng.choice([c for c in ("neu", "fru", "exc", "sad", "ang", "hap") if c != u.code]))]
        cats = [CATEGORY[u.code]] * 3
        if rng.random() < 0.3:
            cats[int(rng.integers(3))] = other
        if rng.random() < 0.15:
            cats[int(rng.integers(3))] = CATEGORY[u.code] + "; " + other
    vads = [np.clip(np.round(np.asarray(VAD[u.code]) + rng.normal(0, 0.6, 3)), 1, 5).astype(int) for _ in range(2)]
    mean = np.mean(vads, axis=0)
    lines = [f"[{start:.4f} - {end:.4f}]\t{u.utt_id}\t{u.code}\t[{mean[0]:.4f}, {mean[1]:.4f}, {mean[2]:.4f}]"]
    lines += [f"C-E{k + 1}:\t{c};\t()" for k, c in enumerate(cats)]
    lines += [f"A-E{k + 1}:\tval {v[0]}; act {v[1]}; dom  {v[2]};\t()" for k, v in enumerate(vads)]
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _wav_bytes(pcm: np.ndarray) -> bytes:
    """A 16 kHz mono PCM16 wav file's bytes."""
    buf = io.BytesIO()
    sf.write(buf, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _settings(seed: int, n_utterances: int) -> dict[str, int]:
    """What the completion marker records."""
    return {"seed": int(seed), "n_utterances": int(n_utterances), "version": FORMAT_VERSION}


def _prepare(root: Path, settings: dict[str, int]) -> bool:
    """True when ``root`` already holds this corpus; clear our own partial output; refuse foreign data."""
    marker = root / MARKER
    if marker.is_file():
        try:
            found = json.loads(marker.read_text())
        except (OSError, ValueError):
            found = None
        found = {k: found.get(k) for k in settings} if isinstance(found, dict) else found
        if found == settings:
            return True
        raise ValueError(
            f"{root} already holds a synthetic corpus made with {found} (marker {marker}), "
            f"not {settings}; choose another folder or delete this one"
        )
    sessions = [root / f"Session{s + 1}" for s in range(len(SESSIONS))]
    if (root / PARTIAL).is_file():
        for d in sessions:
            shutil.rmtree(d, ignore_errors=True)
    elif any(d.exists() for d in sessions):
        raise ValueError(
            f"{root} holds Session folders that make_synthetic_corpus did not write (no {MARKER}); "
            "it may be a real corpus: choose an empty folder"
        )
    return False


def make_synthetic_corpus(
    root: str | os.PathLike,
    n_utterances: int = DEFAULT_SIZE,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write the synthetic IEMOCAP-format corpus under ``root`` (cached: a complete one is reused)."""
    from tqdm.auto import tqdm

    from tsin_nb import espeak
    from tsin_nb.progress import show_progress

    root = Path(root).expanduser().resolve()
    settings = _settings(seed, n_utterances)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; give a folder for the synthetic corpus")
    root.mkdir(parents=True, exist_ok=True)
    if _prepare(root, settings):
        return root
    _write(root / PARTIAL, json.dumps(settings).encode())

    plan = plan_corpus(n_utterances, seed)
    by_dialog: dict[str, list[Utterance]] = {}
    for u in plan:
        by_dialog.setdefault(u.dialog, []).append(u)
    rng = np.random.default_rng([seed, 1])
    rows = []
    bar = tqdm(total=len(plan), desc="synthetic corpus", unit="utt", disable=not show_progress(progress))
    for index, dialog in enumerate(sorted(by_dialog)):
        session_dir = root / f"Session{int(dialog[3:5])}"
        turns = sorted(by_dialog[dialog], key=_turn_order)
        espeak.reset()  # each dialog's audio depends on its own plan only, not on what was spoken before
        clock = 0.0
        blocks, lines = [], []
        for k, u in enumerate(turns):
            pcm, wdseg = _render(u, seed, 1000 * index + k)
            _write(session_dir / "sentences" / "wav" / dialog / f"{u.utt_id}.wav", _wav_bytes(pcm))
            _write(session_dir / "sentences" / "ForcedAlignment" / dialog / f"{u.utt_id}.wdseg", wdseg.encode())
            start = clock + u.gap
            end = start + len(pcm) / SAMPLE_RATE
            clock = end
            blocks.append(_eval_block(u, rng, start, end))
            lines.append(f"{u.utt_id} [{start:08.4f}-{end:08.4f}]: {u.text}\n")
            rows.append({
                "utt_id": u.utt_id, "session": u.session, "speaker": u.session + u.speaker,
                "dialog": u.dialog, "label_code": u.code, "cue": u.cue, "emotion_word": u.emotion_word,
                "salient_index": u.salient_index, "salient_word": u.salient_word, "emphasis": u.emphasis,
                "voice": u.voice, "rate": u.rate, "pitch": u.pitch, "range": u.range_, "volume": u.volume,
                "template": u.template, "text": u.text, "start": round(start, 4), "end": round(end, 4),
            })
            bar.update(1)
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        _write(session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", (header + "\n".join(blocks)).encode())
        _write(session_dir / "dialog" / "transcriptions" / f"{dialog}.txt", "".join(lines).encode())
    bar.close()
    meta = pd.DataFrame(rows).sort_values("utt_id").reset_index(drop=True)
    _write(root / META, meta.to_csv(index=False).encode())
    _write(root / MARKER, json.dumps(settings, indent=1).encode())  # last: the corpus is complete
    (root / PARTIAL).unlink(missing_ok=True)
    return root


def _turn_order(u: Utterance) -> int:
    """Position of ``u`` in its dialog (assigned when the dialog was planned)."""
    return u.turn


__all__ = ["DEFAULT_SIZE", "SMOKE_SIZE", "FORMAT_VERSION", "make_synthetic_corpus", "plan_corpus"]
