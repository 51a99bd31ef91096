"""A small ctypes binding to libespeak-ng (shipped by ``espeakng-loader``): text in, samples and word times out.

Layouts follow ``speak_lib.h`` (API revision 12). The library keeps global state, so it is initialized
once per process (again after :func:`reset`) and every call holds one lock.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# espeak_AUDIO_OUTPUT
AUDIO_OUTPUT_RETRIEVAL = 1
AUDIO_OUTPUT_SYNCHRONOUS = 2

# espeak_EVENT_TYPE
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_SENTENCE = 2
EVENT_MARK = 3
EVENT_END = 5
EVENT_MSG_TERMINATED = 6
EVENT_SAMPLERATE = 8

# espeak_POSITION_TYPE
POS_CHARACTER = 1

# espeak_Synth flags
CHARS_UTF8 = 0x1
SSML = 0x10
ENDPAUSE = 0x1000

# espeak_PARAMETER
RATE = 1
VOLUME = 2
PITCH = 3
RANGE = 4
WORDGAP = 7

INITIALIZE_DONT_EXIT = 0x8000
EE_OK = 0


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class EspeakEvent(ctypes.Structure):
    """``espeak_EVENT``: one event of a synthesis callback block."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, 1-based
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # ms within the generated output
        ("sample", ctypes.c_int),  # internal sample id
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(EspeakEvent))


class EspeakError(RuntimeError):
    """libespeak-ng is missing, failed to initialize, or refused a request."""


@dataclass
class _State:
    lib: ctypes.CDLL
    sample_rate: int
    callback: object  # keeps the ctypes callback alive
    chunks: list[np.ndarray]
    events: list[tuple[int, int, int, int, int]]  # (type, text_position, length, audio_ms, sample)
    n_samples: int = 0


_LOCK = threading.RLock()
_STATE: _State | None = None


def _load() -> _State:
    """Load the library, initialize it in synchronous retrieval mode and install the callback."""
    try:
        import espeakng_loader
    except ImportError as err:
        raise EspeakError(
            "the package 'espeakng-loader' is not installed; it ships libespeak-ng "
            "(install the project's dependencies: pip install -e .)"
        ) from err
    lib_path = espeakng_loader.get_library_path()
    try:
        data_path = espeakng_loader.get_data_path()
        lib = ctypes.CDLL(lib_path)
    except (OSError, RuntimeError) as err:
        raise EspeakError(f"cannot load libespeak-ng from {lib_path}: {err}; reinstall espeakng-loader") from err

    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng >= 1.52: seeds the breath-noise generator
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int

    sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), INITIALIZE_DONT_EXIT)
    if sample_rate <= 0:
        raise EspeakError(f"espeak_Initialize failed (returned {sample_rate}) with data path {data_path}")

    state = _State(lib=lib, sample_rate=sample_rate, callback=None, chunks=[], events=[])

    def on_block(wav: ctypes.POINTER(ctypes.c_short), n: int, events: ctypes.POINTER(EspeakEvent)) -> int:
        """Collect one block of samples and its events."""
        if wav and n > 0:
            state.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            state.n_samples += n
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            state.events.append((e.type, e.text_position, e.length, e.audio_position, e.sample))
            i += 1
        return 0

    state.callback = _CALLBACK(on_block)
    lib.espeak_SetSynthCallback(state.callback)
    return state


def _state() -> _State:
    """The process-wide initialized library (initialized on first use)."""
    global _STATE
    with _LOCK:
        if _STATE is None:
            _STATE = _load()
        return _STATE


def reset() -> None:
    """Unload the library so the next call starts from a fresh state.

    The output of libespeak-ng depends slightly on what it spoke before (its pitch flutter and
    wave generator keep running state), so callers that need reproducible audio reset first.
    """
    global _STATE
    with _LOCK:
        if _STATE is None:
            return
        lib = _STATE.lib
        lib.espeak_Terminate()
        _STATE = None
        import _ctypes

        close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
        if close is not None:
            close(lib._handle)


def sample_rate() -> int:
    """The library's output rate in Hz (22050 for the shipped voices)."""
    return _state().sample_rate


def set_voice(voice: str) -> None:
    """Select a voice by name, e.g. ``en-us+f2``; raise ``EspeakError`` when it is unknown."""
    st = _state()
    with _LOCK:
        if st.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise EspeakError(f"unknown espeak voice {voice!r}; try e.g. 'en-us', 'en-us+f2' or 'en+m3'")


def _set(param: int, value: int, name: str) -> None:
    """``espeak_SetParameter`` with an absolute value; raise on refusal."""
    if _state().lib.espeak_SetParameter(param, int(value), 0) != EE_OK:
        raise EspeakError(f"espeak refused {name}={value}")


class Event(NamedTuple):
    """One synthesis event; ``text_position`` is a 0-based character index into the text passed."""

    type: int
    text_position: int
    length: int
    audio_ms: int
    sample: int


def synthesize_events(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    range_: int = 50,
    volume: int = 100,
    ssml: bool = False,
    seed: int | None = 0,
) -> tuple[np.ndarray, int, list[Event]]:
    """Speak ``text``: float32 samples at the library rate, the rate, and every event in order.

    ``seed`` reseeds the library's noise generator first (None keeps its running state).
    """
    st = _state()
    data = text.encode("utf-8") + b"\0"
    buf = ctypes.create_string_buffer(data)
    flags = CHARS_UTF8 | (SSML if ssml else 0)
    with _LOCK:
        set_voice(voice)
        _set(RATE, rate, "rate")
        _set(PITCH, pitch, "pitch")
        _set(RANGE, range_, "range")
        _set(VOLUME, volume, "volume")
        if seed is not None and hasattr(st.lib, "espeak_ng_SetRandSeed"):
            st.lib.espeak_ng_SetRandSeed(seed)
        st.chunks, st.events, st.n_samples = [], [], 0
        err = st.lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, flags, None, None)
        chunks, events = st.chunks, st.events
        st.chunks, st.events, st.n_samples = [], [], 0
    if err != EE_OK:
        raise EspeakError(f"espeak_Synth failed (error {err}) for text {text[:60]!r}")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    # the library reports 1-based character positions
    return samples, st.sample_rate, [Event(t, max(pos - 1, 0), n, ms, smp) for t, pos, n, ms, smp in events]


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    range_: int = 50,
    volume: int = 100,
    ssml: bool = False,
    seed: int | None = 0,
) -> tuple[np.ndarray, int, list[tuple[int, int, int]]]:
    """Speak ``text``: float32 samples at the library rate (22050 Hz), the rate, and the words.

    Each word is ``(text_position, char_length, start_sample)``; ``text_position`` is a 0-based
    character index into ``text`` (SSML markup counted when ``ssml``). The library merges some
    word pairs (e.g. "I am") into one event, so not every word of the text gets an entry.
    The audio also depends a little on what the library spoke before; see :func:`reset`.
    """
    samples, sr, events = synthesize_events(text, voice, rate, pitch, range_, volume, ssml, seed)
    words = [(e.text_position, e.length, e.sample) for e in events if e.type == EVENT_WORD]
    return samples, sr, words
