"""The agent's working set: a classifier, its example index, the local LLM and the explainer built from them.

On first use the quick ``head`` classifier is trained on the shipped ``data/`` set and the FAISS index built,
both cached (atomically) in ``ALEX_CACHE_DIR`` under a key of the training file's contents, so later starts
load them in seconds. The demo swaps in a newly trained model or new settings at run time; tools always read
the current parts through ``Workspace.parts``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.settings import AlexSettings, load_settings

logger = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_DIR / "data"
DEFAULT_TRAIN = DATA_DIR / "drugsComTrain.tsv"
DEFAULT_TEST = DATA_DIR / "drugsComTest.tsv"
CACHE_FORMAT = 1
EXPLANATION_CACHE = 64
DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt", ".tab")

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    logger.info("%3.0f%% %s", 100 * fraction, message)


def cache_root(settings: AlexSettings | None = None) -> Path:
    """``ALEX_CACHE_DIR``, else ``$XDG_CACHE_HOME/alex-health``, else ``~/.cache/alex-health``."""
    if settings is not None and settings.cache_dir is not None:
        return Path(settings.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alex-health"


def data_key(path: Path, method: str) -> str:
    """Cache key of a model trained on ``path``: its bytes, the method, and this cache format."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{method}:".encode())
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def cache_lock(folder: Path) -> Iterator[None]:
    """One process trains a cache entry at a time; the others wait and then load it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Artifacts:
    """Where a trained classifier and its example index live."""

    model_dir: Path
    index_dir: Path
    train_file: Path
    test_file: Path | None


def load_labelled(path: Path, labels: Any = None) -> Any:
    """A validated table (invalid rows and duplicates dropped with warnings): training and evaluation input."""
    from classifiers.data import load_table, validate

    return validate(load_table(path), labels=labels, drop_invalid=True)


def train_artifacts(train_file: Path, test_file: Path | None, target: Artifacts, *, method: str = "head",
                    progress: Progress = _quiet, seed: int = 13) -> Artifacts:
    """Train a classifier and build its example index from one labelled file; both written atomically."""
    progress(0.02, f"reading {train_file.name}")
    train = load_labelled(train_file)
    test = load_labelled(test_file) if test_file is not None else None
    train_tables(train, test, target, method=method, progress=progress, seed=seed)
    return target


def train_tables(train: Any, test: Any | None, target: Artifacts, *, method: str = "head",
                 progress: Progress = _quiet, seed: int = 13) -> Any:
    """Fit on a loaded table, evaluate on another (if given), save model and index; returns the classifier."""
    from agent.retrieval import ExampleIndex
    from classifiers import TextClassifier

    texts, labels = train.texts, train.labels
    progress(0.05, f"training the {method} classifier on {len(texts)} posts (about a minute on 2 CPUs)")
    classifier = TextClassifier(method=method, seed=seed).fit(texts, labels)
    if test is not None:
        progress(0.70, f"evaluating on {len(test)} held-out posts")
        unknown = sorted(set(test.labels) - set(classifier.labels))
        if unknown:
            raise ValueError(f"the test file has labels {unknown} that the training file lacks "
                             f"({classifier.labels})")
        classifier.metrics = {"test": classifier.evaluate(test.texts, test.labels)}
    classifier.save_pretrained(target.model_dir)
    progress(0.80, f"building the example index of {len(texts)} posts")
    row_ids = [str(int(i) + 1) for i in train.frame.index]
    ExampleIndex.build(texts, labels, row_ids=row_ids).save(target.index_dir)
    progress(1.0, "model and index ready")
    return classifier


def cache_entry(train_file: Path, test_file: Path | None, cache_dir: Path, method: str = "head") -> Artifacts:
    """Where the model and index trained on ``train_file`` are (or will be) cached."""
    key = data_key(train_file, method)
    return Artifacts(cache_dir / "models" / f"{method}-{key}", cache_dir / "indexes" / key, train_file, test_file)


def is_cached(target: Artifacts) -> bool:
    return (target.model_dir / "classifier_config.json").is_file() and (target.index_dir / "index.json").is_file()


def ensure_artifacts(train_file: Path = DEFAULT_TRAIN, test_file: Path | None = DEFAULT_TEST, *,
                     cache_dir: Path, method: str = "head", progress: Progress = _quiet) -> Artifacts:
    """The cached model and index for ``train_file``, trained first if missing (one process at a time)."""
    train_file = Path(train_file)
    if not train_file.is_file():
        raise FileNotFoundError(f"training data not found: {train_file}")
    target = cache_entry(train_file, test_file, cache_dir, method)
    with cache_lock(cache_dir):
        if is_cached(target):
            progress(1.0, f"loaded the cached model {target.model_dir.name}")
            return target
        logger.info("no cached model for %s: training one into %s", train_file, cache_dir)
        return train_artifacts(train_file, test_file, target, method=method, progress=progress)


@dataclass(frozen=True)
class Parts:
    """One consistent snapshot of what the tools use (swapped as a whole, never piecemeal)."""

    classifier: Any
    index: Any
    explainer: Any
    model_dir: Path | None
    index_dir: Path | None
    train_file: Path | None
    test_file: Path | None


class Workspace:
    """The current classifier, index, LLM and explainer, plus settings and the folders the tools may read."""

    def __init__(self, parts: Parts, *, settings: AlexSettings, llm: Any | None, cache_dir: Path,
                 allowed_dirs: tuple[Path, ...] = (), router_llm: Any | None = None) -> None:
        self._parts = parts
        self.settings = settings
        self.llm = llm
        self.router_llm = router_llm if router_llm is not None else llm
        self.cache_dir = cache_dir
        self.allowed_dirs = tuple(Path(d).resolve() for d in (*allowed_dirs, DATA_DIR, cache_dir))
        self.augmenters: tuple[str, ...] | None = None  # None: augment's defaults (typos, synonyms, contractions)
        self._augmenter: Any = None
        self._lock = threading.Lock()
        self._explanations: OrderedDict[str, Any] = OrderedDict()

    # -- building -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: AlexSettings | None = None, *, llm: Any | None = None, classifier: Any | None = None,
             index: Any | None = None, use_llm: bool = True, progress: Progress = _quiet,
             train_file: Path = DEFAULT_TRAIN, test_file: Path | None = DEFAULT_TEST) -> Workspace:
        """The default working set: given parts are used as is, missing ones come from the cache (trained once)."""
        settings = settings or load_settings()
        cache_dir = cache_root(settings)
        artifacts = None
        if classifier is None or index is None:
            artifacts = ensure_artifacts(train_file, test_file, cache_dir=cache_dir, progress=progress)
        router_llm = llm
        if llm is None and use_llm:
            llm, router_llm = local_llms(settings)
        parts = build_parts(settings, llm, classifier=classifier, index=index,
                            model_dir=artifacts.model_dir if artifacts else None,
                            index_dir=artifacts.index_dir if artifacts else None,
                            train_file=train_file, test_file=test_file)
        return cls(parts, settings=settings, llm=llm, cache_dir=cache_dir, allowed_dirs=(Path.cwd(),),
                   router_llm=router_llm)

    @property
    def parts(self) -> Parts:
        with self._lock:
            return self._parts

    def use_model(self, model_dir: Path, index_dir: Path, *, train_file: Path | None,
                  test_file: Path | None = None) -> Parts:
        """Make a newly trained classifier (and the index of its training data) the one the chat uses."""
        parts = build_parts(self.settings, self.llm, model_dir=model_dir, index_dir=index_dir,
                            train_file=train_file, test_file=test_file)
        self._swap(parts)
        return parts

    def configure(self, *, gguf: str | Path | None = None, policy: str | None = None,
                  neighbours: int | None = None) -> AlexSettings:
        """New LLM file, decision policy or neighbour count; the explainer is rebuilt around the same model."""
        changes: dict[str, Any] = {}
        if gguf is not None:
            changes["gguf"] = None if str(gguf).strip() in {"", "embedded"} else Path(str(gguf).strip())
        if policy is not None:
            changes["policy"] = policy
        if neighbours is not None:
            changes["neighbours"] = int(neighbours)
        settings = load_settings(**{**self.settings.model_dump(), **changes})
        llm, router_llm = self.llm, self.router_llm
        if "gguf" in changes and self.llm is not None:
            llm, router_llm = local_llms(settings)
        current = self.parts
        parts = build_parts(settings, llm, classifier=current.classifier, index=current.index,
                            model_dir=current.model_dir, index_dir=current.index_dir,
                            train_file=current.train_file, test_file=current.test_file)
        with self._lock:
            self.settings, self.llm, self.router_llm = settings, llm, router_llm
        self._swap(parts)
        return settings

    def _swap(self, parts: Parts) -> None:
        with self._lock:
            self._parts = parts
            self._explanations.clear()

    # -- services -------------------------------------------------------------------------------------------
    def explain(self, text: str) -> Any:
        """The explainer's answer for a post, remembered for follow-ups ("why?", "what would change your mind?")."""
        parts = self.parts
        key = hashlib.sha256(f"{id(parts.explainer)}:{text}".encode()).hexdigest()
        with self._lock:
            if key in self._explanations:
                self._explanations.move_to_end(key)
                return self._explanations[key]
        result = parts.explainer.explain(text)
        with self._lock:
            self._explanations[key] = result
            while len(self._explanations) > EXPLANATION_CACHE:
                self._explanations.popitem(last=False)
        return result

    def augmenter(self) -> Any:
        """One augmenter per workspace: WordNet loads once, on the first augmentation."""
        from augment.pipeline import DEFAULT_AUGMENTERS, Augmenter

        with self._lock:
            if self._augmenter is None:
                self._augmenter = Augmenter(augmenters=self.augmenters or DEFAULT_AUGMENTERS)
            return self._augmenter

    def resolve_path(self, path: str | Path | None, *, default: Path | None) -> Path:
        """A data file the chat may read: inside the data, cache or working folders, with a data suffix."""
        if path is None or not str(path).strip():
            if default is None:
                raise ValueError("no file was given and there is no default data file")
            return default
        candidate = Path(str(path).strip()).expanduser()
        if not candidate.is_absolute():
            local = (Path.cwd() / candidate).resolve()
            candidate = local if local.exists() else (REPO_DIR / candidate).resolve()
        candidate = candidate.resolve()
        if candidate.suffix.lower() not in DATA_SUFFIXES:
            raise ValueError(f"{path}: expected a CSV, TSV or JSONL data file")
        if not any(candidate.is_relative_to(root) for root in self.allowed_dirs):
            raise ValueError(f"{path}: the assistant only reads data files inside the project's data, working or "
                             "cache folders")
        if not candidate.is_file():
            raise FileNotFoundError(f"data file not found: {path}")
        return candidate

    def describe(self) -> dict[str, Any]:
        parts = self.parts
        return {"classifier": _model_name(parts), "labels": list(parts.explainer.labels),
                "index_size": len(parts.index) if parts.index is not None else 0,
                "llm": getattr(self.llm, "name", "none"), "policy": parts.explainer.policy.name,
                "neighbours": parts.explainer.config.k, "train_file": str(parts.train_file or ""),
                "test_metrics": (getattr(parts.classifier, "metrics", {}) or {}).get("test")}


