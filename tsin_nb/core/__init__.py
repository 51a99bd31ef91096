"""The vocabulary every stage shares: the config (the paper's values and the named presets), emotions,
variants and protocols; seeds, devices, safe folder names and atomic writes; progress bars.

Imports nothing from the rest of ``tsin_nb``; every other stage may import it.
"""

from tsin_nb.core.config import (
    BASELINES,
    EMOTIONS,
    PROTOCOLS,
    SPEECH_NORMS,
    VARIANT_LABELS,
    VARIANTS,
    TSINConfig,
    upgrade_config_dict,
)
from tsin_nb.core.progress import ENV, show_progress
from tsin_nb.core.utils import (
    atomic_torch_save,
    atomic_write_bytes,
    check_fold_dirnames,
    get_device,
    listed,
    safe_fold_dirname,
    set_seed,
    short_sha,
)

__all__ = [
    "BASELINES",
    "EMOTIONS",
    "ENV",
    "PROTOCOLS",
    "SPEECH_NORMS",
    "TSINConfig",
    "VARIANTS",
    "VARIANT_LABELS",
    "atomic_torch_save",
    "atomic_write_bytes",
    "check_fold_dirnames",
    "get_device",
    "listed",
    "safe_fold_dirname",
    "set_seed",
    "short_sha",
    "show_progress",
    "upgrade_config_dict",
]
