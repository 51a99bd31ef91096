"""Stage 5, many folds: the SesI / SpkI / SpkD folds, protocol x variant x fold as jobs (serial, local
processes or a Dask cluster) with one writer per fold folder, each fold tied to its content, results on disk
and read back (Tables I and V), and the papermill reproduction of every notebook with the run's summary
(``summary``: the one file every README number comes from).

Paired differences between variants carry a 95 % interval over folds and seeds (``intervals``).

Imports every stage above it (``core``, ``data``, ``features``, ``model``, ``train``), never ``show``.
"""

from tsin_nb.runs.ablations import embedding_means, table_five_bars, table_five_record, train_embeddings
from tsin_nb.runs.content import (
    CONTENT_FILE,
    content_changes,
    content_record,
    fold_content,
    read_content,
    tie_fold_to_content,
    write_content,
)
from tsin_nb.runs.experiment import STATUS_COLUMNS, STATUSES, fold_status, run_experiment, run_fold
from tsin_nb.runs.folds import Fold, check_fold, fold_summary, make_folds
from tsin_nb.runs.intervals import (
    INTERVAL_METHODS,
    VERDICTS,
    PairedDifference,
    compare,
    compare_each,
    comparison_table,
    mean_intervals,
    paired_difference,
    paired_units,
)
from tsin_nb.runs.jobs import (
    CONNECT_TIMEOUT_S,
    TRIM_SETTING,
    JobsFailed,
    Plan,
    connect,
    cpu_cores,
    local_cluster,
    plan_jobs,
    torch_threads,
)
from tsin_nb.runs.locks import LOCK, LOCK_STALE_S, FoldBusy, acquire_lock, release_lock
from tsin_nb.runs.params import default_figures_dir
from tsin_nb.runs.reproduction import EXPECTED_FIGURES, NOTEBOOKS, REPO, notebook_paths, reproduce
from tsin_nb.runs.results import (
    PAPER_TABLE_FIVE,
    PAPER_TABLE_ONE,
    PAPER_TABLE_ONE_MEAN,
    SPKD_NOTE,
    TABLE_FIVE_ROWS,
    fold_dirs,
    format_tables,
    load_metrics,
    load_outputs,
    load_results,
    table_five,
    table_one,
)
from tsin_nb.runs.summary import (
    FIGURE_KEY,
    RUN_ENV,
    SUMMARY_NAME,
    cpu_info,
    current_run,
    load_summary,
    record,
    summary_path,
)

__all__ = [
    "embedding_means",
    "table_five_bars",
    "table_five_record",
    "train_embeddings",
    "FIGURE_KEY",
    "RUN_ENV",
    "SUMMARY_NAME",
    "cpu_info",
    "current_run",
    "load_summary",
    "record",
    "summary_path",
    "CONNECT_TIMEOUT_S",
    "CONTENT_FILE",
    "EXPECTED_FIGURES",
    "Fold",
    "FoldBusy",
    "INTERVAL_METHODS",
    "JobsFailed",
    "LOCK",
    "LOCK_STALE_S",
    "NOTEBOOKS",
    "PAPER_TABLE_FIVE",
    "PAPER_TABLE_ONE",
    "PAPER_TABLE_ONE_MEAN",
    "PairedDifference",
    "Plan",
    "REPO",
    "SPKD_NOTE",
    "STATUSES",
    "STATUS_COLUMNS",
    "TABLE_FIVE_ROWS",
    "TRIM_SETTING",
    "VERDICTS",
    "acquire_lock",
    "check_fold",
    "compare",
    "compare_each",
    "comparison_table",
    "mean_intervals",
    "connect",
    "content_changes",
    "content_record",
    "cpu_cores",
    "default_figures_dir",
    "fold_content",
    "fold_dirs",
    "fold_status",
    "fold_summary",
    "format_tables",
    "load_metrics",
    "load_outputs",
    "load_results",
    "local_cluster",
    "make_folds",
    "notebook_paths",
    "paired_difference",
    "paired_units",
    "plan_jobs",
    "read_content",
    "release_lock",
    "reproduce",
    "run_experiment",
    "run_fold",
    "table_five",
    "table_one",
    "tie_fold_to_content",
    "torch_threads",
    "write_content",
]
