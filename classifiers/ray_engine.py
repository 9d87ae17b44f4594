"""The scoring job on Ray Data: ``read_csv`` -> ``map_batches`` with the classifier as a stateful actor (loaded
once per worker) -> rows back on the driver in input order -> one CSV written atomically.

Runs on a local Ray (``ray.init()`` on this machine) or on a cluster (``address="ray://head:10001"`` or
``"auto"``). The model directory travels to the workers through the object store, so workers need the same
Python packages but no copy of the model; the data file must be readable at the same path on every node (a
shared filesystem) or be a URI that pyarrow can open (``s3://...``).
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from classifiers.data import DataError
from classifiers.io import atomic_path, ensure_not_input
from classifiers.scoring import ScoreReport, add_predictions, check_input, count_rows, load_scorer, read_chunks

logger = logging.getLogger(__name__)
RAY_REQUIREMENT = 'ray[data]>=2.40'
OBJECT_STORE_BYTES = 1 << 30
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}


@dataclass(frozen=True, kw_only=True)
class RaySettings:
    """How the job is spread: actors (one model copy each), CPUs per actor, rows per model call, cluster address."""

    workers: int = 2
    cpus_per_worker: float = 1.0
    batch_size: int = 256
    address: str | None = None
    engine: str = "torch"
    quantize: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be positive, not {self.cpus_per_worker}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {self.batch_size}")
        if self.engine not in ("torch", "onnx"):
            raise ValueError(f"the model engine inside Ray workers must be 'torch' or 'onnx', not {self.engine!r}")
        if self.quantize not in (None, "int8") or (self.quantize and self.engine != "onnx"):
            raise ValueError("quantize must be None, or 'int8' with the onnx engine")


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError(f"--engine ray needs Ray Data: pip install \"{RAY_REQUIREMENT}\"") from None
    return ray


def pack_directory(directory: Path) -> dict[str, bytes]:
    """Every file of a model directory (``onnx/`` included), keyed by relative path, for the object store."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def unpack_directory(files: dict[str, bytes]) -> Path:
    """Materialise a packed model directory in a private temporary folder on the worker."""
    root = Path(tempfile.mkdtemp(prefix="alex-model-"))
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


class ClassifierActor:
    """One per Ray worker: loads the classifier once, then scores every batch it is sent."""

    def __init__(self, model_files: Any, text_column: str, engine: str = "torch", quantize: str | None = None):
        import ray

        files = ray.get(model_files[0]) if isinstance(model_files, list) else model_files
        self.directory = unpack_directory(files)
        weakref.finalize(self, shutil.rmtree, self.directory, True)
        self.model = load_scorer(self.directory, engine, quantize=quantize)
        self.text_column = text_column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return add_predictions(batch, self.text_column, self.model.predict_proba, self.model.labels,
                               self.model.decide)


def sniff_table(data: Path, *, text_column: str | int | None, header: bool | None) -> dict[str, Any]:
    """Read the first rows as the single-process path does: columns, text column, separator, header, encoding."""
    first, text_col = next(read_chunks(data, text_column=text_column, header=header, chunksize=64))
    columns = [str(c) for c in first.columns]
    has_header = header if header is not None else columns != [str(i) for i in range(len(columns))]
    raw = data.read_bytes()[: 1 << 16]
    try:
        raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError as err:
        encoding = "utf-8" if err.start > len(raw) - 4 else "latin-1"
    sep = "," if data.suffix.lower() == ".csv" else "\t"
    return {"columns": columns, "text_column": text_col, "header": has_header, "encoding": encoding, "sep": sep}


