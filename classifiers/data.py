"""Loading and validating labelled post files (CSV, TSV, JSONL) with errors that name file, row and column."""

from __future__ import annotations

import html
import io
import json
import logging
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

TEXT_COLUMN_NAMES = ("text", "tweet", "post", "review", "sentence", "content", "body")
LABEL_COLUMN_NAMES = ("label", "class", "stance", "labels", "target", "category", "sentiment", "rating")
MAX_REPORTED = 10


class DataError(ValueError):
    """A data file cannot be used as given; the message names the file, rows and columns."""


@dataclass(frozen=True)
class Table:
    """A loaded file: the rows as read (all columns kept, as strings) and which columns hold text and label."""

    frame: pd.DataFrame
    path: Path
    text_column: str
    label_column: str | None
    encoding: str = "utf-8"

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def texts(self) -> list[str]:
        return [normalize_text(t) for t in self.frame[self.text_column]]

    @property
    def labels(self) -> list[str]:
        if self.label_column is None:
            raise DataError(f"{self.path}: no label column was found or given (use --label-column)")
        return [str(v).strip() for v in self.frame[self.label_column]]

    def rows(self, positions: Sequence[int]) -> str:
        """Human row numbers (1-based data rows, header not counted) for positions in ``frame``."""
        shown = ", ".join(str(int(self.frame.index[p]) + 1) for p in positions[:MAX_REPORTED])
        more = f" and {len(positions) - MAX_REPORTED} more" if len(positions) > MAX_REPORTED else ""
        return shown + more

    def subset(self, keep: Sequence[bool]) -> Table:
        return Table(self.frame[list(keep)], self.path, self.text_column, self.label_column, self.encoding)


def normalize_text(text: object) -> str:
    """Decode HTML entities (``&amp;``, ``&#039;``) and one pair of enclosing quotes left by CSV exports."""
    value = html.unescape(str(text)).strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value


def read_text(path: Path) -> tuple[str, str]:
    """Read a file as UTF-8, falling back to latin-1 with a warning (SMM4H files are latin-1)."""
    _check_file(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    if b"\x00" in raw[:4096]:
        raise DataError(f"{path}: this looks like a binary file, not CSV/TSV/JSONL text")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as err:
        warnings.warn(
            f"{path}: not valid UTF-8 (byte {err.start}); reading it as latin-1", stacklevel=2
        )
        return raw.decode("latin-1"), "latin-1"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV, TSV or JSONL file")


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        return "jsonl"
    if suffix in {".tsv", ".tab", ".txt"}:
        return "tsv"
    return "csv"


def _parse(text: str, fmt: str, path: Path, header: bool) -> pd.DataFrame:
    try:
        if fmt == "jsonl":
            records = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise DataError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
            if not all(isinstance(r, dict) for r in records):
                raise DataError(f"{path}: every JSONL line must be an object with named fields")
            return pd.DataFrame.from_records(records).astype(str)
        sep = "\t" if fmt == "tsv" else ","
        return pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
            header=0 if header else None, on_bad_lines="error", engine="python" if fmt == "csv" else "c",
        )
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: cannot parse as {fmt.upper()}: {err}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no rows") from None


def _first_line(text: str) -> list[str]:
    line = text.splitlines()[0] if text else ""
    sep = "\t" if "\t" in line else ","
    return [c.strip().strip('"').lower() for c in line.split(sep)]


def _is_index(column: str | int | None) -> bool:
    return isinstance(column, int) or (isinstance(column, str) and column.isdigit())


def _guess_header(first: list[str], text_column: str | int | None, label_column: str | int | None) -> bool:
    """A header is present when the first line names a known or requested column."""
    named = {str(c).lower() for c in (text_column, label_column) if c is not None and not _is_index(c)}
    if named & set(first):
        return True
    if named:
        return True  # the user named columns: a missing one gets a clear error below
    if set(first) & set(TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES):
        return True
    return not (_is_index(text_column) or _is_index(label_column) or _looks_headerless(first))


def _looks_headerless(first: list[str]) -> bool:
    """Header-less SMM4H files start with numeric ids or a long sentence in the first row."""
    return any(c.replace(".", "").isdigit() for c in first) or any(len(c) > 60 for c in first)


