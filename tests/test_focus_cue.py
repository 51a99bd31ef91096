"""The focus cue: which of two emotion words is emphasised, and nothing else, tells the class."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsin_nb.data import (
    CUE_SHARES,
    DEFAULT_CUES,
    FOCUS_PROSODY,
    SMOKE_SIZE,
    equal_segment_misses,
    focus_pairs,
    make_synthetic_corpus,
    plan_corpus,
    utterance_ssml,
)
from tsin_nb.data import synth_plan as P

# sha256 of the default plan (the fields it had before the focus cue), recorded before the focus cue was added:
# the default corpus must stay byte for byte what it was.
DEFAULT_PLAN_DIGESTS = {
    (1000, 0): "90593937fedf5e94dfc39efb5c48ebe22e80d5da43b172fddd91c42886af7386",
    (SMOKE_SIZE, 0): "cf1273fa9f3f10183a12edadaf72b1d7757d4799e263825bf13fa81245c8a53a",
    (1200, 1): "d1607bdb39b58ba8b1ceda2918444cfbde8fd5531a31db1398d8ac35dc004098",
}
FOCUS_FIELDS = {"other_word", "other_index", "other_code", "pauses", "slow"}
# sha256 of the whole four-cue plan (every field), recorded when the "four_near" setting was added beside it.
FOUR_PLAN_DIGESTS = {
    (1000, 0): "34bd9b2d57cf158cc61ed41e040f5fec588b25f44ec0d675ac988823a6eee0c1",
    (SMOKE_SIZE, 0): "d2480177015781cca3eaa847ee518e2ee9cc6bf25574591738527bc1ce55e07b",
}
FOCUS_SETTINGS = ("four", "four_near")


def _class(code: str) -> str:
    return "hap" if code in ("hap", "exc") else code


@functools.cache
def _focus(n: int = 2000, seeds: tuple[int, ...] = (0, 1, 2), cues: str = "four") -> tuple[P.Utterance, ...]:
    """The focus utterances of four-cue plans (planned once per test session; do not modify them)."""
    return tuple(u for s in seeds for u in plan_corpus(n, s, cues=cues) if u.cue == "focus")


@pytest.mark.parametrize(("size", "seed"), list(DEFAULT_PLAN_DIGESTS))
def test_the_three_cue_plan_is_unchanged(size: int, seed: int) -> None:
    plan = plan_corpus(size, seed, cues="three")
    assert DEFAULT_CUES == "four" and {u.cue for u in plan} == {"text", "voice", "both", "none"}
    assert all(u.other_index == -1 and not u.other_word and not u.pauses for u in plan)
    rows = [{k: v for k, v in dataclasses.asdict(u).items() if k not in FOCUS_FIELDS} for u in plan]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    assert digest == DEFAULT_PLAN_DIGESTS[(size, seed)]


@pytest.mark.parametrize(("size", "seed"), list(FOUR_PLAN_DIGESTS))
def test_the_four_cue_plan_is_unchanged(size: int, seed: int) -> None:
    """The reported corpus: another cue setting beside it leaves every draw of its plan as it was."""
    rows = [dataclasses.asdict(u) for u in plan_corpus(size, seed, cues="four")]
    assert hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest() == FOUR_PLAN_DIGESTS[(size, seed)]


@pytest.mark.parametrize("cues", FOCUS_SETTINGS)
def test_four_cues_share_every_class(cues: str) -> None:
    plan = plan_corpus(1000, 0, cues=cues)
    counts = Counter(u.cue for u in plan if u.cue != "none")
    assert set(counts) == set(CUE_SHARES[cues]) == {"text", "voice", "both", "focus"}
    assert all(abs(c / sum(counts.values()) - 0.25) < 0.02 for c in counts.values())
    with pytest.raises(ValueError, match="cues='five'"):
        plan_corpus(100, 0, cues="five")


def test_near_candidates_are_next_to_each_other() -> None:
    """``four_near``: the candidates are one or two words apart (``four``: at least two), in its own templates."""
    near, apart = _focus(cues="four_near"), _focus()  # the cached plans of the tests below
    gap = Counter(abs(u.other_index - u.salient_index) for u in near)
    assert set(gap) == {1, 2} and min(gap.values()) > 0.2 * len(near)
    assert min(abs(u.other_index - u.salient_index) for u in apart) >= 2
    assert Counter(u.template for u in near).keys() == set(range(len(P.FOCUS_NEAR_TEMPLATES)))
    for u in near:
        pattern = P.FOCUS_NEAR_TEMPLATES[u.template]
        a, b = (u.salient_word, u.other_word) if u.salient_index < u.other_index else (u.other_word, u.salient_word)
        assert u.text == pattern.replace("{a}", a).replace("{b}", b)


@pytest.mark.parametrize("cues", FOCUS_SETTINGS)
def test_candidates_are_emotion_words_of_two_classes_and_the_label_is_the_emphasised_one(cues: str) -> None:
    for u in _focus(1000, (0,), cues):
        words = [u.text[a:b] for a, b in P.word_offsets(u.text)]
        assert words[u.salient_index] == u.salient_word == u.emotion_word
        assert words[u.other_index] == u.other_word and u.other_index != u.salient_index
        assert u.salient_word in P.WORDS[u.code][0] + P.WORDS[u.code][1]  # the label's class word ...
        assert u.other_word in P.WORDS[u.other_code][0] + P.WORDS[u.other_code][1]  # ... and another class's
        assert _class(u.code) != _class(u.other_code)
        assert not any(w.lower() in P.FILLERS for w in words)


@pytest.mark.parametrize("cues", FOCUS_SETTINGS)
def test_each_candidate_position_is_the_label_half_the_time(cues: str) -> None:
    focus = _focus(cues=cues)
    first = np.array([u.salient_index < u.other_index for u in focus])
    assert len(focus) > 1000 and abs(first.mean() - 0.5) < 0.04
    for key in (lambda u: _class(u.code), lambda u: u.template):  # whatever the class or the template
        groups: dict[object, list[bool]] = {}
        for u, f in zip(focus, first):
            groups.setdefault(key(u), []).append(bool(f))
        assert all(abs(np.mean(g) - 0.5) < 0.2 for g in groups.values() if len(g) >= 40)


def test_the_pair_of_classes_does_not_tell_which_is_the_label() -> None:
    # by construction: P(label class a, other class b) = P(label b, other a)
    q, share = focus_pairs(), {k: v / sum(P.CLASS_SHARE.values()) for k, v in P.CLASS_SHARE.items()}
    for a in q:
        assert sum(q[a].values()) == pytest.approx(1.0)
        for b in q[a]:
            assert share[a] * q[a][b] == pytest.approx(share[b] * q[b][a])
    # and in the drawn plans: within each unordered pair, either class is the label about half the time
    pairs = Counter((_class(u.code), _class(u.other_code)) for u in _focus() + _focus(cues="four_near"))
    for (a, b), n_ab in pairs.items():
        n = n_ab + pairs.get((b, a), 0)
        assert abs(n_ab / n - 0.5) < 4 * 0.5 / np.sqrt(n), (a, b, n_ab, n)


@pytest.mark.parametrize("cues", FOCUS_SETTINGS)
def test_the_emphasis_is_the_same_for_every_class_and_the_rest_is_neutral(cues: str) -> None:
    focus = _focus(1000, (0,), cues)
    for u in focus:
        ssml, spans = utterance_ssml(u)
        a, b = spans[u.salient_index]
        assert ssml[a:b] == u.salient_word
        assert ssml[:a].endswith(f'<emphasis level="strong">{FOCUS_PROSODY}') and ssml.count("<emphasis") == 1
        x, y = spans[u.other_index]
        assert ssml[x:y] == u.other_word and not re.search(r"<(emphasis|prosody)[^>]*>$", ssml[:x])
        assert not ssml[y:].startswith("</")
        assert u.emphasis == "strong"
    # the voice is drawn around the neutral prosody for every class: class means of rate and pitch stay close
    df = pd.DataFrame([(_class(u.code), u.rate, u.pitch, u.volume) for u in focus],
                      columns=["cls", "rate", "pitch", "volume"])
    spread = df.groupby("cls")[["rate", "pitch", "volume"]].mean().agg(np.ptp)
    assert spread["rate"] < 8 and spread["pitch"] < 4 and spread["volume"] < 8


@pytest.mark.parametrize("cues", FOCUS_SETTINGS)
def test_text_alone_cannot_decide_a_focus_utterance(cues: str) -> None:
    """A linear model of the words (bag of words, as the mean word vector sees them) picks a candidate at chance."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train, test = _focus(2000, (0, 1), cues), _focus(2000, (2,), cues)
    vec = CountVectorizer(token_pattern=r"[A-Za-z']+")
    X = vec.fit_transform([u.text for u in train])
    model = LogisticRegression(max_iter=2000, C=1.0).fit(X, [_class(u.code) for u in train])
    pred = model.predict(vec.transform([u.text for u in test]))
    truth = np.array([_class(u.code) for u in test])
    other = np.array([_class(u.other_code) for u in test])
    picked = (pred == truth) | (pred == other)
    assert picked.mean() > 0.8  # the words do narrow it down to the two candidates ...
    assert abs((pred == truth)[picked].mean() - 0.5) < 0.06  # ... and no further


