"""Stage 1, corpus on disk -> manifest: the IEMOCAP reader, the manifest CSV/TSV reader, the checks they
share, the drop report, audio reading, and the embedded synthetic corpus (planned, spoken with espeak-ng and
written in IEMOCAP's layout). A manifest is a table with one row per usable utterance; every row left out is in
``manifest.attrs['skipped']`` with its reason.

Imports ``tsin_nb.core`` only.
"""

from tsin_nb.data.audio import AudioError, load_audio, probe_audio
from tsin_nb.data.corpus import (
    DAMAGED_FILE,
    DEFAULT_LABEL_MAP,
    EXCLUDED_CODES,
    MANIFEST_COLUMNS,
    CorpusError,
    corpus_report,
    has_word,
    parse_utt_id,
    read_text,
    read_wdseg,
    report_damaged,
)
from tsin_nb.data.cues import CUE_COLUMNS, read_synthetic_meta, synthetic_cues
from tsin_nb.data.drops import DROPPED_FILE, report_drops
from tsin_nb.data.espeak import EVENT_WORD, EspeakError, synthesize, synthesize_events
from tsin_nb.data.iemocap import KNOWN_COUNTS, check_known_counts, load_iemocap
from tsin_nb.data.load import inspect, load_corpus
from tsin_nb.data.manifest import blank_cells, load_manifest
from tsin_nb.data.synth import FOCUS_PROSODY, equal_segment_misses, make_synthetic_corpus, utterance_ssml
from tsin_nb.data.synth_plan import (
    CUE_SHARES,
    DEFAULT_CUES,
    DEFAULT_SIZE,
    LEGACY_CUES,
    SMOKE_SIZE,
    WORD_RE,
    focus_pairs,
    plan_corpus,
)

__all__ = [
    "AudioError",
    "WORD_RE",
    "CUE_COLUMNS",
    "CUE_SHARES",
    "CorpusError",
    "DAMAGED_FILE",
    "DEFAULT_LABEL_MAP",
    "DEFAULT_CUES",
    "LEGACY_CUES",
    "DEFAULT_SIZE",
    "DROPPED_FILE",
    "EVENT_WORD",
    "EXCLUDED_CODES",
    "EspeakError",
    "FOCUS_PROSODY",
    "KNOWN_COUNTS",
    "MANIFEST_COLUMNS",
    "SMOKE_SIZE",
    "blank_cells",
    "check_known_counts",
    "corpus_report",
    "equal_segment_misses",
    "focus_pairs",
    "has_word",
    "inspect",
    "load_audio",
    "load_corpus",
    "load_iemocap",
    "load_manifest",
    "make_synthetic_corpus",
    "parse_utt_id",
    "plan_corpus",
    "probe_audio",
    "read_text",
    "read_synthetic_meta",
    "read_wdseg",
    "report_damaged",
    "report_drops",
    "synthesize",
    "synthetic_cues",
    "synthesize_events",
    "utterance_ssml",
]
