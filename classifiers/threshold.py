"""Decision threshold for binary tasks, tuned for positive-class F1 (the SMM4H Task 1/4 metric)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve


def tune_threshold(y: np.ndarray, positive_scores: np.ndarray, positive_index: int) -> float:
    """The score cut-off that maximises positive-class F1 on held-out predictions.

    Returns 0.5 when there is no positive example to tune on.
    """
    gold = (np.asarray(y) == positive_index).astype(int)
    if gold.sum() == 0 or gold.sum() == len(gold):
        return 0.5
    precision, recall, thresholds = precision_recall_curve(gold, positive_scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    best = int(np.argmax(f1))
    return float(thresholds[best])