def test_spoken_focus_corpus(tmp_path: Path) -> None:
    root = make_synthetic_corpus(tmp_path / "c", SMOKE_SIZE, seed=0, progress=False, cues="four")
    assert json.loads((root / ".tsin_synth.json").read_text())["cues"] == "four"
    meta = pd.read_csv(root / "synthetic_meta.csv", keep_default_na=False)
    focus = meta[meta["cue"] == "focus"]
    assert len(focus) >= 15 and (meta.loc[meta["cue"] != "focus", "other_word"] == "").all()
    assert (meta.loc[meta["cue"] != "focus", "other_index"] == "").all()
    assert (focus["other_index"].astype(int) != focus["salient_index"]).all()
    misses = equal_segment_misses(root)
    assert len(misses) == len(focus) and misses["misplaced"].mean() > 0.25  # a sizeable share
    # another setting in the same folder is refused; the default is this one
    with pytest.raises(ValueError, match="already holds a synthetic corpus"):
        make_synthetic_corpus(root, SMOKE_SIZE, seed=0, progress=False, cues="three")
    assert make_synthetic_corpus(root, SMOKE_SIZE, seed=0, progress=False) == root


def test_a_corpus_written_before_the_cue_setting_is_a_three_cue_one(tmp_path: Path) -> None:
    """Markers written before ``cues`` existed name none: that corpus has three cues, not today's default."""
    root = tmp_path / "c"
    root.mkdir()
    (root / ".tsin_synth.json").write_text(json.dumps({"seed": 0, "n_utterances": 40, "version": 1}))
    with pytest.raises(ValueError, match="already holds a synthetic corpus"):
        make_synthetic_corpus(root, 40, seed=0, progress=False)
    assert make_synthetic_corpus(root, 40, seed=0, progress=False, cues="three") == root.resolve()


