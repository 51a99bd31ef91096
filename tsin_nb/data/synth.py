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

The plan (sessions, speakers, words, prosody) is drawn in ``synth_plan``; this module speaks and writes it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from tsin_nb.data.synth_folder import MARKER, PARTIAL, prepare_folder
from tsin_nb.data.synth_plan import (
    CATEGORY,
    CUE_SHARES,
    DEFAULT_CUES,
    DEFAULT_SIZE,
    VAD,
    Utterance,
    plan_corpus,
    word_offsets,
)

#: Bumped whenever the files written for a given seed and size change.
FORMAT_VERSION = 1

META = "synthetic_meta.csv"

SAMPLE_RATE = 16000
FRAME = 160  # samples per 10 ms frame at 16 kHz, the .wdseg unit
GAIN = 0.6  # headroom so loud utterances rarely clip; relative volume is kept
#: The emphasis of a ``focus`` utterance's labelled word, the same for every class: stronger SSML emphasis,
#: higher pitch, louder, slower (longer). The rest of the utterance keeps the neutral prosody.
FOCUS_PROSODY = '<prosody rate="65%" pitch="+35%" volume="+60%">'


def _ssml(u: Utterance) -> tuple[str, list[tuple[int, int]]]:
    """The SSML spoken for ``u`` and each word's character span inside it."""
    spans = word_offsets(u.text)
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


def _focus_ssml(u: Utterance) -> tuple[str, list[tuple[int, int]]]:
    """The SSML of a ``focus`` utterance (emphasised word, pauses, a slowed word) and each word's span in it."""
    spans = word_offsets(u.text)
    pauses = dict(u.pauses)
    out, parts, pos, size = [], ["<speak>"], 0, len("<speak>")
    for i, (a, b) in enumerate(spans):
        if i == u.salient_index:
            tags = (f'<emphasis level="{u.emphasis}">{FOCUS_PROSODY}', "</prosody></emphasis>")
        elif i == u.slow[0]:
            tags = (f'<prosody rate="{u.slow[1]}%">', "</prosody>")
        else:
            tags = ("", "")
        before = u.text[pos:a] + tags[0]
        parts += [before, u.text[a:b], tags[1]]
        out.append((size + len(before), size + len(before) + b - a))
        size += len(before) + b - a + len(tags[1])
        if i in pauses:
            pause = f'<break time="{pauses[i]}ms"/>'
            parts.append(pause)
            size += len(pause)
        pos = b
    parts += [u.text[pos:], "</speak>"]
    return "".join(parts), out


def utterance_ssml(u: Utterance) -> tuple[str, list[tuple[int, int]]]:
    """The SSML spoken for a planned utterance and each word's character span inside it."""
    return _focus_ssml(u) if u.cue == "focus" else _ssml(u)


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

    from tsin_nb.data.espeak import synthesize

    ssml, spans = utterance_ssml(u)
    y, sr, events = synthesize(ssml, u.voice, u.rate, u.pitch, u.range_, u.volume, ssml=True, seed=index)
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
    words = [u.text[a:b].upper() for a, b in word_offsets(u.text)]
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


def _settings(seed: int, n_utterances: int, cues: str = DEFAULT_CUES) -> dict[str, int | str]:
    """What the completion marker records: seed, size, format version and cues."""
    return {"seed": int(seed), "n_utterances": int(n_utterances), "version": FORMAT_VERSION, "cues": cues}


