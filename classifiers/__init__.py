"""Balanced BERT-family classifiers for health posts: data loading, training, evaluation.

Exports resolve lazily, so ``from classifiers.data import load_table`` (used by ``augment``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataError": "classifiers.data", "Table": "classifiers.data", "load_table": "classifiers.data",
    "validate": "classifiers.data", "TrainingConfig": "classifiers.config", "compute_metrics": "classifiers.metrics",
    "TfidfBaseline": "classifiers.baseline", "TextClassifier": "classifiers.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'classifiers' has no attribute {name!r}")
