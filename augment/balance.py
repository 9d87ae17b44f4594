"""Balance a training set: augment minority classes up to a target, then under-sample larger ones to it.

Original rows are always preferred: a class above its target loses original rows only when it has no
augmented rows left to drop, and augmented rows are made only for classes below their target.
Every augmented row records where it came from (``source_row``), what changed it (``augmenters``) and
the ``seed``. Apply this to the training split only, never to dev or test data.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from augment.pipeline import DEFAULT_AUGMENTERS, Augmenter, make_rng
from augment.targets import Target, parse_target

if TYPE_CHECKING:
    from classifiers.data import Table

logger = logging.getLogger(__name__)

PROVENANCE_COLUMNS = ("source_row", "is_augmented", "augmenters", "seed")
DEFAULT_PER_EXAMPLE = 10  # ALEX made 1-10 variants per minority post


class Generated(NamedTuple):
    source: int  # position of the source row in the input
    text: str
    augmenters: tuple[str, ...]


@dataclass(frozen=True)
class BalanceResult:
    """The balanced rows and the class counts around them."""

    frame: pd.DataFrame
    before: dict[str, int]
    after: dict[str, int]
    targets: dict[str, int]
    augmented: dict[str, int]  # new augmented rows kept, per class
    shortfall: dict[str, int]  # rows still missing where augmentation could not reach the target


def balance(data: pd.DataFrame, **options: object) -> pd.DataFrame:
    """Balanced copy of ``data`` with provenance columns; options as :func:`balance_report`."""
    return balance_report(data, **options).frame  # type: ignore[arg-type]


def balance_report(
    data: pd.DataFrame,
    *,
    text_column: str = "text",
    label_column: str = "label",
    target: str | int | Target = "max",
    per_example: int = DEFAULT_PER_EXAMPLE,
    augmenters: str | Sequence[str] = DEFAULT_AUGMENTERS,
    augmenter: Augmenter | None = None,
    seed: int = 0,
    exclude_texts: Iterable[str] = (),
) -> BalanceResult:
    """Augment classes below their target (at most ``per_example`` variants per row), under-sample those above.

    ``exclude_texts`` (e.g. the dev and test posts) are never produced as augmented rows.
    """
    if per_example < 1:
        raise ValueError(f"per_example must be at least 1, got {per_example}")
    engine = augmenter or Augmenter(augmenters=augmenters)
    rows = _Rows.from_frame(data, text_column, label_column, engine)
    before = dict(sorted(Counter(rows.labels).items()))
    targets = parse_target(target).resolve(before)
    needs = {label: targets[label] - n for label, n in Counter(rows.labels).items() if targets[label] > n}
    exclude = set(rows.texts) | {engine.prepare(str(t)) for t in exclude_texts}
    generated = [g for label, need in sorted(needs.items())
                 for g in generate(rows, label, need, engine, per_example=per_example, seed=seed, exclude=exclude)]
    frame, new = _assemble(rows, generated, targets, seed)
    after = dict(sorted(Counter(str(v).strip() for v in frame[rows.label_column]).items()))
    augmented = dict(sorted(Counter(rows.labels[g.source] for g in new).items()))
    shortfall = {label: targets[label] - after.get(label, 0) for label in targets if after.get(label, 0) < targets[label]}
    originals = Counter(label for label, aug in zip(rows.labels, rows.augmented, strict=True) if not aug)
    for label in shortfall:
        warnings.warn(
            f"class {label!r} reached {after.get(label, 0)} of its target {targets[label]} rows "
            f"({originals[label]} posts with at most {per_example} variants each, fewer where a post gave no new "
            "variant). Raise per_example, add augmenters, or lower the target", stacklevel=2,
        )
    return BalanceResult(frame, before, after, targets, augmented, shortfall)


@dataclass
class _Rows:
    """The input rows as balancing sees them."""

    frame: pd.DataFrame
    texts: list[str]  # prepared (entities decoded, normalised as configured)
    labels: list[str]
    augmented: list[bool]  # rows an earlier balancing run added (is_augmented column)
    sources: list[object]  # provenance: source_row column when present, else the row position
    text_column: str
    label_column: str

    @classmethod
    def from_frame(cls, data: pd.DataFrame, text_column: str, label_column: str, engine: Augmenter) -> _Rows:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"expected a pandas DataFrame, got {type(data).__name__}")
        missing = [c for c in (text_column, label_column) if c not in data.columns]
        if missing:
            raise ValueError(f"no column(s) {missing}; the columns are {[str(c) for c in data.columns]}")
        frame = data.reset_index(drop=True)
        labels = [("" if pd.isna(v) else str(v).strip()) for v in frame[label_column]]
        unlabelled = [i for i, v in enumerate(labels) if not v]
        if unlabelled:
            raise ValueError(f"rows {unlabelled[:10]} (0-based) have no value in the label column {label_column!r}")
        texts = [engine.prepare("" if pd.isna(v) else str(v)) for v in frame[text_column]]
        augmented = ([_truthy(v) for v in frame["is_augmented"]] if "is_augmented" in frame.columns
                     else [False] * len(frame))
        sources = list(frame["source_row"]) if "source_row" in frame.columns else list(range(len(frame)))
        return cls(frame, texts, labels, augmented, sources, text_column, label_column)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}


def generate(rows: _Rows, label: str, need: int, engine: Augmenter, *, per_example: int, seed: int,
             exclude: set[str]) -> list[Generated]:
    """Up to ``need`` new variants of the original rows of ``label``, spread evenly, ``per_example`` per row at most.

    Rows that run out of distinct variants hand their share to the others in later rounds.
    """
    sources = [i for i, (lab, aug) in enumerate(zip(rows.labels, rows.augmented, strict=True)) if lab == label and not aug]
    order = make_rng(seed, "order", label).sample(sources, len(sources))
    made = dict.fromkeys(order, 0)
    exhausted: set[int] = set()
    found: list[Generated] = []
    for round_ in range(per_example + 1):
        remaining = need - len(found)
        open_rows = [i for i in order if i not in exhausted and made[i] < per_example]
        if remaining <= 0 or not open_rows:
            break
        share, extra = divmod(remaining, len(open_rows))
        for rank, position in enumerate(open_rows):
            quota = min(share + (rank < extra), per_example - made[position])
            if quota <= 0:
                continue
            rng = make_rng(seed, "row", position, round_)
            variants = engine.variants(rows.texts[position], quota, rng=rng, exclude=exclude)
            for variant in variants:
                exclude.add(variant.text)
                found.append(Generated(position, variant.text, variant.augmenters))
            made[position] += len(variants)
            if len(variants) < quota:
                exhausted.add(position)
    logger.info("class %r: made %d of %d needed variants from %d rows", label, len(found), need, len(sources))
    return found[:need]


def undersample(positions: Sequence[int], labels: Sequence[str], keep: dict[str, int], seed: int) -> list[int]:
    """Randomly keep at most ``keep[label]`` of ``positions`` per label (imbalanced-learn's RandomUnderSampler)."""
    from imblearn.under_sampling import RandomUnderSampler

    counts = Counter(labels)
    strategy = {label: keep[label] for label, n in counts.items() if label in keep and n > keep[label]}
    if not strategy:
        return list(positions)
    empty = {label for label, n in strategy.items() if n == 0}
    chosen = [(p, lab) for p, lab in zip(positions, labels, strict=True) if lab not in empty]
    strategy = {label: n for label, n in strategy.items() if n > 0}
    if not strategy or len({lab for _, lab in chosen}) < 2:
        return _undersample_single(chosen, strategy, seed)
    sampler = RandomUnderSampler(sampling_strategy=strategy, random_state=seed)
    sampler.fit_resample(np.arange(len(chosen)).reshape(-1, 1), np.array([lab for _, lab in chosen], dtype=object))
    return sorted(chosen[i][0] for i in sampler.sample_indices_)


def _undersample_single(chosen: list[tuple[int, str]], strategy: dict[str, int], seed: int) -> list[int]:
    """RandomUnderSampler needs two classes; with one left, draw the same way with NumPy's seeded generator."""
    if not strategy:
        return [p for p, _ in chosen]
    (label, n), = strategy.items()
    picked = np.random.RandomState(seed).choice(len(chosen), size=n, replace=False)
    return sorted(chosen[i][0] for i in picked)


def _assemble(rows: _Rows, generated: list[Generated], targets: dict[str, int],
              seed: int) -> tuple[pd.DataFrame, list[Generated]]:
    """Keep originals first (under-sampled to the target), then augmented rows up to the target."""
    originals = [i for i, aug in enumerate(rows.augmented) if not aug]
    kept = undersample(originals, [rows.labels[i] for i in originals], targets, seed)
    room = Counter(targets)
    room.subtract(Counter(rows.labels[i] for i in kept))
    old = [i for i, aug in enumerate(rows.augmented) if aug]
    pool_labels = [rows.labels[i] for i in old] + [rows.labels[g.source] for g in generated]
    pool = undersample(list(range(len(pool_labels))), pool_labels, {k: max(v, 0) for k, v in room.items()}, seed)
    kept_old = [old[p] for p in pool if p < len(old)]
    kept_new = [generated[p - len(old)] for p in pool if p >= len(old)]
    return _frame(rows, sorted(kept + kept_old), kept_new, seed), kept_new


def _frame(rows: _Rows, kept: list[int], new: list[Generated], seed: int) -> pd.DataFrame:
    frame = rows.frame.copy()
    frame[rows.text_column] = rows.texts
    frame["source_row"] = rows.sources
    frame["is_augmented"] = rows.augmented
    if "augmenters" not in frame.columns:
        frame["augmenters"] = ""
    frame["seed"] = pd.array(
        [_seed_of(v) for v in frame["seed"]] if "seed" in frame.columns else [None] * len(frame), dtype="Int64"
    )
    frame["_row"], frame["_variant"] = range(len(frame)), 0
    extra = frame.iloc[[g.source for g in new]].copy()
    extra[rows.text_column] = [g.text for g in new]
    extra["is_augmented"] = True
    extra["augmenters"] = ["+".join(g.augmenters) for g in new]
    extra["seed"] = pd.array([seed] * len(new), dtype="Int64")
    extra["_row"] = [g.source for g in new]
    extra["_variant"] = range(1, len(new) + 1)
    combined = pd.concat([frame.iloc[kept], extra], ignore_index=True)
    combined = combined.sort_values(["_row", "_variant"], kind="stable").drop(columns=["_row", "_variant"])
    combined = combined.reset_index(drop=True)
    combined["augmenters"] = combined["augmenters"].fillna("").astype(str)
    combined["is_augmented"] = combined["is_augmented"].astype(bool)
    return combined


def _seed_of(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def balance_table(
    table: Table,
    spec: str | int | Target = "max",
    *,
    seed: int = 0,
    augmenters: str | Sequence[str] = DEFAULT_AUGMENTERS,
    per_example: int = DEFAULT_PER_EXAMPLE,
    exclude_texts: Collection[str] = (),
    augmenter: Augmenter | None = None,
) -> tuple[list[str], list[str]]:
    """Balanced (texts, labels) for a loaded training Table (``classifiers train --balance SPEC``)."""
    frame = pd.DataFrame({"text": table.texts, "label": table.labels})
    result = balance_report(frame, target=spec, per_example=per_example, augmenters=augmenters,
                            augmenter=augmenter, seed=seed, exclude_texts=exclude_texts)
    return list(result.frame["text"]), [str(v) for v in result.frame["label"]]


class Balancer:
    """imbalanced-learn style: ``Balancer(target="max", seed=0).fit_resample(texts, labels)``."""

    def __init__(self, *, target: str | int | Target = "max", per_example: int = DEFAULT_PER_EXAMPLE,
                 augmenters: str | Sequence[str] = DEFAULT_AUGMENTERS, augmenter: Augmenter | None = None,
                 seed: int = 0) -> None:
        self.target = parse_target(target)
        self.per_example = per_example
        self.augmenter = augmenter or Augmenter(augmenters=augmenters)
        self.seed = seed
        self.result_: BalanceResult | None = None

    def fit_resample(self, X: Sequence[str], y: Sequence[object]) -> tuple[list[str], list[str]]:
        """Balanced texts and labels; ``result_`` keeps the provenance frame and the counts."""
        texts = [str(x[0]) if isinstance(x, list | tuple | np.ndarray) else str(x) for x in X]
        if len(texts) != len(y):
            raise ValueError(f"X has {len(texts)} rows but y has {len(y)}")
        frame = pd.DataFrame({"text": texts, "label": [str(v) for v in y]})
        self.result_ = balance_report(frame, target=self.target, per_example=self.per_example,
                                      augmenter=self.augmenter, seed=self.seed)
        return list(self.result_.frame["text"]), list(self.result_.frame["label"])