def _resolve(frame: pd.DataFrame, column: str | int | None, candidates: tuple[str, ...], path: Path,
             role: str) -> str | None:
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if column is not None:
        key = str(column)
        if key in columns:
            return key
        lowered = {c.lower(): c for c in columns}
        if key.lower() in lowered:
            return lowered[key.lower()]
        if key.isdigit() and int(key) < len(columns):
            return columns[int(key)]
        raise DataError(f"{path}: no {role} column {column!r}; the columns are {columns}")
    lowered = {c.lower().strip(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def _guess_headerless_columns(frame: pd.DataFrame) -> tuple[str, str | None]:
    """Text: the column with the longest strings. Label: the last other column with few distinct values."""
    lengths = {c: frame[c].str.len().mean() for c in frame.columns}
    text = max(lengths, key=lambda c: lengths[c])
    label = None
    for column in reversed(list(frame.columns)):
        if column != text and 1 < frame[column].nunique() <= 20:
            label = column
            break
    return text, label


def load_table(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    header: bool | None = None,
    require_labels: bool = True,
) -> Table:
    """Read a CSV/TSV/JSONL file and find its text and label columns (by name, index, or common names)."""
    path = Path(path)
    content, encoding = read_text(path)
    fmt = _format_of(path)
    if header is None:
        header = True if fmt == "jsonl" else _guess_header(_first_line(content), text_column, label_column)
    frame = _parse(content, fmt, path, header)
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    text_col = _resolve(frame, text_column, TEXT_COLUMN_NAMES, path, "text")
    label_col = _resolve(frame, label_column, LABEL_COLUMN_NAMES, path, "label")
    if text_col is None and not header:
        guessed_text, guessed_label = _guess_headerless_columns(frame)
        text_col, label_col = guessed_text, label_col or guessed_label
        logger.info("%s: no header; using column %s as text and %s as label", path, text_col, label_col)
    if text_col is None:
        raise DataError(
            f"{path}: cannot tell which column holds the text; the columns are {list(frame.columns)}. "
            "Use --text-column NAME (or a 0-based index for a file without header)"
        )
    if label_col is None and require_labels:
        raise DataError(
            f"{path}: cannot tell which column holds the label; the columns are {list(frame.columns)}. "
            "Use --label-column NAME"
        )
    return Table(frame.reset_index(drop=True), path, text_col, label_col, encoding)


def validate(
    table: Table,
    *,
    labels: Sequence[str] | None = None,
    require_labels: bool = True,
    drop_invalid: bool = False,
    drop_duplicates: bool = True,
) -> Table:
    """Check for empty texts, missing or unknown labels and duplicates; drop them only when asked.

    Returns a new Table: the input file and the given frame are never changed.
    """
    texts = table.texts
    bad: dict[str, list[int]] = {}
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        bad[f"empty text in column {table.text_column!r}"] = empty
    if require_labels and table.label_column is not None:
        values = table.labels
        missing = [i for i, v in enumerate(values) if not v or v.lower() in {"nan", "null"}]
        if missing:
            bad[f"missing label in column {table.label_column!r}"] = missing
        if labels is not None:
            allowed = set(labels)
            unknown = [i for i, v in enumerate(values) if v and i not in set(missing) and v not in allowed]
            if unknown:
                seen = sorted({values[i] for i in unknown})[:MAX_REPORTED]
                bad[f"labels {seen} not in the label set {sorted(allowed)} (column {table.label_column!r})"] = unknown
    if bad and not drop_invalid:
        details = "; ".join(f"{what}: rows {table.rows(rows)}" for what, rows in bad.items())
        raise DataError(f"{table.path}: {details}. Fix the file, or pass --drop-invalid to skip these rows")
    keep = [True] * len(table)
    for what, rows in bad.items():
        warnings.warn(f"{table.path}: dropping {len(rows)} rows with {what}: rows {table.rows(rows)}", stacklevel=2)
        for i in rows:
            keep[i] = False
    if drop_duplicates:
        keep = _drop_duplicates(table, texts, keep)
    return table.subset(keep)


def _drop_duplicates(table: Table, texts: list[str], keep: list[bool]) -> list[bool]:
    """Keep the first copy of a repeated text; texts repeated with conflicting labels are all dropped."""
    keep = list(keep)
    values = table.labels if table.label_column is not None else [""] * len(texts)
    by_text: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if keep[i]:
            by_text.setdefault(text, []).append(i)
    repeated, conflicting = [], []
    for rows in by_text.values():
        if len(rows) < 2:
            continue
        if len({values[i] for i in rows}) > 1:
            conflicting.extend(rows)
            for i in rows:
                keep[i] = False
        else:
            repeated.extend(rows[1:])
            for i in rows[1:]:
                keep[i] = False
    if repeated:
        warnings.warn(f"{table.path}: dropped {len(repeated)} duplicate texts: rows {table.rows(repeated)}",
                      stacklevel=3)
    if conflicting:
        warnings.warn(
            f"{table.path}: dropped {len(conflicting)} rows whose text repeats with conflicting labels: "
            f"rows {table.rows(conflicting)}", stacklevel=3,
        )
    return keep


def leak_report(train: Table, test: Table) -> list[str]:
    """Texts present in both files: evaluation on them would overstate quality."""
    return sorted(set(train.texts) & set(test.texts))


def remove_leaks(train: Table, test: Table) -> Table:
    """Drop training rows whose text also appears in the evaluation file, with a warning that counts them."""
    leaked = set(leak_report(train, test))
    if not leaked:
        return train
    warnings.warn(
        f"{train.path}: {len(leaked)} texts also appear in {test.path}; removed them from training", stacklevel=2
    )
    return train.subset([t not in leaked for t in train.texts])


def label_counts(labels: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))


def iter_text_chunks(
    path: str | Path, *, text_column: str | int | None = None, header: bool | None = None, chunksize: int = 10_000,
) -> Iterator[tuple[pd.DataFrame, str]]:
    """Stream a large CSV/TSV in chunks (bounded memory); yields (rows as read, name of the text column)."""
    path = Path(path)
    _check_file(path)
    fmt = _format_of(path)
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    try:
        head.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError as err:
        encoding = "utf-8" if err.start > len(head) - 4 else "latin-1"
    first = _first_line(head.decode(encoding, errors="replace"))
    if header is None:
        header = True if fmt == "jsonl" else _guess_header(first, text_column, None)
    if fmt == "jsonl":
        reader = pd.read_json(path, lines=True, dtype=False, chunksize=chunksize, encoding=encoding)
    else:
        reader = pd.read_csv(
            path, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False, chunksize=chunksize,
            header=0 if header else None, encoding=encoding, encoding_errors="replace",
        )
    text_col: str | None = None
    for chunk in reader:
        chunk = chunk.astype(str)
        if text_col is None:
            text_col = _resolve(chunk, text_column, TEXT_COLUMN_NAMES, path, "text")
            if text_col is None:
                text_col, _ = _guess_headerless_columns(chunk)
        chunk.columns = [str(c) for c in chunk.columns]
        yield chunk, text_col
