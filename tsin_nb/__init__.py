"""tsin_nb: the TSIN workbook's package, one subpackage per stage of the data flow.

``core`` (config, shared vocabulary) -> ``data`` (corpus -> manifest) -> ``features`` (manifest -> feature store)
-> ``model`` (TSIN and its ablations) -> ``train`` (one fold) -> ``runs`` (folds, jobs, results, reproduction)
-> ``show`` (figures, viewer, notes); ``workbook`` (a notebook's setup) and ``cli`` (the ``tsin-nb`` command) sit
on top (``cli_checks`` validates its arguments). Imports only go downstream; each name is imported from its stage (``from tsin_nb.model import TSIN``).
"""

__version__ = "0.1.0"
