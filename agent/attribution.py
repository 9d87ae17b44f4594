"""Which words drove BERT's prediction: occlusion in one batched ``predict_proba`` call.

Each variant of the post drops one word (or a small window of words in long posts); a word matters as much as
the probability of the predicted label falls without it. Cheap, model-agnostic, and faithful to the classifier.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

WORD = re.compile(r"[\w][\w'’\-]*", re.UNICODE)
MAX_VARIANTS = 16


@dataclass(frozen=True)
class WordWeight:
    """A word (or short phrase) of the post and how much removing it lowers the predicted label's probability."""

    word: str
    weight: float


def occlusion_variants(text: str, max_variants: int = MAX_VARIANTS) -> tuple[list[str], list[str]]:
    """(segments, texts without each segment); segments are single words unless the post is long."""
    if max_variants < 1:
        raise ValueError(f"max_variants must be positive, got {max_variants}")
    spans = [m.span() for m in WORD.finditer(text)]
    if not spans:
        return [], []
    size = math.ceil(len(spans) / max_variants)
    segments, variants = [], []
    for start in range(0, len(spans), size):
        first, last = spans[start][0], spans[min(start + size, len(spans)) - 1][1]
        segments.append(text[first:last])
        variants.append((text[:first] + " " + text[last:]).strip())
    return segments, variants


def rank_segments(segments: list[str], base: np.ndarray, occluded: np.ndarray, label_index: int,
                  top_k: int) -> list[WordWeight]:
    """The ``top_k`` segments whose removal lowers the label's probability most (only those that lower it)."""
    drops = base[label_index] - occluded[:, label_index]
    order = np.argsort(-drops, kind="stable")
    return [WordWeight(segments[i], round(float(drops[i]), 4)) for i in order[:top_k] if drops[i] > 0]


def occlusion_probabilities(classifier: Any, text: str, *,
                            max_variants: int = MAX_VARIANTS) -> tuple[np.ndarray, list[str], np.ndarray]:
    """BERT's probabilities for ``text``, the occluded segments and the probabilities without each one,
    all from a single batched ``predict_proba`` call."""
    segments, variants = occlusion_variants(text, max_variants) if max_variants > 0 else ([], [])
    variants = [v if v else " " for v in variants]
    probabilities = np.asarray(classifier.predict_proba([text] + variants), dtype=np.float64)
    if probabilities.shape != (1 + len(variants), len(classifier.labels)):
        raise ValueError(f"predict_proba returned shape {probabilities.shape}, expected "
                         f"({1 + len(variants)}, {len(classifier.labels)})")
    return probabilities[0], segments, probabilities[1:]