def test_seen_word_groups_split_each_test_utterance_once() -> None:
    """word_seen_groups: a shared synonym is seen, a word only the test session uses is not; nothing lost.

    known_words: what a fold's model read, the words of every utterance outside its test ids."""
    from tsin_nb.show import known_words, word_seen_groups

    by_hand = pd.DataFrame({"cue": ["text", "text", "focus", "voice"],
                            "text": ["I am glad.", "I am Elated!", "Glad, then sad.", "I am fine."],
                            "emotion_word": ["glad", "elated", "", ""], "salient_word": ["", "", "Glad", "fine"]},
                           index=["a", "b", "c", "d"])
    assert word_seen_groups(by_hand, [{"b", "c"}, {"a", "d"}]) == {
        "words, seen": {"a"}, "words, unseen": {"b"}, "focus, seen": {"c"}}  # "glad" of a trains fold 1; "elated" is new
    assert known_words(by_hand, {"b", "c"}) == {"i", "am", "glad", "fine"}  # lower case, the test ids' words left out

    plan = plan_corpus(1000, 0, cues="four")
    meta = pd.DataFrame([{"cue": u.cue, "text": u.text, "emotion_word": u.emotion_word if u.cue == "text" else "",
                          "salient_word": u.salient_word, "session": u.session} for u in plan],
                        index=[f"u{i}" for i in range(len(plan))])
    tests = [set(g.index) for _, g in meta.groupby("session")]
    groups = word_seen_groups(meta, tests)
    decided = set(meta.index[meta["cue"].isin(["text", "focus"])])
    assert sorted(u for g in groups.values() for u in g) == sorted(decided)  # each one exactly once
    shared = {w for sh, _ in P.WORDS.values() for w in sh}
    for key, ids in groups.items():
        words = {str(meta.at[u, "emotion_word"] or meta.at[u, "salient_word"]).lower() for u in ids}
        assert (words <= shared) if key.endswith(", seen") else not (words & shared), key
    assert all(len(groups[k]) > 20 for k in ("words, seen", "words, unseen", "focus, seen", "focus, unseen"))


def test_spoken_near_focus_corpus(tmp_path: Path) -> None:
    """``four_near`` is its own corpus: its marker says so, and the default setting refuses its folder."""
    from tsin_nb.cli import build_parser

    cues_arg = next(a for a in build_parser()._subparsers._group_actions[0].choices["synth"]._actions
                    if a.dest == "cues")
    assert set(cues_arg.choices) == set(CUE_SHARES)  # the command line offers every setting
    root = make_synthetic_corpus(tmp_path / "n", SMOKE_SIZE, seed=0, progress=False, cues="four_near")
    assert json.loads((root / ".tsin_synth.json").read_text())["cues"] == "four_near"
    meta = pd.read_csv(root / "synthetic_meta.csv", keep_default_na=False)
    focus = meta[meta["cue"] == "focus"]
    assert len(focus) >= 15 and ((focus["other_index"].astype(int) - focus["salient_index"]).abs() <= 2).all()
    assert set(focus["template"]) <= set(range(len(P.FOCUS_NEAR_TEMPLATES)))
    with pytest.raises(ValueError, match="already holds a synthetic corpus"):
        make_synthetic_corpus(root, SMOKE_SIZE, seed=0, progress=False)
    assert len(equal_segment_misses(root)) == len(focus)


