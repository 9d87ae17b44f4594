"""The floor every report shows: TF-IDF word and character n-grams with class-balanced logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


def tfidf_features() -> FeatureUnion:
    """Word 1-2 grams and character 2-5 grams: robust to the misspellings of social-media text."""
    return FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                 max_features=100_000)),
    ])


class TfidfBaseline:
    """sklearn-style baseline with the same ``fit`` / ``predict`` / ``predict_proba`` / ``labels`` as the model."""

    def __init__(self, *, class_weight: str | None = "balanced", c: float = 4.0, seed: int = 13) -> None:
        self.pipeline = Pipeline([
            ("tfidf", tfidf_features()),
            ("clf", LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)),
        ])
        self.labels: list[str] = []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfBaseline:
        self.pipeline.fit(list(texts), list(labels))
        self.labels = [str(c) for c in self.pipeline.classes_]
        return self

    def predict_proba(self, texts: Sequence[str] | str) -> np.ndarray:
        return self.pipeline.predict_proba([texts] if isinstance(texts, str) else list(texts))

    def predict(self, texts: Sequence[str] | str) -> list[str]:
        proba = self.predict_proba(texts)
        return [self.labels[i] for i in proba.argmax(1)]
