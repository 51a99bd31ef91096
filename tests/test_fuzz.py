"""Property-based tests of every reader and of the command line (issue 21, item 7).

Damaged inputs are generated with ``hypothesis``: truncations, byte flips, deleted and duplicated lines, missing
delimiters, swapped fields, other encodings and out-of-range numbers. Each property checks that no traceback
escapes the command (exit status 0, 1 or 2, and a status-2 message is one line) and that every utterance id is
accounted for (kept + dropped = all, no overlap). ``make test`` runs a few examples per property (profile
``ci``); ``make fuzz`` runs many more (``HYPOTHESIS_PROFILE=fuzz``).
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from corpora import UTTS, build, write_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_accounting import check_accounting, source_ids
from test_robustness import cli_run

from tsin_nb.data import load_corpus, probe_audio, read_text

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

OPS = ("truncate", "flip", "delete_line", "duplicate_line", "drop_delimiter", "swap_fields", "encoding", "number")
NUMBERS = (b"-1", b"0", b"1e308", b"nan", b"inf", b"99999999999999999999", b"-0.0001", b"7.6.842", b"")
ENCODINGS = ("utf-16", "utf-16-le", "latin-1", "utf-8-sig", "cp1252")
mutations = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=4)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """Apply each (operation, position, value) to ``data``."""
    for op, pos, val in ops:
        lines = data.split(b"\n")
        i = pos % max(1, len(lines))
        if op == "truncate":
            data = data[: pos % (len(data) + 1)]
        elif op == "flip" and data:
            k = pos % len(data)
            data = data[:k] + bytes([data[k] ^ (val or 1)]) + data[k + 1:]
        elif op == "delete_line":
            data = b"\n".join(lines[:i] + lines[i + 1:])
        elif op == "duplicate_line":
            data = b"\n".join(lines[: i + 1] + lines[i:])
        elif op == "drop_delimiter":
            delim = (b"\t", b",", b" ", b"[", b"]", b":", b"-")[val % 7]
            lines[i] = lines[i].replace(delim, b"", 1)
            data = b"\n".join(lines)
        elif op == "swap_fields":
            for delim in (b"\t", b",", b" "):
                fields = lines[i].split(delim)
                if len(fields) > 1:
                    a, b = val % len(fields), (val // 7) % len(fields)
                    fields[a], fields[b] = fields[b], fields[a]
                    lines[i] = delim.join(fields)
                    break
            data = b"\n".join(lines)
        elif op == "encoding":
            data = data.decode("latin-1").encode(ENCODINGS[val % len(ENCODINGS)], errors="replace")
        elif op == "number":
            import re

            nums = list(re.finditer(rb"\d+(\.\d+)?", data))
            if nums:
                m = nums[pos % len(nums)]
                data = data[: m.start()] + NUMBERS[val % len(NUMBERS)] + data[m.end():]
    return data


def no_traceback(argv: list[str]) -> tuple[int, str, str]:
    """Run the command: exit status 0, 1 or 2, never a traceback; a status-2 error is one line."""
    code, out, err = cli_run(*argv)
    assert code in (0, 1, 2) and "Traceback" not in err + out, (code, err[-2000:])
    if code == 2 and err.strip():
        assert len(err.strip().splitlines()) == 1, err
    return code, out, err


def fuzz_tree(glob: str, ops: list[tuple[str, int, int]], pick: int) -> None:
    """Damage one file matching ``glob`` of a small IEMOCAP tree; inspect it; check the accounting."""
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp) / "c", UTTS)
        files = sorted(root.glob(glob))
        target = files[pick % len(files)]
        target.write_bytes(mutate(target.read_bytes(), ops))
        no_traceback(["inspect", str(root)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manifest = load_corpus(root, progress=False)
        check_accounting(manifest, source_ids(root))


@given(ops=mutations, pick=st.integers(0, 100))
def test_emoevaluation_reader(ops, pick):
    fuzz_tree("Session*/dialog/EmoEvaluation/*.txt", ops, pick)


@given(ops=mutations, pick=st.integers(0, 100))
def test_transcription_reader(ops, pick):
    fuzz_tree("Session*/dialog/transcriptions/*.txt", ops, pick)


@given(ops=mutations, pick=st.integers(0, 100))
def test_wdseg_reader(ops, pick):
    fuzz_tree("Session*/sentences/ForcedAlignment/*/*.wdseg", ops, pick)


@given(ops=mutations, pick=st.integers(0, 100))
def test_wav_reader(ops, pick):
    """A damaged wav never raises (probe_audio returns a reason or None) and never takes much memory."""
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp) / "c", UTTS)
        wavs = sorted(root.glob("Session*/sentences/wav/*/*.wav"))
        target = wavs[pick % len(wavs)]
        target.write_bytes(mutate(target.read_bytes(), ops))
        assert probe_audio(target) is None or isinstance(probe_audio(target), str)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_accounting(load_corpus(root, progress=False), source_ids(root))


def manifest_ids(path: Path) -> set[str] | None:
    """The non-empty ids of a manifest as a CSV parser reads them, or None when it cannot be parsed."""
    text, _ = read_text(path)
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except Exception:
        return None
    cols = [c for c in table.columns if str(c).strip().lower() == "utt_id"]
    return {str(u).strip() for u in table[cols[0]]} - {""} if len(cols) == 1 else None


@given(ops=mutations)
def test_manifest_reader(ops):
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "audio"
        audio.mkdir()
        df = write_corpus(audio, lambda label: f"feeling {label}", per_speaker=1)
        path = Path(tmp) / "m.csv"
        df.drop(columns=["words", "dialog", "start", "end"]).to_csv(path, index=False)
        path.write_bytes(mutate(path.read_bytes(), ops))
        code, _, _ = no_traceback(["inspect", str(path)])
        if code == 2:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manifest = load_corpus(path, progress=False)
        kept = set(manifest["utt_id"])
        dropped = [s["utt_id"] for s in manifest.attrs["skipped"] if s["utt_id"]]
        assert not kept & set(dropped) and len(dropped) == len(set(dropped))
        ids = manifest_ids(path)
        if ids is not None:
            assert kept | set(dropped) == ids


@settings(max_examples=25)
@given(flag=st.sampled_from(["--epochs", "--folds", "--jobs", "--threads-per-job", "--jobs-per-gpu", "--seed"]),
       value=st.one_of(st.integers(-10**12, 0), st.sampled_from(["x", "1.5", "", "--", "1e3", "0x10"])))
def test_run_arguments(flag, value):
    """A bad value of any numeric option of ``run`` stops before work with status 2 (0 is fine for --jobs/--seed)."""
    if flag in ("--jobs", "--seed") and value == 0:
        value = -1
    with tempfile.TemporaryDirectory() as tmp:
        code, _, err = cli_run("run", "--corpus", tmp, "--out", str(Path(tmp) / "o"), flag, str(value))
        assert code == 2 and "Traceback" not in err and not (Path(tmp) / "o").exists(), err


@settings(max_examples=25)
@given(size=st.one_of(st.integers(-10**9, 39), st.integers(10**6 + 1, 10**12)), seed=st.integers(-10**9, 2**40))
def test_synth_arguments(size, seed):
    """``synth`` refuses a size or seed out of range before anything is written."""
    with tempfile.TemporaryDirectory() as tmp:
        code, _, err = cli_run("synth", str(Path(tmp) / "c"), "--size", str(size), "--seed", str(seed))
        assert code == 2 and len(err.strip().splitlines()) == 1 and not (Path(tmp) / "c").exists(), err
