"""Train and evaluate a classifier on a user's labelled file, and make it the one the agent uses.

Without a test file, a stratified fifth of the data is held out for evaluation (and left out of training and of
the example index), so the reported scores are never measured on training posts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.datafiles import read_labelled
from agent.workspace import Artifacts, Progress, Workspace, cache_lock, data_key

logger = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.2
MIN_PER_LABEL = 2


@dataclass(frozen=True)
class TrainOutcome:
    """A trained model, where it is stored, and its scores on held-out posts."""

    model_dir: Path
    index_dir: Path
    labels: list[str]
    train_rows: int
    test_rows: int
    test_source: str
    metrics: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def holdout_split(table: Any, fraction: float = HOLDOUT_FRACTION, seed: int = 13) -> tuple[Any, Any]:
    """A stratified (train, test) split of a Table; every label keeps at least one training row."""
    from sklearn.model_selection import train_test_split

    labels = np.array(table.labels)
    counts = {str(label): int((labels == label).sum()) for label in set(labels)}
    rare = sorted(label for label, n in counts.items() if n < MIN_PER_LABEL)
    if rare:
        raise ValueError(f"labels {rare} have fewer than {MIN_PER_LABEL} rows: too few to train and evaluate; "
                         "add rows or upload a separate test file")
    positions = np.arange(len(table))
    train_pos, _ = train_test_split(positions, test_size=fraction, stratify=labels, random_state=seed)
    keep = np.zeros(len(table), dtype=bool)
    keep[train_pos] = True
    return table.subset(list(keep)), table.subset(list(~keep))


def train_on_file(workspace: Workspace, train_path: str | Path, test_path: str | Path | None = None, *,
                  method: str = "head", progress: Progress | None = None, seed: int = 13) -> TrainOutcome:
    """Train on ``train_path`` (evaluate on ``test_path`` or a held-out fifth), cache it, and switch to it."""
    from agent.workspace import train_tables

    report = progress or (lambda fraction, message: logger.info("%3.0f%% %s", 100 * fraction, message))
    report(0.01, "checking the data")
    train, notes = read_labelled(train_path)
    if test_path is not None:
        test, test_notes = read_labelled(test_path, labels=sorted(set(train.labels)))
        notes += test_notes
        test_source = Path(test_path).name
    else:
        train, test = holdout_split(train, seed=seed)
        test_source = f"a stratified {int(HOLDOUT_FRACTION * 100)}% held out of {Path(train_path).name}"
    key = _upload_key(train_path, test_path, method, seed)
    target = Artifacts(workspace.cache_dir / "models" / f"upload-{method}-{key}",
                       workspace.cache_dir / "indexes" / f"upload-{key}", Path(train_path),
                       Path(test_path) if test_path else None)
    with cache_lock(workspace.cache_dir):
        classifier = train_tables(train, test, target, method=method, progress=report, seed=seed)
    workspace.use_model(target.model_dir, target.index_dir, train_file=Path(train_path),
                        test_file=Path(test_path) if test_path else None)
    return TrainOutcome(model_dir=target.model_dir, index_dir=target.index_dir, labels=list(classifier.labels),
                        train_rows=len(train), test_rows=len(test), test_source=test_source,
                        metrics=classifier.metrics["test"], warnings=notes)


def _upload_key(train_path: str | Path, test_path: str | Path | None, method: str, seed: int) -> str:
    parts = [data_key(Path(train_path), method)] + ([data_key(Path(test_path), method)] if test_path else [])
    return hashlib.sha256(f"{':'.join(parts)}:{seed}".encode()).hexdigest()[:16]
