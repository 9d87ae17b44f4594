"""The model card (``classifier_config.json``): reading it with clear errors, and the decision rule it stores.

Shared by ``TextClassifier`` and the ONNX / Ray engines so that every engine decides labels the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.config import TrainingConfig

CONFIG_FILE = "classifier_config.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelCard:
    """What inference needs from ``classifier_config.json``: labels, decision rule and training config."""

    directory: Path
    labels: list[str]
    positive_label: str | None
    threshold: float | None
    config: TrainingConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


def read_card(directory: str | Path) -> ModelCard:
    """Parse a model directory's card; a missing folder, file or field is named in the error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"model directory not found: {directory}")
    path = directory / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{directory} is not a trained classifier ({CONFIG_FILE} is missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        labels = [data["id2label"][str(i)] for i in range(len(data["id2label"]))]
        config = TrainingConfig.from_dict(data["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: corrupt classifier config ({type(err).__name__}: {err})") from None
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer version (format {data['format_version']})")
    return ModelCard(directory, labels, data.get("positive_label"), data.get("threshold"), config,
                     data.get("metrics", {}), data.get("training", {}))


def decide_labels(proba: np.ndarray, labels: list[str], positive_label: str | None,
                  threshold: float | None) -> list[str]:
    """The tuned threshold for binary tasks, the arg-max otherwise."""
    if threshold is not None and proba.shape[1] == 2 and positive_label in labels:
        pos = labels.index(positive_label)
        ids = np.where(proba[:, pos] >= threshold, pos, 1 - pos)
    else:
        ids = proba.argmax(1)
    return [labels[i] for i in ids]
