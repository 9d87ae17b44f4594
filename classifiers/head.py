"""The quick method: a frozen encoder's mean-pooled embeddings joined with TF-IDF features, under a
class-balanced logistic regression. Trains in minutes on a CPU.

Embeddings alone lose to TF-IDF on these tasks (the encoder was never tuned for them); TF-IDF alone misses
paraphrase. Concatenating both, with the regularisation strength chosen by cross-validation, beats either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from classifiers.baseline import tfidf_features
from classifiers.config import TrainingConfig
from classifiers.encoder import shared_encoder
from classifiers.metrics import compute_metrics

HEAD_FILE = "head.joblib"
C_GRID = (0.5, 2.0, 8.0)


class HeadBackend:
    """Encoder frozen; only the TF-IDF vocabulary and the linear head are learned."""

    def __init__(self, config: TrainingConfig) -> None:
        self.config = config
        self.tfidf = None
        self.clf: LogisticRegression | None = None

    @property
    def encoder(self):
        return shared_encoder(self.config.model, self.config.max_length)

    def _features(self, texts: Sequence[str], embeddings: np.ndarray | None = None, progress: bool = False):
        if embeddings is None:
            embeddings = self.encoder.encode(texts, progress=progress)
        if self.config.features == "embedding":
            return embeddings
        return sparse.hstack([sparse.csr_matrix(embeddings), self.tfidf.transform(texts)], format="csr")

    def _classifier(self, c: float, weights: np.ndarray | None) -> LogisticRegression:
        weight = None if weights is None else {i: float(w) for i, w in enumerate(weights)}
        return LogisticRegression(C=c, class_weight=weight, max_iter=3000, random_state=self.config.seed)

    def fit(self, texts: Sequence[str], y: np.ndarray, weights: np.ndarray | None, score) -> np.ndarray:
        """Fit the head; returns out-of-fold probabilities on the training texts (for threshold tuning)."""
        texts = list(texts)
        embeddings = self.encoder.encode(texts, progress=True)
        if self.config.features != "embedding":
            self.tfidf = tfidf_features().fit(texts)
        x = self._features(texts, embeddings)
        grid = (self.config.head_c,) if self.config.head_c else C_GRID
        best_c, best_oof, best_score = grid[0], None, -1.0
        for c in grid:
            oof = self._out_of_fold(x, y, c, weights)
            value = score(oof)
            if value > best_score:
                best_c, best_oof, best_score = c, oof, value
        self.clf = self._classifier(best_c, weights).fit(x, y)
        return best_oof

    def _out_of_fold(self, x, y: np.ndarray, c: float, weights: np.ndarray | None) -> np.ndarray:
        n_classes = int(y.max()) + 1
        folds = max(2, min(4, int(np.bincount(y).min())))
        oof = np.zeros((len(y), n_classes))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.config.seed)
        for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
            model = self._classifier(c, weights).fit(x[train_idx], y[train_idx])
            oof[np.ix_(test_idx, model.classes_)] = model.predict_proba(x[test_idx])
        return oof

    def predict_proba(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if self.clf is None:
            raise RuntimeError("the head is not trained: call fit() or from_pretrained() first")
        return self.clf.predict_proba(self._features(list(texts), progress=progress))

    def save(self, directory: Path) -> None:
        joblib.dump({"tfidf": self.tfidf, "clf": self.clf}, directory / HEAD_FILE)

    @classmethod
    def load(cls, directory: Path, config: TrainingConfig) -> HeadBackend:
        path = directory / HEAD_FILE
        if not path.exists():
            raise ValueError(f"{directory}: not a trained head model ({HEAD_FILE} is missing)")
        backend = cls(config)
        try:
            state = joblib.load(path)
        except Exception as err:  # a truncated or foreign file: name it instead of a pickle traceback
            raise ValueError(f"{path}: cannot read the trained head ({type(err).__name__}: {err})") from None
        backend.tfidf, backend.clf = state["tfidf"], state["clf"]
        return backend


def oof_score(labels: list[str], y: np.ndarray, metric: str, positive: str | None):
    """A scorer over probability matrices, used to pick C by the task's own metric."""
    def score(proba: np.ndarray) -> float:
        pred = [labels[i] for i in proba.argmax(1)]
        gold = [labels[i] for i in y]
        return compute_metrics(gold, pred, labels, positive)[metric]
    return score
