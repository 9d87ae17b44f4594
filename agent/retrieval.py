"""FAISS index of labelled examples: the evidence the explainer shows next to a prediction.

Vectors are L2-normalised sentence embeddings searched by inner product (= cosine similarity). Small sets
use exact search; large ones an inverted-file index (IVF: k-means cells, ``nprobe`` of them scanned per query),
which keeps a query well under a millisecond at a million examples and builds in minutes; HNSW is an option.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, overload

import faiss
import numpy as np

from classifiers.io import atomic_path

logger = logging.getLogger(__name__)

INDEX_FORMAT = "alex-example-index"
INDEX_VERSION = 1
HEADER_FILE = "index.json"
VECTORS_FILE = "index.faiss"
EXAMPLES_FILE = "examples.jsonl"
SIDECAR_FILES = ("task.json", "policy.json")  # kept when an index is saved over an existing one
DEFAULT_ENCODER = "embedded"


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows (the MiniLM encoder, or a fake in tests)."""

    def encode(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray: ...


@dataclass(frozen=True)
class Neighbour:
    """A retrieved labelled example; ``id`` is its row id in the training data."""

    id: str
    text: str
    label: str
    similarity: float


LargeIndex = Literal["ivf", "hnsw"]


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    """Exact search below ``flat_limit`` examples; from there on ``large_index``: IVF (about 4 * sqrt(n) cells,
    ``nprobe`` scanned per query) or HNSW (``hnsw_m`` links per node, ``ef_search`` candidates per query)."""

    flat_limit: int = 50_000
    large_index: LargeIndex = "ivf"
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64

    def __post_init__(self) -> None:
        for name in ("flat_limit", "nprobe", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.large_index not in ("ivf", "hnsw"):
            raise ValueError(f"large_index must be 'ivf' or 'hnsw', not {self.large_index!r}")


def load_encoder(name: str) -> Encoder:
    """The sentence encoder an index was built with: "embedded" (MiniLM), a local model directory or a hub id."""
    from classifiers.encoder import shared_encoder

    return shared_encoder(name, 256)  # the head classifier's cache key: one copy of MiniLM in memory


def ivf_cells(size: int) -> int:
    """About 4 * sqrt(n) cells, but at least 39 training points per cell (FAISS's k-means minimum)."""
    return max(1, min(int(4 * np.sqrt(size)), size // 39))


def build_faiss_index(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """An index over ``vectors`` of the kind their number calls for (IVF cells are trained on them first)."""
    size, dim = vectors.shape
    if size < config.flat_limit:
        index = faiss.IndexFlatIP(dim)
    elif config.large_index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
    else:
        cells = ivf_cells(size)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
        # k-means on a random sample of 64 points per cell keeps training to about a minute at 1M vectors
        sample = np.random.default_rng(0).choice(size, min(size, 64 * cells), replace=False)
        index.train(vectors[np.sort(sample)])
        index.nprobe = min(config.nprobe, cells)
    index.add(vectors)
    return index


def index_kind(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"


def _as_vectors(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        raise ValueError(f"expected vectors of shape (n, {dim or 'dim'}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("the encoder returned NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


class ExampleIndex:
    """Labelled examples (id, text, label) with their vectors; ``search`` returns the nearest ones."""

    def __init__(self, index: faiss.Index, examples: list[dict[str, str]], *, encoder_name: str,
                 encoder: Encoder | None = None, config: IndexConfig | None = None,
                 encoder_factory: Callable[[str], Encoder] | None = None) -> None:
        if index.ntotal != len(examples):
            raise ValueError(f"the index holds {index.ntotal} vectors but {len(examples)} examples")
        self.index = index
        self.examples = examples
        self.encoder_name = encoder_name
        self.config = config or IndexConfig()
        self._encoder = encoder
        self._encoder_factory = encoder_factory
        self._ids = {e["id"] for e in examples}

    # -- building ---------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str], labels: Sequence[str], row_ids: Sequence[Any] | None = None,
              encoder: Encoder | str | None = None, *, encoder_name: str | None = None,
              config: IndexConfig | None = None, progress: bool = False) -> ExampleIndex:
        """Embed and index labelled texts; ``encoder`` is an object, a model name, or None for MiniLM."""
        config = config or IndexConfig()
        if isinstance(encoder, str) or encoder is None:
            encoder_name = encoder_name or (encoder or DEFAULT_ENCODER)
            encoder = load_encoder(encoder_name)
        encoder_name = encoder_name or str(getattr(encoder, "name", type(encoder).__name__))
        examples = _examples(texts, labels, row_ids, start=0)
        if not examples:
            raise ValueError("no examples to index: the texts are empty")
        vectors = _encode(encoder, [e["text"] for e in examples], progress)
        index = build_faiss_index(vectors, config)
        logger.info("indexed %d examples (%s, dim %d)", len(examples), index_kind(index), vectors.shape[1])
        return cls(index, examples, encoder_name=encoder_name, encoder=encoder, config=config)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str],
                     row_ids: Sequence[Any] | None = None, *, encoder_name: str,
                     config: IndexConfig | None = None) -> ExampleIndex:
        """Index precomputed embeddings (benchmarks, or vectors computed elsewhere with the named encoder)."""
        config = config or IndexConfig()
        examples = _examples(texts, labels, row_ids, start=0)
        array = _as_vectors(vectors)
        if len(array) != len(examples):
            raise ValueError(f"{len(array)} vectors for {len(examples)} examples")
        index = build_faiss_index(array, config)
        return cls(index, examples, encoder_name=encoder_name, config=config)

    def add(self, texts: Sequence[str], labels: Sequence[str], row_ids: Sequence[Any] | None = None) -> None:
        """Add examples in place (no rebuild); an exact index that outgrows ``flat_limit`` becomes IVF (or HNSW).

        IVF cells stay those trained at the switch; after the index has grown several times over, rebuild it
        (``python -m agent index``) so the cells follow the data again."""
        examples = _examples(texts, labels, row_ids, start=len(self.examples))
        clash = sorted({e["id"] for e in examples} & self._ids)
        if clash:
            raise ValueError(f"row ids already in the index: {clash[:10]}")
        vectors = _as_vectors(_encode(self.encoder, [e["text"] for e in examples], False), self.dim)
        total = len(self.examples) + len(examples)
        if index_kind(self.index) == "flat" and total >= self.config.flat_limit:
            logger.info("the index grows to %d examples: switching from exact search to %s", total,
                        self.config.large_index.upper())
            old = self.index.reconstruct_n(0, self.index.ntotal)
            self.index = build_faiss_index(np.concatenate([old, vectors]), self.config)
        else:
            self.index.add(vectors)
        self.examples.extend(examples)
        self._ids.update(e["id"] for e in examples)

    # -- searching --------------------------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = (self._encoder_factory or load_encoder)(self.encoder_name)
        return self._encoder

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def kind(self) -> str:
        return index_kind(self.index)

    @property
    def labels(self) -> list[str]:
        return sorted({e["label"] for e in self.examples})

    def __len__(self) -> int:
        return len(self.examples)

    @overload
    def search(self, query: str, k: int = 5) -> list[Neighbour]: ...

    @overload
    def search(self, query: Sequence[str], k: int = 5) -> list[list[Neighbour]]: ...

    def search(self, query: str | Sequence[str], k: int = 5) -> list[Neighbour] | list[list[Neighbour]]:
        """The ``k`` most similar examples to one text (a list), or to each of several texts (a list of lists)."""
        single = isinstance(query, str)
        texts = [query] if single else [str(q) for q in query]
        if not texts:
            return []
        vectors = _as_vectors(_encode(self.encoder, texts, False), self.dim)
        results = self.search_vectors(vectors, k)
        return results[0] if single else results

    def search_vectors(self, vectors: np.ndarray, k: int = 5) -> list[list[Neighbour]]:
        if k < 0:
            raise ValueError(f"k must be zero or more, got {k}")
        k = min(k, len(self.examples))
        array = _as_vectors(vectors, self.dim)
        if k == 0:
            return [[] for _ in range(len(array))]
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.config.ef_search, k)
        elif self.kind == "ivf":
            self.index.nprobe = min(self.config.nprobe, self.index.nlist)
        scores, positions = self.index.search(array, k)
        return [[self._neighbour(int(p), float(s)) for p, s in zip(row_p, row_s, strict=True) if p >= 0]
                for row_p, row_s in zip(positions, scores, strict=True)]

    def _neighbour(self, position: int, score: float) -> Neighbour:
        example = self.examples[position]
        return Neighbour(id=example["id"], text=example["text"], label=example["label"],
                         similarity=round(min(1.0, max(-1.0, score)), 6))

    # -- persistence ------------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT, "version": INDEX_VERSION, "encoder": self.encoder_name, "dim": self.dim,
            "index_type": self.kind, "metric": "inner_product", "normalized": True, "count": len(self.examples),
            "labels": self.labels, "flat_limit": self.config.flat_limit, "large_index": self.config.large_index,
            "nprobe": self.config.nprobe, "hnsw_m": self.config.hnsw_m,
            "ef_construction": self.config.ef_construction, "ef_search": self.config.ef_search,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, directory: str | Path, *, extra_files: dict[str, dict[str, Any]] | None = None) -> Path:
        """Write the index folder atomically; ``task.json``/``policy.json`` already there are carried over."""
        target = Path(directory)
        with atomic_path(target) as staged:
            staged.mkdir()
            faiss.write_index(self.index, str(staged / VECTORS_FILE))
            with (staged / EXAMPLES_FILE).open("w", encoding="utf-8") as handle:
                for example in self.examples:
                    handle.write(json.dumps(example, ensure_ascii=False) + "\n")
            for name in SIDECAR_FILES:
                if (target / name).is_file():
                    (staged / name).write_bytes((target / name).read_bytes())
            for name, content in (extra_files or {}).items():
                (staged / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
            (staged / HEADER_FILE).write_text(json.dumps(self.header(), indent=2) + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path, encoder: Encoder | None = None, *,
             ef_search: int | None = None, nprobe: int | None = None) -> ExampleIndex:
        """Read a saved index; the encoder named in its header loads lazily on the first text search."""
        folder = Path(directory)
        header = read_header(folder)
        try:
            index = faiss.read_index(str(folder / VECTORS_FILE))
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
            raise ValueError(f"{folder / VECTORS_FILE} cannot be read (truncated or corrupt?): {first}. "
                             "Rebuild it with: python -m agent index") from None
        examples = _read_examples(folder / EXAMPLES_FILE)
        if index.ntotal != len(examples) or header.get("count") != len(examples) or index.d != header.get("dim"):
            raise ValueError(
                f"{folder}: the index is incomplete ({index.ntotal} vectors of dim {index.d}, {len(examples)} "
                f"examples, header says {header.get('count')} of dim {header.get('dim')}); rebuild it"
            )
        kind = index_kind(index)
        config = IndexConfig(flat_limit=header.get("flat_limit", 50_000),
                             large_index=header.get("large_index", "hnsw" if kind == "hnsw" else "ivf"),
                             nprobe=nprobe or header.get("nprobe", 16), hnsw_m=header.get("hnsw_m", 32),
                             ef_construction=header.get("ef_construction", 80),
                             ef_search=ef_search or header.get("ef_search", 64))
        return cls(index, examples, encoder_name=header["encoder"], encoder=encoder, config=config)


def read_header(folder: Path) -> dict[str, Any]:
    if not folder.exists():
        raise FileNotFoundError(f"index directory not found: {folder} (build one with: python -m agent index)")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file; an example index is a directory")
    path = folder / HEADER_FILE
    if not path.is_file():
        raise ValueError(f"{folder} is not an example index (no {HEADER_FILE}); build one with: python -m agent index")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the index may be truncated, rebuild it") from None
    if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path} is not an example index header (format {header.get('format')!r})")
    if header.get("version") != INDEX_VERSION:
        raise ValueError(f"{path}: index format version {header.get('version')} is not supported "
                         f"(this version reads {INDEX_VERSION}); rebuild the index")
    return header


def _read_examples(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise ValueError(f"{path} is missing: the index is incomplete; rebuild it")
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                examples.append({"id": str(record["id"]), "text": str(record["text"]), "label": str(record["label"])})
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{path}: line {number} is not a valid example record; rebuild the index") from None
    return examples


def _examples(texts: Sequence[str], labels: Sequence[str], row_ids: Sequence[Any] | None,
              start: int) -> list[dict[str, str]]:
    if isinstance(texts, str) or isinstance(labels, str):
        raise TypeError("texts and labels must be sequences of strings, not a single string")
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    ids = [str(start + i) for i in range(len(texts))] if row_ids is None else [str(r) for r in row_ids]
    if len(ids) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(ids)} row ids")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = [i for i in ids if i in seen or seen.add(i)]
        raise ValueError(f"row ids must be unique; repeated: {sorted(set(repeated))[:10]}")
    empty = [ids[i] for i, t in enumerate(texts) if not str(t).strip()]
    if empty:
        raise ValueError(f"empty texts at row ids {empty[:10]}")
    return [{"id": i, "text": str(t), "label": str(lab)} for i, t, lab in zip(ids, texts, labels, strict=True)]


def _encode(encoder: Encoder, texts: list[str], progress: bool) -> np.ndarray:
    """Encode with a progress bar when the encoder offers one (the MiniLM encoder does, test fakes need not)."""
    if progress and "progress" in inspect.signature(encoder.encode).parameters:
        return _as_vectors(encoder.encode(texts, normalize=True, progress=True))  # type: ignore[call-arg]
    return _as_vectors(encoder.encode(texts, normalize=True))
