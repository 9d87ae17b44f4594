"""Scoring files of any size: chunked reading, bounded memory, a progress bar with throughput, an output that
appears only when complete, and resumption after an interruption."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from classifiers.data import DataError, iter_text_chunks, normalize_text
from classifiers.io import ensure_not_input

ProbaFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class ScoreReport:
    rows: int
    resumed_from: int
    seconds: float
    output: Path

    @property
    def rows_per_second(self) -> float:
        return (self.rows - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def _partial_paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".partial"), output.with_name(output.name + ".progress.json")


def _count_rows(path: Path) -> int:
    """Data rows in a CSV/TSV (quoted newlines included), for an honest progress bar total."""
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")) - 1, 0)


def score_file(
    data: str | Path,
    output: str | Path,
    proba_fn: ProbaFn,
    labels: list[str],
    decide: Callable[[np.ndarray], list[str]],
    *,
    text_column: str | int | None = None,
    header: bool | None = None,
    chunksize: int = 8192,
    resume: bool = True,
) -> ScoreReport:
    """Write ``data`` plus ``predicted_label`` and one ``proba_<label>`` column per label to ``output``.

    Rows go to ``output.partial``, with the number done in ``output.progress.json`` after each chunk; a
    rerun continues after the last complete chunk, and the output is renamed into place only when complete.
    """
    data, output = Path(data), Path(output)
    ensure_not_input(output, data)
    partial, progress_file = _partial_paths(output)
    done = 0
    if resume and partial.exists() and progress_file.exists():
        done = int(json.loads(progress_file.read_text())["rows"])
    elif partial.exists():
        partial.unlink()
    sep = "\t" if output.suffix.lower() in {".tsv", ".tab"} else ","
    total = _count_rows(data) if data.suffix.lower() in {".csv", ".tsv"} else None
    start = time.perf_counter()
    bar = tqdm(total=total, initial=done, desc="scoring", unit="posts", smoothing=0.1)
    rows, seen = done, 0
    for chunk, text_col in iter_text_chunks(data, text_column=text_column, header=header, chunksize=chunksize):
        seen += len(chunk)
        if seen <= done:
            continue
        if seen - len(chunk) < done:
            chunk = chunk.iloc[done - (seen - len(chunk)):]
        texts = [normalize_text(t) for t in chunk[text_col]]
        proba = proba_fn(texts) if texts else np.zeros((0, len(labels)))
        scored = chunk.copy()
        scored["predicted_label"] = decide(proba)
        for i, label in enumerate(labels):
            scored[f"proba_{label}"] = np.round(proba[:, i], 6)
        _append(scored, partial, sep, header=rows == 0)
        rows += len(chunk)
        progress_file.write_text(json.dumps({"rows": rows, "data": str(data)}))
        bar.update(len(chunk))
    bar.close()
    if rows == 0:
        raise DataError(f"{data}: no rows to score")
    os.replace(partial, output)
    progress_file.unlink(missing_ok=True)
    return ScoreReport(rows=rows, resumed_from=done, seconds=time.perf_counter() - start, output=output)


def _append(frame: pd.DataFrame, path: Path, sep: str, *, header: bool) -> None:
    """Append one chunk and flush it to disk before the progress file says it is done."""
    with path.open("a", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, sep=sep, index=False, header=header)
        handle.flush()
        os.fsync(handle.fileno())
