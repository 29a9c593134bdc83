"""Shared logic of the training and evaluation scripts: arguments, data, model set-up, metrics, model cards.

Importing this package first (the `run_*.py` scripts and `inference` do) also hides one warning that is false here.
"""

import modeling._quiet_logs  # noqa: F401  (hides a false bitsandbytes warning before anything imports it)
