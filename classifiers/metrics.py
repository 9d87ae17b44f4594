"""SMM4H metrics: positive-class F1 (Tasks 1 and 4), micro-F1 (Task 2), macro-F1, per-class scores, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from classifiers.io import atomic_path


def default_positive_label(labels: Sequence[str], train_labels: Sequence[str] | None = None) -> str | None:
    """For binary tasks: "1"/"yes"/"true"/"positive" when present, else the rarer class in training."""
    if len(labels) != 2:
        return None
    for name in ("1", "yes", "true", "positive", "pos"):
        for label in labels:
            if label.lower() == name:
                return label
    if train_labels is not None:
        counts = {label: list(train_labels).count(label) for label in labels}
        return min(labels, key=lambda label: counts[label])
    return labels[1]


def primary_metric(metric: str, labels: Sequence[str]) -> str:
    """The score model selection optimises: positive-class F1 for binary tasks, macro-F1 otherwise."""
    if metric != "auto":
        return metric
    return "positive_f1" if len(labels) == 2 else "macro_f1"


def compute_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], positive_label: str | None = None
) -> dict[str, Any]:
    labels = list(labels)
    unknown = sorted(set(y_true) - set(labels))
    if unknown:
        raise ValueError(f"gold labels {unknown} are not among the model's labels {labels}")
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    result: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
        "labels": labels,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if positive_label is not None:
        result["positive_label"] = positive_label
        result["positive_f1"] = result["per_class"][positive_label]["f1"]
    return result


def format_table(metrics: dict[str, Any], title: str = "") -> str:
    """A plain-text report: headline scores, per-class table and the confusion matrix."""
    lines = [title] if title else []
    head = ["accuracy", "micro_f1", "macro_f1"] + (["positive_f1"] if "positive_f1" in metrics else [])
    lines.append("  ".join(f"{k}={metrics[k]:.4f}" for k in head) + f"  (n={metrics['n']})")
    width = max(8, *(len(label) for label in metrics["labels"]))
    lines.append(f"{'label':<{width}}  precision  recall  f1      support")
    for label, row in metrics["per_class"].items():
        lines.append(f"{label:<{width}}  {row['precision']:.4f}     {row['recall']:.4f}  {row['f1']:.4f}  {row['support']}")
    lines.append("confusion matrix (rows: gold, columns: predicted; order " + ", ".join(metrics["labels"]) + ")")
    lines.extend("  " + " ".join(f"{v:>6d}" for v in row) for row in metrics["confusion_matrix"])
    return "\n".join(lines)


def plot_confusion(metrics: dict[str, Any], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Write the confusion matrix as a PNG (atomically) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(metrics["confusion_matrix"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.2 * len(labels) + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
