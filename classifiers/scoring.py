"""Scoring files of any size: chunked reading, bounded memory, a progress bar with throughput, an output that
appears only when complete, and resumption after an interruption."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from classifiers.data import DataError, iter_text_chunks, normalize_text
from classifiers.io import atomic_path, ensure_not_input

ProbaFn = Callable[[list[str]], np.ndarray]
CountFn = Callable[[list[str]], int]
Engine = Literal["torch", "onnx"]
PROGRESS_VERSION = 2


class Scorer(Protocol):
    """What scoring needs from a classifier: ``TextClassifier`` and ``OnnxClassifier`` both qualify."""

    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def decide(self, proba: np.ndarray) -> list[str]: ...


@dataclass(frozen=True)
class ScoreReport:
    rows: int
    resumed_from: int
    seconds: float
    output: Path
    truncated: int = 0

    @property
    def rows_per_second(self) -> float:
        return (self.rows - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def load_scorer(model_dir: str | Path, engine: Engine = "torch", *, quantize: str | None = None,
                precision: str | None = None) -> Scorer:
    """The one factory for scoring models: torch (``TextClassifier``) or ONNX Runtime (``OnnxClassifier``)."""
    if precision and engine != "torch":
        raise ValueError("--precision works with the torch engine only (the ONNX engine uses --quantize)")
    if engine == "torch":
        if quantize:
            raise ValueError("--quantize works with the ONNX engine only (--engine onnx)")
        from classifiers.model import TextClassifier

        return TextClassifier.from_pretrained(model_dir, precision=precision)
    if engine == "onnx":
        from classifiers.onnx_backend import OnnxClassifier

        return OnnxClassifier.from_pretrained(model_dir, quantize=quantize)
    raise ValueError(f"engine must be 'torch' or 'onnx', not {engine!r}")


def truncation_counter(model_dir: str | Path) -> CountFn:
    """Counts posts longer than the model's ``max_length`` tokens (the model reads only their beginning)."""
    from classifiers.card import read_card
    from classifiers.encoder import load_tokenizer

    card = read_card(model_dir)
    source = str(card.directory) if card.config.method == "finetune" else card.config.model
    tokenizer, limit = load_tokenizer(source), card.config.max_length

    def count(texts: list[str]) -> int:
        if not texts:
            return 0
        lengths = tokenizer(texts, truncation=True, max_length=limit + 1, return_length=True)["length"]
        return int(sum(n > limit for n in lengths))

    return count


def add_predictions(chunk: pd.DataFrame, text_col: str, proba_fn: ProbaFn, labels: list[str],
                    decide: Callable[[np.ndarray], list[str]]) -> pd.DataFrame:
    """The rows as read plus ``predicted_label`` and one ``proba_<label>`` column per label (6 decimals)."""
    texts = [normalize_text(t) for t in chunk[text_col]]
    proba = proba_fn(texts) if texts else np.zeros((0, len(labels)))
    scored = chunk.copy()
    scored["predicted_label"] = decide(proba)
    for i, label in enumerate(labels):
        scored[f"proba_{label}"] = np.round(proba[:, i].astype(np.float64), 6)
    return scored


def _partial_paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".partial"), output.with_name(output.name + ".progress.json")


