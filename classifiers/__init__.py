"""Balanced BERT-family classifiers for health posts: data loading, training, evaluation."""

from classifiers.baseline import TfidfBaseline
from classifiers.config import TrainingConfig
from classifiers.data import DataError, Table, load_table, validate
from classifiers.metrics import compute_metrics
from classifiers.model import TextClassifier

__all__ = ["DataError", "Table", "TextClassifier", "TfidfBaseline", "TrainingConfig", "compute_metrics",
           "load_table", "validate"]
