"""``TextClassifier``: the object users hold. sklearn-style ``fit`` / ``predict`` / ``predict_proba``,
HF-style ``save_pretrained`` / ``from_pretrained``, label strings in and out."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from classifiers.card import CONFIG_FILE, FORMAT_VERSION, decide_labels, read_card
from classifiers.config import TrainingConfig
from classifiers.finetune import FinetuneBackend
from classifiers.head import HeadBackend, oof_score
from classifiers.io import atomic_path
from classifiers.losses import class_weights
from classifiers.metrics import compute_metrics, default_positive_label, primary_metric
from classifiers.threshold import tune_threshold

LONG_POST_CHARS = 20_000


def _as_list(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    items = list(texts)
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; items {bad[:10]} are not")
    return items


def _clip(texts: list[str]) -> list[str]:
    """Very long posts are cut before tokenisation (the model sees max_length tokens anyway), with a note."""
    long = sum(len(t) > LONG_POST_CHARS for t in texts)
    if long:
        warnings.warn(f"{long} post(s) longer than {LONG_POST_CHARS:,} characters were truncated: the model "
                      "reads only their beginning (its first max_length tokens)", stacklevel=3)
    return [t[:LONG_POST_CHARS] for t in texts]


class TextClassifier:
    """A balanced BERT-family classifier over the user's label strings.

    ``method="head"`` freezes the encoder (minutes on a CPU); ``method="finetune"`` trains it end to end.
    """

    def __init__(self, config: TrainingConfig | None = None, **overrides: Any) -> None:
        config = config or TrainingConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.labels: list[str] = []
        self.positive_label: str | None = None
        self.threshold: float | None = None
        self.metrics: dict[str, Any] = {}
        self.training_info: dict[str, Any] = {}
        self._backend: HeadBackend | FinetuneBackend | None = None

    @property
    def is_fitted(self) -> bool:
        return self._backend is not None

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        dev_texts: Sequence[str] | None = None,
        dev_labels: Sequence[str] | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
    ) -> TextClassifier:
        texts, labels = _clip(_as_list(texts)), [str(v) for v in labels]
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        self.labels = sorted(set(labels))
        if len(self.labels) < 2:
            raise ValueError(f"need at least two labels to train, got {self.labels}")
        cfg = self.config
        self.positive_label = cfg.positive_label or default_positive_label(self.labels, labels)
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError(f"positive_label {self.positive_label!r} is not one of the labels {self.labels}")
        if dev_texts is None and cfg.method == "finetune" and cfg.dev_fraction > 0:
            texts, dev_texts, labels, dev_labels = train_test_split(
                texts, labels, test_size=cfg.dev_fraction, stratify=labels, random_state=cfg.seed)
        y = self._ids(labels)
        weights = class_weights(y, len(self.labels), cfg.class_weight)
        metric = primary_metric(cfg.metric, self.labels)
        start = time.perf_counter()
        tuning_proba, tuning_y = self._train(texts, y, weights, metric, dev_texts, dev_labels, checkpoint_dir)
        self.threshold = None
        if cfg.tune_threshold and len(self.labels) == 2 and tuning_proba is not None:
            self.threshold = tune_threshold(tuning_y, tuning_proba[:, self._pos_index()], self._pos_index())
        self.training_info = {
            "train_size": len(texts), "dev_size": len(dev_texts or []), "metric": metric,
            "class_weights": None if weights is None else [float(w) for w in weights],
            "seconds": round(time.perf_counter() - start, 1), "trained_at": datetime.now(UTC).isoformat(),
        }
        return self

    def _train(self, texts, y, weights, metric, dev_texts, dev_labels, checkpoint_dir):
        cfg = self.config
        if cfg.method == "head":
            backend = HeadBackend(cfg)
            oof = backend.fit(texts, y, weights, oof_score(self.labels, y, metric, self.positive_label))
            self._backend = backend
            if dev_texts is not None:
                return backend.predict_proba(_clip(list(dev_texts))), self._ids(dev_labels)
            return oof, y
        backend = FinetuneBackend(cfg, self.labels)
        dev = None if dev_texts is None else (_clip(list(dev_texts)), self._ids(dev_labels))
        positive = self.positive_label

        def score(gold: np.ndarray, proba: np.ndarray) -> float:
            pred = [self.labels[i] for i in proba.argmax(1)]
            return compute_metrics([self.labels[i] for i in gold], pred, self.labels, positive)[metric]

        best_dev = backend.fit(texts, y, weights, self.labels, dev, score,
                               Path(checkpoint_dir) if checkpoint_dir else None)
        self._backend = backend
        return (best_dev, dev[1]) if dev is not None else (None, None)

    def _ids(self, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted({str(v) for v in labels} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the training labels {self.labels}")
        return np.array([index[str(v)] for v in labels], dtype=int)

    def _pos_index(self) -> int:
        return self.labels.index(self.positive_label)

    def _require_fitted(self) -> HeadBackend | FinetuneBackend:
        if self._backend is None:
            raise RuntimeError("this classifier is not trained: call fit() or TextClassifier.from_pretrained()")
        return self._backend

    def predict_proba(self, texts: str | Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Probabilities, one column per label in ``self.labels`` order."""
        backend = self._require_fitted()
        items = _clip(_as_list(texts))
        if not items:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.asarray(backend.predict_proba(items, progress=progress), dtype=np.float32)

    def predict(self, texts: str | Sequence[str], *, progress: bool = False) -> list[str]:
        return self.decide(self.predict_proba(texts, progress=progress))

    def decide(self, proba: np.ndarray) -> list[str]:
        """Labels from probabilities: the tuned threshold for binary tasks, the arg-max otherwise."""
        return decide_labels(proba, self.labels, self.positive_label, self.threshold)

    def evaluate(self, texts: Sequence[str], labels: Sequence[str], *, progress: bool = False) -> dict[str, Any]:
        predicted = self.predict(texts, progress=progress)
        return compute_metrics([str(v) for v in labels], predicted, self.labels, self.positive_label)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Weights, tokenizer (finetune), label map, training config and metrics, written atomically."""
        backend = self._require_fitted()
        directory = Path(directory)
        with atomic_path(directory) as tmp:
            tmp.mkdir()
            backend.save(tmp)
            (tmp / CONFIG_FILE).write_text(json.dumps(self._card_data(), indent=2), encoding="utf-8")
            (tmp / "README.md").write_text(self._model_card(), encoding="utf-8")
        return directory

    def _card_data(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "method": self.config.method,
            "id2label": {str(i): label for i, label in self.id2label.items()},
            "positive_label": self.positive_label, "threshold": self.threshold,
            "config": self.config.to_dict(), "training": self.training_info, "metrics": self.metrics,
        }

    def _model_card(self) -> str:
        lines = [
            "# Health-post classifier", "",
            f"- method: `{self.config.method}` on encoder `{self.config.model}` (max_length {self.config.max_length})",
            f"- labels: {', '.join(self.labels)}" + (f" (positive: {self.positive_label})" if self.positive_label else ""),
            f"- decision threshold: {self.threshold}" if self.threshold is not None else "- decision: arg-max",
            f"- class weights: {self.training_info.get('class_weights')}",
            f"- trained on {self.training_info.get('train_size')} posts in {self.training_info.get('seconds')} s",
        ]
        for name, value in self.metrics.items():
            if isinstance(value, dict) and "macro_f1" in value:
                scores = ", ".join(f"{k} {value[k]:.4f}" for k in ("positive_f1", "micro_f1", "macro_f1") if k in value)
                lines.append(f"- {name}: {scores} (n={value['n']})")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | None = None,
                        precision: str | None = None) -> TextClassifier:
        """Load a saved model; ``precision`` overrides the stored one for inference (e.g. "bf16" on a CPU with
        native bf16, about 1.6x faster for a fine-tuned encoder at a small cost in agreement with fp32)."""
        card = read_card(directory)
        config = replace(card.config, device=device, precision=precision or card.config.precision)
        model = cls(config)
        model.labels, model.positive_label, model.threshold = card.labels, card.positive_label, card.threshold
        model.metrics, model.training_info = card.metrics, card.training
        if config.method == "head":
            model._backend = HeadBackend.load(card.directory, config)
        else:
            model._backend = FinetuneBackend.load(card.directory, config, card.labels)
        return model

    def __repr__(self) -> str:
        state = f"labels={self.labels}" if self.labels else "unfitted"
        return f"TextClassifier(method={self.config.method!r}, model={self.config.model!r}, {state})"
