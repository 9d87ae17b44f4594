"""Fakes for the agent and demo tests: a keyword classifier, a hashing encoder, a scripted chat model.

They have the real interfaces (``labels``/``predict_proba``, ``encode``, ``complete_json``), so the agent,
tools and explainer run unchanged and in milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("negative", "neutral", "positive")
FAST_AUGMENTERS = ("char", "keyboard", "contraction")  # no WordNet: unit tests stay fast
POSITIVE = re.compile(r"\b(great|love|loved|helped|better|amazing|works|best|clear)\b", re.IGNORECASE)
NEGATIVE = re.compile(r"\b(awful|worse|worst|nothing|agony|ruined|terrible|pain|nausea)\b", re.IGNORECASE)

TRAIN_ROWS = [
    ("This medicine helped me so much, I feel better", "positive"),
    ("Amazing results, the pain is gone and I love it", "positive"),
    ("Works great for my headaches", "positive"),
    ("Best drug I have taken, skin is clear", "positive"),
    ("It did nothing for me, still in agony", "negative"),
    ("Awful side effects, nausea every day", "negative"),
    ("Ruined my sleep, worst month of my life", "negative"),
    ("I took it for two weeks, no change either way", "neutral"),
    ("Started last month, will see how it goes", "neutral"),
]


class StubClassifier:
    """Keyword scores turned into probabilities: enough signal for labels, attribution and retrieval tests."""

    labels = list(LABELS)

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts: str | list[str]) -> np.ndarray:
        items = [texts] if isinstance(texts, str) else list(texts)
        self.calls += 1
        rows = []
        for text in items:
            pos, neg = len(POSITIVE.findall(text)), len(NEGATIVE.findall(text))
            scores = np.array([1.0 + 2 * neg, 1.0, 1.0 + 2 * pos])
            rows.append(scores / scores.sum())
        return np.array(rows, dtype=np.float32)


class HashEncoder:
    """Bag of hashed words, L2-normalised: similar wording gives similar vectors."""

    dim = 64
    name = "hash-encoder"

    def encode(self, texts: list[str], *, normalize: bool = True) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


class StubLLM:
    """A scripted chat model: the router's question gets ``route`` (a dict, a callable, or an exception);
    the explainer's question gets ``label`` with a one-line explanation."""

    name = "stub-llm"

    def __init__(self, route: Any = None, label: str | None = None) -> None:
        self.route = route
        self.label = label
        self.calls: list[tuple[list[dict[str, str]], dict[str, Any]]] = []

    def complete(self, messages: Any, *, max_tokens: int | None = None) -> str:
        return "stub"

    def complete_json(self, messages: Any, schema: dict[str, Any], *, max_tokens: int | None = None) -> dict[str, Any]:
        self.calls.append((list(messages), schema))
        if "anyOf" in schema:  # the router
            answer = self.route(messages, schema) if callable(self.route) else self.route
            if isinstance(answer, BaseException):
                raise answer
            if answer is None:
                from agent.llm import LLMOutputError

                raise LLMOutputError("stub: no route scripted")
            return answer
        labels = schema["properties"]["label"]["enum"]
        return {"label": self.label or labels[0], "explanation": "the stub model read the post"}

    def router_calls(self) -> list[list[dict[str, str]]]:
        return [messages for messages, schema in self.calls if "anyOf" in schema]


def write_train_file(folder: Path, rows: list[tuple[str, str]] = TRAIN_ROWS, name: str = "train.tsv") -> Path:
    path = folder / name
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def make_workspace(tmp_path: Path, llm: Any = None, *, policy: str | None = None, neighbours: int = 3) -> Any:
    """A Workspace over the fakes, with a small training file in ``tmp_path`` as its data."""
    from agent.retrieval import ExampleIndex
    from agent.settings import load_settings
    from agent.workspace import Workspace, build_parts

    train = write_train_file(tmp_path)
    settings = load_settings(cache_dir=tmp_path / "cache", neighbours=neighbours, policy=policy)
    index = ExampleIndex.build([t for t, _ in TRAIN_ROWS], [lab for _, lab in TRAIN_ROWS], encoder=HashEncoder(),
                               encoder_name="hash-encoder")
    parts = build_parts(settings, llm, classifier=StubClassifier(), index=index, train_file=train, test_file=train)
    workspace = Workspace(parts, settings=settings, llm=llm, cache_dir=tmp_path / "cache", allowed_dirs=(tmp_path,))
    workspace.augmenters = FAST_AUGMENTERS
    return workspace


def route_to(tool: str, **args: Any) -> Callable[..., dict[str, Any]]:
    """A router answer that always picks ``tool`` (arguments as references, like the real grammar)."""
    return lambda messages, schema: {"tool": tool, "args": args}