ROUTER_MAX_TOKENS = 64
ROUTER_CONTEXT = 1024
# One thread unless ALEX_N_THREADS says otherwise: a short call gains little from more, and llama.cpp's spinning
# threads slow it down 10-20x when the CPUs are shared (measured on 2 busy cores: 1.2 s with 1 thread, 28 s with 2).
ROUTER_THREADS = 1


def local_llms(settings: AlexSettings) -> tuple[Any, Any]:
    """The explainer's LLM and a second llama.cpp context on the same GGUF for the router.

    Each context keeps its own prompt prefix in the KV cache, so the router's fixed system prompt is not
    re-read every turn after the explainer's prompt evicted it (routing takes about half the time). The
    weights are memory-mapped once; the router's context is small and single-threaded by default.
    """
    from dataclasses import replace

    from agent.llm import LLMConfig, LocalLLM, get_llm

    config = LLMConfig.from_settings(settings)
    router = LocalLLM(replace(config, max_tokens=ROUTER_MAX_TOKENS, n_ctx=min(config.n_ctx, ROUTER_CONTEXT),
                              n_threads=config.n_threads or ROUTER_THREADS))
    return get_llm(config), router


def _model_name(parts: Parts) -> str:
    method = getattr(getattr(parts.classifier, "config", None), "method", None)
    name = parts.model_dir.name if parts.model_dir else type(parts.classifier).__name__
    return f"{name} ({method})" if method else name


def build_parts(settings: AlexSettings, llm: Any | None, *, classifier: Any | None = None, index: Any | None = None,
                model_dir: Path | None = None, index_dir: Path | None = None, train_file: Path | None = None,
                test_file: Path | None = None) -> Parts:
    """Load what is missing and wire the explainer (task and policy found beside the index or model)."""
    from agent.explainer import ExplainerConfig
    from agent.loading import build_explainer

    start = time.perf_counter()
    explainer = build_explainer(model_dir, index_dir, settings=settings, use_llm=llm is not None, llm=llm,
                                classifier=classifier, index=index,
                                config=ExplainerConfig(k=settings.neighbours))
    logger.info("explainer ready in %.1f s (policy %s)", time.perf_counter() - start, explainer.policy.name)
    return Parts(classifier=explainer.classifier, index=explainer.index, explainer=explainer, model_dir=model_dir,
                 index_dir=index_dir, train_file=train_file, test_file=test_file)