def make_synthetic_corpus(
    root: str | os.PathLike,
    n_utterances: int = DEFAULT_SIZE,
    seed: int = 0,
    progress: bool = True,
    cues: str = DEFAULT_CUES,
) -> Path:
    """Write the synthetic IEMOCAP-format corpus under ``root`` (cached: a complete one is reused).

    ``cues`` names the cue shares (``synth_plan.CUE_SHARES``): ``"four"`` (text, voice, both and focus, whose
    meta rows also name the other candidate word: ``other_word``, ``other_index``, ``other_code``; the default),
    ``"four_near"`` (the same, with the two ``focus`` candidates next to each other or one short word apart)
    or ``"three"`` (text, voice, both: the corpus as first built). The marker records the cues, and a folder
    made with other settings is refused.
    """
    from tqdm.auto import tqdm

    from tsin_nb.core import show_progress
    from tsin_nb.data.espeak import reset

    root = Path(root).expanduser().resolve()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if cues not in CUE_SHARES:
        raise ValueError(f"cues={cues!r}: choose one of {', '.join(CUE_SHARES)}")
    settings = _settings(seed, n_utterances, cues)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; give a folder for the synthetic corpus")
    plan = plan_corpus(n_utterances, seed, cues)  # refuses a size out of range before anything is written
    root.mkdir(parents=True, exist_ok=True)
    if prepare_folder(root, settings, plan):
        return root
    _write(root / PARTIAL, json.dumps(settings).encode())

    focus = "focus" in CUE_SHARES[cues]
    by_dialog: dict[str, list[Utterance]] = {}
    for u in plan:
        by_dialog.setdefault(u.dialog, []).append(u)
    rng = np.random.default_rng([seed, 1])
    rows = []
    bar = tqdm(total=len(plan), desc="synthetic corpus", unit="utt", disable=not show_progress(progress))
    for index, dialog in enumerate(sorted(by_dialog)):
        session_dir = root / f"Session{int(dialog[3:5])}"
        turns = sorted(by_dialog[dialog], key=_turn_order)
        reset()  # each dialog's audio depends on its own plan only, not on what was spoken before
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
            if focus:  # columns of the focus cue, written only by the settings that have it
                rows[-1].update({"other_word": u.other_word, "other_code": u.other_code,
                                 "other_index": u.other_index if u.cue == "focus" else None})
            bar.update(1)
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        _write(session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", (header + "\n".join(blocks)).encode())
        _write(session_dir / "dialog" / "transcriptions" / f"{dialog}.txt", "".join(lines).encode())
    bar.close()
    meta = pd.DataFrame(rows).sort_values("utt_id").reset_index(drop=True)
    if focus:
        meta["other_index"] = meta["other_index"].astype("Int64")  # empty for the other cues, not 5.0
    _write(root / META, meta.to_csv(index=False).encode())
    _write(root / MARKER, json.dumps(settings, indent=1).encode())  # last: the corpus is complete
    (root / PARTIAL).unlink(missing_ok=True)
    return root


def _turn_order(u: Utterance) -> int:
    """Position of ``u`` in its dialog (assigned when the dialog was planned)."""
    return u.turn




def _wdseg_words(path: Path) -> tuple[list[tuple[int, int]], int]:
    """Half-open frame spans of the word rows of a ``.wdseg`` file and the number of frames it covers."""
    spans, n = [], 0
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) != 4:
            continue
        a, b, word = int(parts[0]), int(parts[1]), parts[3]
        n = max(n, b + 1)
        if word not in ("<s>", "</s>", "<sil>"):
            spans.append((a, b + 1))
    return spans, n


def equal_segment_misses(root: str | os.PathLike, cue: str = "focus", n_frames: int | None = None) -> pd.DataFrame:
    """Where the emphasised word of each ``cue`` utterance is (its ``.wdseg`` span) and where equal segments put it.

    Equal segments are the "w/o TA" alignment: with n real frames (``n_frames`` clips them as the feature store
    does) and m words, word j takes frames [floor(j n / m), floor((j + 1) n / m)). ``inside`` is the share of the
    word's true frames that fall in its own segment; ``misplaced`` is True when most of them fall under other
    words' segments. ``under_other`` is the share that falls in the other candidate's segment (``focus`` only, the
    one misplacement that swaps the two answers; NaN for a cue without another candidate). Columns: utt_id,
    n_frames, n_words, index, start, end, seg_start, seg_end, inside, misplaced, under_other.
    """
    root = Path(root)
    meta = pd.read_csv(root / META, keep_default_na=False)
    rows = []
    for u in meta[meta["cue"] == cue].itertuples():
        path = root / f"Session{int(u.session[3:])}" / "sentences" / "ForcedAlignment" / u.dialog / f"{u.utt_id}.wdseg"
        spans, n = _wdseg_words(path)
        n = n if n_frames is None else min(n, n_frames)
        m, j = len(spans), int(u.salient_index)
        a, b = min(spans[j][0], n), min(spans[j][1], n)
        lo, hi = _equal_segment(j, n, m)
        other = str(getattr(u, "other_index", "")).strip()
        under_other = _share_in(a, b, *_equal_segment(int(float(other)), n, m)) if other else float("nan")
        inside = _share_in(a, b, lo, hi)
        rows.append({"utt_id": u.utt_id, "n_frames": n, "n_words": m, "index": j, "start": a, "end": b,
                     "seg_start": lo, "seg_end": hi, "inside": inside, "misplaced": inside < 0.5,
                     "under_other": under_other})
    return pd.DataFrame(rows, columns=["utt_id", "n_frames", "n_words", "index", "start", "end", "seg_start",
                                       "seg_end", "inside", "misplaced", "under_other"])


def _share_in(a: int, b: int, lo: int, hi: int) -> float:
    """The share of frames [a, b) that lie in [lo, hi) (an empty span counts as one frame)."""
    return max(0, min(b, hi) - max(a, lo)) / max(b - a, 1)


def _equal_segment(j: int, n: int, m: int) -> tuple[int, int]:
    """Word ``j``'s equal segment of ``n`` frames among ``m`` words: [floor(j n / m), floor((j + 1) n / m)), at
    least one frame."""
    return j * n // m, max((j + 1) * n // m, j * n // m + 1)
