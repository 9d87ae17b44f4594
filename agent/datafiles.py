"""Labelled data files as the agent tools and the demo handle them: checked, summarised, balanced, written.

Every failure a user can cause (wrong columns, empty or huge file, undecodable bytes) becomes a
``classifiers.data.DataError`` whose message names the file and the problem, for the chat or the UI to show.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from classifiers.data import DataError, Table, label_counts, load_table, validate
from classifiers.io import atomic_path, ensure_not_input

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000


def check_size(path: Path, max_bytes: int | None = None) -> None:
    """Refuse files too large for an interactive job before reading them."""
    max_bytes = max_bytes or MAX_UPLOAD_BYTES
    if not path.is_file():
        raise DataError(f"{path.name}: file not found")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise DataError(f"{path.name}: the file is {size / 2**20:.1f} MB; the limit here is "
                        f"{max_bytes / 2**20:.0f} MB (use the command line for larger files)")


def read_labelled(path: str | Path, *, labels: Any = None, require_labels: bool = True,
                  max_bytes: int | None = None) -> tuple[Table, list[str]]:
    """A validated table (bad rows and duplicates dropped) and the warnings raised while reading it."""
    path = Path(path)
    check_size(path, max_bytes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = load_table(path, require_labels=require_labels)
            table = validate(table, labels=labels, require_labels=require_labels, drop_invalid=True)
        except UnicodeDecodeError as err:
            raise DataError(f"{path.name}: cannot decode the file as text ({err.reason})") from None
        except DataError as err:
            raise DataError(for_people(str(err), path)) from None
    if len(table) == 0:
        reasons = "; ".join(_short_warning(w.message) for w in caught[:3]) or "every row was empty"
        raise DataError(f"{path.name}: no usable rows ({reasons})")
    if len(table) > MAX_ROWS:
        raise DataError(f"{path.name}: {len(table)} rows; the limit here is {MAX_ROWS}")
    if require_labels and len(set(table.labels)) < 2:
        raise DataError(f"{path.name}: needs at least two different labels in column {table.label_column!r}, "
                        f"found {sorted(set(table.labels))}")
    return table, [_short_warning(w.message, path) for w in caught]


COLUMN_HINT = ("Give the file a header row naming the text column (text, tweet, post, review, …) and the label "
               "column (label, class, stance, …)")


def for_people(message: str, path: Path) -> str:
    """The loader's message without the full (temporary) path or command-line flags, for the chat and the UI."""
    message = message.replace(str(path), path.name)
    message = re.sub(r"Use --text-column NAME[^.]*\)?|Use --label-column NAME", COLUMN_HINT, message)
    return message.replace(", or pass --drop-invalid to skip these rows", "")


def _short_warning(message: Any, path: Path | None = None) -> str:
    text = str(message) if path is None else str(message).replace(str(path), path.name)
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True)
class Summary:
    """What a labelled file holds."""

    path: str
    rows: int
    text_column: str
    label_column: str | None
    columns: list[str]
    label_counts: dict[str, int]
    mean_words: float
    max_words: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize(path: str | Path) -> Summary:
    table, notes = read_labelled(path, require_labels=False)
    words = [len(t.split()) for t in table.texts]
    counts = label_counts(table.labels) if table.label_column is not None else {}
    return Summary(path=str(path), rows=len(table), text_column=table.text_column, label_column=table.label_column,
                   columns=[str(c) for c in table.frame.columns], label_counts=counts,
                   mean_words=round(sum(words) / len(words), 1), max_words=max(words), warnings=notes)


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write rows in the format the suffix names (TSV, JSONL, else CSV), atomically."""
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in {".jsonl", ".ndjson"}:
            with tmp.open("w", encoding="utf-8") as handle:
                for record in frame.to_dict(orient="records"):
                    handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        else:
            frame.to_csv(tmp, sep="\t" if suffix in {".tsv", ".tab", ".txt"} else ",", index=False)
    return path


def output_path(source: Path, folder: Path, tag: str) -> Path:
    """``<folder>/<stem>.<tag><suffix>``; JSON input is written as JSONL."""
    suffix = ".jsonl" if source.suffix.lower() == ".json" else source.suffix or ".csv"
    return folder / f"{source.stem}.{tag}{suffix}"


@dataclass(frozen=True)
class BalanceOutcome:
    """A balanced file and the class counts around it."""

    source: str
    output: str
    before: dict[str, int]
    after: dict[str, int]
    augmented: dict[str, int]
    shortfall: dict[str, int]
    seed: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def balance_file(path: str | Path, output: str | Path, *, target: str | int = "max", seed: int = 0,
                 augmenters: str | tuple[str, ...] | None = None) -> BalanceOutcome:
    """Augment minority classes up to the target and write the balanced rows (with provenance columns)."""
    from augment.balance import balance_report
    from augment.pipeline import DEFAULT_AUGMENTERS

    source, output = Path(path), Path(output)
    ensure_not_input(output, source)
    table, notes = read_labelled(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = balance_report(table.frame, text_column=table.text_column, label_column=table.label_column,
                                target=target, seed=seed, augmenters=augmenters or DEFAULT_AUGMENTERS)
    write_frame(result.frame, output)
    return BalanceOutcome(source=str(source), output=str(output), before=result.before, after=result.after,
                          augmented=result.augmented, shortfall=result.shortfall, seed=seed,
                          warnings=notes + [_short_warning(w.message) for w in caught])
