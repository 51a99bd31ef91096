"""Stage 6, what a reader sees: figures (inputs, results, alignments), the ipywidgets alignment viewer,
the architecture diagram, alignment-quality and per-cue measures, and the facts behind each notebook note.

Imports every stage above it; nothing imports it except the notebooks, ``workbook`` and ``cli``.
"""

from tsin_nb.show.alignment import alignment_quality, attention_in_span, upsample_alignment
from tsin_nb.show.alignment_plots import plot_alignment, plot_alignment_quality
from tsin_nb.show.diagnostics import (
    cue_accuracy,
    embedding_silhouettes,
    load_predictions,
    plot_cue_accuracy,
    read_cues,
    silhouette,
    silhouette_table,
)
from tsin_nb.show.diagram import add_colorbars, architecture_shapes, plot_architecture
from tsin_nb.show.input_plots import (
    plot_dataset_stats,
    plot_speech_steps,
    plot_text_steps,
    plot_weight_normalization,
)
from tsin_nb.show.notes import (
    alignment_text,
    confusion_text,
    cue_text,
    curve_text,
    did_not_train,
    embeddings_text,
    eq8_text,
    literal_run_text,
    loop_text,
    salient_text,
    show_note,
    silhouette_text,
    status_facts,
    status_line,
    table_five_text,
    table_one_text,
    test_vs_val_text,
)
from tsin_nb.show.notes_inputs import (
    cue_share_text,
    dataset_text,
    folds_text,
    padding_text,
    speech_steps_text,
    store_text,
    text_steps_text,
)
from tsin_nb.show.plotting import emotion_color, emotion_marker, save_figure, variant_label
from tsin_nb.show.result_plots import (
    embed_2d,
    plot_confusion,
    plot_confusions,
    plot_embeddings,
    plot_table_bars,
    plot_training_curves,
)
from tsin_nb.show.settings_table import TOPICS, paper_vs_run
from tsin_nb.show.widgets import AlignmentRecord, AlignmentViewer, records_from_arrays

__all__ = [
    "AlignmentRecord",
    "AlignmentViewer",
    "TOPICS",
    "add_colorbars",
    "alignment_quality",
    "alignment_text",
    "architecture_shapes",
    "attention_in_span",
    "confusion_text",
    "cue_accuracy",
    "cue_share_text",
    "cue_text",
    "curve_text",
    "dataset_text",
    "did_not_train",
    "embed_2d",
    "embedding_silhouettes",
    "embeddings_text",
    "emotion_color",
    "emotion_marker",
    "eq8_text",
    "folds_text",
    "literal_run_text",
    "load_predictions",
    "loop_text",
    "padding_text",
    "paper_vs_run",
    "plot_alignment",
    "plot_alignment_quality",
    "plot_architecture",
    "plot_confusion",
    "plot_confusions",
    "plot_cue_accuracy",
    "plot_dataset_stats",
    "plot_embeddings",
    "plot_speech_steps",
    "plot_table_bars",
    "plot_text_steps",
    "plot_training_curves",
    "plot_weight_normalization",
    "read_cues",
    "records_from_arrays",
    "salient_text",
    "save_figure",
    "show_note",
    "silhouette",
    "silhouette_table",
    "silhouette_text",
    "status_facts",
    "status_line",
    "speech_steps_text",
    "store_text",
    "table_five_text",
    "table_one_text",
    "test_vs_val_text",
    "text_steps_text",
    "upsample_alignment",
    "variant_label",
]
