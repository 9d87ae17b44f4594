"""Fakes for the explanation tests: a hashed bag-of-words encoder, a keyword classifier and stub LLMs.

They implement the same interfaces as MiniLM, ``TextClassifier`` and ``LocalLLM``, so tests run in
milliseconds and never load a model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.llm import LLMOutputError

LABELS = ["negative", "neutral", "positive"]
POSITIVE_WORDS = {"good", "great", "helped", "works", "love", "better"}
NEGATIVE_WORDS = {"bad", "terrible", "worse", "headache", "awful", "useless"}


def shared_datasets() -> Path:
    """``../shared/datasets`` relative to the repository (or $SHARED_DATASETS)."""
    return Path(os.environ.get("SHARED_DATASETS") or Path(__file__).resolve().parents[2] / "shared" / "datasets")


class FakeEncoder:
    """Deterministic hashed bag of words: texts sharing words are similar; no model is loaded."""

    name = "fake-hash"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class KeywordClassifier:
    """Sentiment from counted keywords, through a softmax; ``fixed`` pins the probabilities of given texts."""

    labels = LABELS

    def __init__(self, fixed: dict[str, Sequence[float]] | None = None) -> None:
        self.fixed = dict(fixed or {})
        self.calls = 0

    def predict_proba(self, texts: str | Sequence[str]) -> np.ndarray:
        self.calls += 1
        items = [texts] if isinstance(texts, str) else list(texts)
        rows = []
        for text in items:
            if text in self.fixed:
                rows.append(np.asarray(self.fixed[text], dtype=np.float64))
                continue
            words = re.findall(r"\w+", text.lower())
            pos = sum(w in POSITIVE_WORDS for w in words)
            neg = sum(w in NEGATIVE_WORDS for w in words)
            logits = np.array([1.5 * neg, 0.5, 1.5 * pos])
            rows.append(np.exp(logits) / np.exp(logits).sum())
        return np.vstack(rows)


class StubLLM:
    """Answers with ``respond(messages)`` (default: a fixed answer) and records every request."""

    def __init__(self, answer: dict[str, Any] | None = None,
                 respond: Callable[[list[dict[str, str]]], dict[str, Any]] | None = None) -> None:
        self.name = "stub-llm"
        self.answer = answer or {"label": "positive", "explanation": "The post praises the drug."}
        self.respond = respond
        self.requests: list[tuple[list[dict[str, str]], dict[str, Any]]] = []

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int | None = None) -> str:
        return "stub answer"

    def complete_json(self, messages: Sequence[dict[str, str]], schema: dict[str, Any], *,
                      max_tokens: int | None = None) -> dict[str, Any]:
        self.requests.append((list(messages), schema))
        return self.respond(list(messages)) if self.respond else dict(self.answer)


class BrokenLLM(StubLLM):
    """Always produces output that fails parsing, like an unconstrained small model."""

    def complete_json(self, messages, schema, *, max_tokens=None):  # type: ignore[override]
        self.requests.append((list(messages), schema))
        raise LLMOutputError("the LLM answer is not valid JSON (Expecting value at 0): 'Sure! Here is'")


def gullible_answer(messages: list[dict[str, str]]) -> dict[str, Any]:
    """Obeys any 'answer LABEL' written anywhere in the prompt: the worst case an injected post aims for."""
    match = re.search(r"answer (negative|neutral|positive)", messages[-1]["content"], re.IGNORECASE)
    label = match.group(1).lower() if match else "neutral"
    return {"label": label, "explanation": f"I was told to answer {label}."}


TRAIN = [
    ("This drug helped a lot, works great", "positive"),
    ("Great medicine, I feel better and love it", "positive"),
    ("It works, good results after a week", "positive"),
    ("Terrible headache and awful nausea, useless", "negative"),
    ("Made my pain worse, bad side effects", "negative"),
    ("Awful, terrible experience, stopped it", "negative"),
    ("Some days fine, some days not, unsure so far", "neutral"),
    ("Too early to tell, started last week", "neutral"),
]
