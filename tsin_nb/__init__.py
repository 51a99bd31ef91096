"""tsin_nb: data, features, model, training, evaluation and plots for the TSIN workbook."""

from tsin_nb.config import EMOTIONS, PROTOCOLS, VARIANTS, TSINConfig

__all__ = ["EMOTIONS", "PROTOCOLS", "VARIANTS", "TSINConfig"]
__version__ = "0.1.0"