def _dataset(ray, data: Path, table: dict[str, Any]):
    """``ray.data.read_csv`` with every column kept as the exact string read (no type inference, no NaN)."""
    import pyarrow as pa
    from pyarrow import csv

    read = csv.ReadOptions(encoding=table["encoding"], column_names=None if table["header"] else table["columns"],
                           block_size=1 << 22)
    parse = csv.ParseOptions(delimiter=table["sep"], newlines_in_values=True)
    convert = csv.ConvertOptions(column_types={c: pa.string() for c in table["columns"]}, strings_can_be_null=False,
                                 quoted_strings_can_be_null=False, null_values=[])
    return ray.data.read_csv(str(data), read_options=read, parse_options=parse, convert_options=convert,
                             file_extensions=None)


def _connect(ray, settings: RaySettings) -> bool:
    """Start a local Ray, or join ``settings.address``; returns whether this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    env = {"env_vars": WORKER_ENV, "py_modules": [str(Path(__file__).resolve().parent)]}
    if settings.address:
        ray.init(address=settings.address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
    else:
        # One logical CPU per actor plus one for the read tasks, so the actors never starve the reader.
        cpus = math.ceil(settings.workers * settings.cpus_per_worker) + 1
        ray.init(num_cpus=cpus, include_dashboard=False, runtime_env=env, log_to_driver=False,
                 object_store_memory=OBJECT_STORE_BYTES, logging_level=logging.WARNING)
    return True


def score_file_ray(data: str | Path, output: str | Path, model_dir: str | Path, settings: RaySettings | None = None,
                   *, text_column: str | int | None = None, header: bool | None = None,
                   progress: bool = True) -> ScoreReport:
    """Score ``data`` on Ray; the output has the columns and row order of ``scoring.score_file``."""
    settings = settings or RaySettings()
    data, output, model_dir = Path(data), Path(output), Path(model_dir)
    ensure_not_input(output, data)
    check_input(data)
    if data.suffix.lower() not in {".csv", ".tsv", ".tab", ".txt"}:
        raise DataError(f"{data}: the Ray engine reads CSV/TSV files; use --engine torch or onnx for JSONL")
    ray = _import_ray()
    if settings.engine == "onnx":  # export once here, not once per worker
        load_scorer(model_dir, "onnx", quantize=settings.quantize)
    else:
        load_scorer(model_dir, "torch")  # fail fast, on the driver, for a missing or corrupt model
    table = sniff_table(data, text_column=text_column, header=header)
    started = _connect(ray, settings)
    start = time.perf_counter()
    try:
        rows = _run(ray, data, output, model_dir, table, settings, progress)
    finally:
        if started:
            ray.shutdown()
    if rows == 0:
        raise DataError(f"{data}: no rows to score")
    return ScoreReport(rows=rows, resumed_from=0, seconds=time.perf_counter() - start, output=output)


def _run(ray, data: Path, output: Path, model_dir: Path, table: dict[str, Any], settings: RaySettings,
         progress: bool) -> int:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    files_ref = ray.put(pack_directory(model_dir))
    scored = _dataset(ray, data, table).map_batches(
        ClassifierActor, batch_size=settings.batch_size, batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=settings.workers), num_cpus=settings.cpus_per_worker,
        fn_constructor_kwargs={"model_files": [files_ref], "text_column": table["text_column"],
                               "engine": settings.engine, "quantize": settings.quantize},
    )
    sep = "\t" if output.suffix.lower() in {".tsv", ".tab"} else ","
    rows = 0
    bar = tqdm(total=count_rows(data), desc=f"scoring on Ray ({settings.workers} workers)", unit="posts",
               disable=not progress, dynamic_ncols=True)
    try:
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
            for batch in scored.iter_batches(batch_size=None, batch_format="pandas"):
                batch.to_csv(handle, sep=sep, index=False, header=rows == 0)
                rows += len(batch)
                bar.update(len(batch))
            if rows == 0:
                raise DataError(f"{data}: no rows to score")
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as err:  # a worker's failure arrives wrapped in Ray's traceback: keep its last line
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        raise RuntimeError(f"the Ray job on {data} failed: {lines[-1] if lines else type(err).__name__}") from None
    finally:
        bar.close()
    return rows