def count_rows(path: Path) -> int | None:
    """Data rows in a CSV/TSV (quoted newlines included), streamed, for an honest progress bar total."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".tsv", ".tab", ".txt"}:
        return None
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter="," if suffix == ".csv" else "\t")
        return max(sum(1 for _ in reader) - 1, 0)


def check_input(data: Path) -> None:
    """Refuse what cannot be a text table before any work starts, naming the file."""
    if not data.exists():
        raise DataError(f"{data}: file not found")
    if data.is_dir():
        raise DataError(f"{data}: is a directory, expected a CSV, TSV or JSONL file")
    with data.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise DataError(f"{data}: the file is empty")
    if b"\x00" in head:
        raise DataError(f"{data}: this looks like a binary file, not CSV/TSV/JSONL text")


def read_chunks(data: Path, **options: Any) -> Iterator[tuple[pd.DataFrame, str]]:
    """``iter_text_chunks`` with parser errors turned into errors that name the file."""
    try:
        yield from iter_text_chunks(data, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{data}: cannot read it as a table ({type(err).__name__}: {err})") from None


def _job_key(data: Path, labels: list[str], fingerprint: dict[str, Any] | None) -> str:
    """Identifies one scoring job (input file state, labels, model), so a resume never mixes two jobs."""
    stat = data.stat()
    payload = json.dumps([str(data.resolve()), stat.st_size, stat.st_mtime_ns, labels, fingerprint or {}],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _resume_point(partial: Path, progress_file: Path, key: str, resume: bool) -> tuple[int, int, int]:
    """(rows done, bytes of the partial output that hold them, truncated so far); (0, 0, 0) to start afresh."""
    if resume and partial.exists() and progress_file.exists():
        try:
            state = json.loads(progress_file.read_text(encoding="utf-8"))
            if state.get("version") == PROGRESS_VERSION and state.get("job") == key \
                    and partial.stat().st_size >= int(state["bytes"]):
                return int(state["rows"]), int(state["bytes"]), int(state.get("truncated", 0))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        warnings.warn(f"{partial} belongs to another or a damaged run; starting again", stacklevel=3)
    partial.unlink(missing_ok=True)
    progress_file.unlink(missing_ok=True)
    return 0, 0, 0


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
    truncation_fn: CountFn | None = None,
    fingerprint: dict[str, Any] | None = None,
    progress: bool = True,
) -> ScoreReport:
    """Write ``data`` plus ``predicted_label`` and one ``proba_<label>`` column per label to ``output``.

    Memory is bounded by ``chunksize``: the file is read, scored and appended one chunk at a time. Rows go to
    ``output.partial``; after each chunk is flushed, ``output.progress.json`` records the rows and bytes done, so
    a rerun cuts off any half-appended chunk and continues after the last complete one. The output is renamed
    into place only when complete. ``fingerprint`` (e.g. the model and engine) must match for a resume.
    """
    data, output = Path(data), Path(output)
    if chunksize < 1:
        raise ValueError(f"chunk size must be positive, not {chunksize}")
    ensure_not_input(output, data)
    check_input(data)
    partial, progress_file = _partial_paths(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    key = _job_key(data, labels, fingerprint)
    done, offset, truncated = _resume_point(partial, progress_file, key, resume)
    if done:
        with partial.open("r+b") as handle:
            handle.truncate(offset)
    sep = "\t" if output.suffix.lower() in {".tsv", ".tab"} else ","
    start = time.perf_counter()
    bar = tqdm(total=count_rows(data), initial=done, desc="scoring", unit="posts", smoothing=0.1,
               disable=not progress, dynamic_ncols=True)
    rows, seen = done, 0
    for chunk, text_col in read_chunks(data, text_column=text_column, header=header, chunksize=chunksize):
        seen += len(chunk)
        if seen <= done:
            continue
        if seen - len(chunk) < done:
            chunk = chunk.iloc[done - (seen - len(chunk)):]
        scored = add_predictions(chunk, text_col, proba_fn, labels, decide)
        if truncation_fn is not None:
            truncated += truncation_fn([normalize_text(t) for t in chunk[text_col]])
        offset = _append(scored, partial, sep, header=rows == 0)
        rows += len(chunk)
        _save_progress(progress_file, {"version": PROGRESS_VERSION, "job": key, "rows": rows, "bytes": offset,
                                       "truncated": truncated, "data": str(data)})
        bar.update(len(chunk))
    bar.close()
    if rows == 0:
        raise DataError(f"{data}: no rows to score")
    os.replace(partial, output)
    progress_file.unlink(missing_ok=True)
    return ScoreReport(rows=rows, resumed_from=done, seconds=time.perf_counter() - start, output=output,
                       truncated=truncated)


def _append(frame: pd.DataFrame, path: Path, sep: str, *, header: bool) -> int:
    """Append one chunk and flush it to disk before the progress file says it is done; returns the new size."""
    with path.open("a", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, sep=sep, index=False, header=header)
        handle.flush()
        os.fsync(handle.fileno())
        return os.fstat(handle.fileno()).st_size


def _save_progress(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(state), encoding="utf-8")