def test_equal_segment_misses_by_hand(tmp_path: Path) -> None:
    """Three words over 100 frames; the emphasised word (index 1) spans frames 30-69, the other candidate is 2."""
    wdseg = tmp_path / "Session1" / "sentences" / "ForcedAlignment" / "Ses01F_x"
    wdseg.mkdir(parents=True)
    rows = [(0, 9, "<s>"), (10, 29, "ONE"), (30, 69, "TWO"), (70, 89, "THREE"), (90, 99, "</s>")]
    (wdseg / "Ses01F_x_F000.wdseg").write_text("SFrm EFrm SegAScr Word\n"
                                               + "".join(f"{a} {b} -100 {w}\n" for a, b, w in rows))
    pd.DataFrame([{"utt_id": "Ses01F_x_F000", "session": "Ses01", "dialog": "Ses01F_x", "cue": "focus",
                   "salient_index": 1, "other_index": 2}]).to_csv(tmp_path / "synthetic_meta.csv", index=False)
    m = equal_segment_misses(tmp_path).iloc[0]  # segments [0, 33), [33, 66), [66, 100)
    assert (m["seg_start"], m["seg_end"], m["start"], m["end"]) == (33, 66, 30, 70)
    assert m["inside"] == pytest.approx(33 / 40) and m["under_other"] == pytest.approx(4 / 40) and not m["misplaced"]
    m = equal_segment_misses(tmp_path, n_frames=50).iloc[0]  # clipped: [0, 16), [16, 33), [33, 50); span [30, 50)
    assert m["inside"] == pytest.approx(3 / 20) and m["under_other"] == pytest.approx(17 / 20) and m["misplaced"]


def test_candidate_energy_by_hand() -> None:
    """Three alignments read the candidates' loudness; each share worked out by hand on two utterances."""
    import torch

    from tsin_nb.features import FeatureStore
    from tsin_nb.show import candidate_energy

    energy = torch.tensor([
        [0, 0, 0, 5, 5, 5, 5, 5, 1, 1, 100, 100],  # a: emphasised word 2 on frames 3-7, the other (3) on 8-9
        [1, 1, 1, 1, 9, 1, 1, 2, 2, 2, 100, 100],  # b: emphasised word 2 on frame 4 only, the other (3) on 5-9
        [0] * 12,  # c: the other candidate has no span
        [0] * 12,  # d: not a focus utterance
    ], dtype=torch.float32)
    speech = energy[:, :, None].repeat(1, 1, 3)  # the mean over 3 bands is the energy
    speech_mask = torch.zeros(4, 12, dtype=torch.bool)
    speech_mask[:, :10] = True  # the two loud frames at the end are padding
    spans = [[(0, 2), (2, 3), (3, 8), (8, 10)], [(0, 3), (3, 4), (4, 5), (5, 10)], [(0, 3), (3, 4), (4, 5), None],
             [(0, 3), (3, 4), (4, 5), (5, 10)]]
    store = FeatureStore(["a", "b", "c", "d"], speech, speech_mask, torch.zeros(4, 4, 2),
                         torch.ones(4, 4, dtype=torch.bool), torch.zeros(4, dtype=torch.long), [["w"] * 4] * 4, spans)
    meta = pd.DataFrame({"cue": ["focus", "focus", "focus", "text"], "salient_index": [2, 2, 2, 2],
                         "other_index": [3, 3, 3, pd.NA]}, index=["a", "b", "c", "d"])
    table = candidate_energy(store, meta, prior_width=0.05)
    # true spans: a 5 > 1, b 9 > 1.6.  Equal segments of 10 frames over 4 words, [0,2) [2,5) [5,7) [7,10):
    # a 5 > 7/3, b 1 < 2.  Prior (width 0.05) around (j + 1/2) / 4 = 0.625 and 0.875: word 2 reads frames 5-7
    # (a: all 5; b: about 1.05), word 3 frames 7-9 (a: about 1.14; b: 2): a louder, b not.
    assert list(table.index) == ["true span", "equal segment (w/o TA)", "word-order prior"]
    assert table["louder"].tolist() == [100.0, 50.0, 50.0] and (table["utterances"] == 2).all()
    assert (table["low"] < table["louder"]).all() and (table["high"] <= 100).all()
    assert table.loc["equal segment (w/o TA)", ["low", "high"]].tolist() == pytest.approx([9.45, 90.55], abs=0.01)
    assert candidate_energy(store, meta, prior_width=0.0).equals(table.iloc[:2])  # a run without the prior
    assert candidate_energy(store, meta.assign(cue="text"), 0.05).empty
