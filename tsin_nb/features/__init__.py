"""Stage 2, manifest -> feature store: log-Mel speech features with deltas, word vectors from a BERT-family
model (or one-hot, random, static vectors), word spans in frames, all cached on disk by content and settings.

Imports ``tsin_nb.core`` and ``tsin_nb.data``.
"""

from tsin_nb.features.build import (
    FEATURE_FIELDS,
    build_feature_store,
    build_store_twice,
    config_for_store,
    feature_settings,
    features_main,
    frame_statistics,
    speaker_standardised,
    summarize,
)
from tsin_nb.features.cache import hash_key, wav_stamp
from tsin_nb.features.embedders import (
    OneHotEmbedder,
    RandomEmbedder,
    StaticEmbedder,
    Subwords,
    TextEmbedder,
    TransformerEmbedder,
    embedder_class,
    make_embedder,
    minilm_path,
)
from tsin_nb.features.speech import (
    add_deltas,
    delta_width,
    frame_lengths,
    logmel_features,
    logmel_steps,
    num_frames,
    pad_or_truncate,
    trim_silence,
)
from tsin_nb.features.store import FeatureStore
from tsin_nb.features.text import EMPTY_WORD, split_tokens, split_words, time_to_frame, word_spans
from tsin_nb.features.text_spec import check_text_model

__all__ = [
    "EMPTY_WORD",
    "FeatureStore",
    "OneHotEmbedder",
    "RandomEmbedder",
    "StaticEmbedder",
    "Subwords",
    "TextEmbedder",
    "TransformerEmbedder",
    "add_deltas",
    "build_feature_store",
    "build_store_twice",
    "check_text_model",
    "FEATURE_FIELDS",
    "config_for_store",
    "feature_settings",
    "delta_width",
    "embedder_class",
    "features_main",
    "frame_lengths",
    "hash_key",
    "logmel_features",
    "logmel_steps",
    "make_embedder",
    "minilm_path",
    "num_frames",
    "pad_or_truncate",
    "trim_silence",
    "frame_statistics",
    "speaker_standardised",
    "split_tokens",
    "split_words",
    "summarize",
    "time_to_frame",
    "wav_stamp",
    "word_spans",
]
